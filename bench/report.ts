import type { ColdStart } from "./cold-start.js";
import type { LoadResult } from "./load.js";
import type { ManyTenantsResult } from "./many-tenants.js";
import type { PerCallResult } from "./process-per-call.js";
import type { SandboxCallsResult } from "./sandbox-calls.js";

/** The 3-plugin chain on hosts whose config sets `lanes` to 0 (in-process), 1 and 2. */
export interface LaneLoads {
  zero: LoadResult;
  one: LoadResult;
  two: LoadResult;
}

/** One interleaved round; `lanes` when the host has the setting. */
export interface Round {
  a: LoadResult;
  b: LoadResult;
  c: LoadResult;
  /** (c) with the load from one tenant: its three isolates stay warm, where eight tenants' take turns */
  c1: LoadResult;
  lanes?: LaneLoads;
}

export interface Results {
  machine: { cpus: number; cpu: string; node: string; loadAverage: { before: number; after: number } };
  settings: Record<string, unknown> & { rounds: number; perCallConcurrency: number };
  /** every round, in order */
  rounds: Round[];
  /** a, b, c and each lane count: the median round */
  load: { a: LoadResult; a14: LoadResult; b: LoadResult; b14: LoadResult; c: LoadResult; c1: LoadResult; fixedBursts: LoadResult; fixedPaced: LoadResult; echoPaced: LoadResult; lanes?: LaneLoads };
  /**
   * throughput ratios; those of (a), (b), (c) are the median of the per-round ratios, and so are
   * the µs per plugin run, (1/c − 1/a)/3, and (c) over the host with `lanes: 0`
   */
  ratios: { cOverA: number; c1OverA: number; bOverA: number; cOverB: number; b14OverA14: number; cOverD: number; perPluginRunUs: number; cOverLanes0?: number };
  processPerCall: PerCallResult;
  /** (s): the sandbox layer alone, per call mode (the median round) */
  sandboxCalls: SandboxCallsResult[];
  coldStarts: ColdStart[];
  manyTenants: ManyTenantsResult;
  /** largest RSS sample over each load-tested host's whole life (its lanes not included) */
  hostRssMaxMb: Record<string, number> & { noPlugin: number; chain: number };
  /** plugin runs in the (c) host whose outcome was neither ok nor skip (from /metrics) */
  failedPluginRuns: number;
  hostLogProblems: Record<string, string[]>;
  targets: Target[];
}

export interface Target {
  name: string;
  value: string;
  pass: boolean;
}

const RSS_LIMIT_MB = 300;

export function targets(r: Results): Target[] {
  const loadRss = Math.max(r.hostRssMaxMb.noPlugin, r.hostRssMaxMb.chain);
  const loadRuns = [
    ...r.rounds.flatMap((x) => [x.a, x.b, x.c, ...(x.lanes ? [x.lanes.zero, x.lanes.one, x.lanes.two] : [])]),
    r.load.a14,
    r.load.b14,
    r.load.fixedBursts,
    r.load.fixedPaced,
    r.load.echoPaced,
  ];
  const failed = loadRuns.reduce((s, l) => s + l.failed, 0) + r.processPerCall.failed + r.manyTenants.failed + r.failedPluginRuns;
  return [
    { name: "(c) ≥ 70 % of (a)'s req/s", value: pct(r.ratios.cOverA), pass: r.ratios.cOverA >= 0.7 },
    { name: "p99 < 3 ms at the fixed rate (evenly paced)", value: `${ms(r.load.fixedPaced.p99Ms)} ms`, pass: r.load.fixedPaced.p99Ms < 3 },
    { name: "(c)/(d) > 300×", value: `${Math.round(r.ratios.cOverD)}×`, pass: r.ratios.cOverD > 300 },
    { name: `host RSS < ${RSS_LIMIT_MB} MB throughout the load runs`, value: `${Math.round(loadRss)} MB`, pass: loadRss < RSS_LIMIT_MB },
    { name: "zero failed requests", value: String(failed), pass: failed === 0 },
    { name: "issue 12: (c) ≥ 45 % of (a)'s req/s", value: pct(r.ratios.cOverA), pass: r.ratios.cOverA >= 0.45 },
    { name: "issue 12: ≤ 60 µs per plugin run above a bare request, (1/c − 1/a)/3", value: `${Math.round(r.ratios.perPluginRunUs)} µs`, pass: r.ratios.perPluginRunUs <= 60 },
    r.ratios.cOverLanes0 === undefined
      ? { name: "issue 12: lanes ≥ 1.4× lanes: 0", value: "not measured: this host has no `lanes` setting", pass: false }
      : { name: "issue 12: lanes ≥ 1.4× lanes: 0", value: `${r.ratios.cOverLanes0.toFixed(2)}×`, pass: r.ratios.cOverLanes0 >= 1.4 },
  ];
}

export function printReport(r: Results): void {
  const { a, a14, b, b14, c, c1, fixedBursts, fixedPaced, echoPaced } = r.load;
  const d = r.processPerCall;
  const m = r.manyTenants;
  const phone = "process_client_phone";
  const rows: string[][] = [
    ["scenario", "req/s", "p50 ms", "p99 ms", "max RSS MB", "errors", "server CPU µs/req"],
    loadRow(`(a) Koa echo, ${phone}`, a),
    loadRow(`(b) hookhost, no plugin, ${phone}`, b),
    loadRow("(c) hookhost, 3-plugin chain", c),
    loadRow("(c) with the load from one tenant", c1),
    ...(r.load.lanes
      ? [loadRow("(c) with lanes: 0 (in-process)", r.load.lanes.zero), loadRow("(c) with lanes: 1", r.load.lanes.one), loadRow("(c) with lanes: 2", r.load.lanes.two)]
      : []),
    loadRow(`(c) at ${Math.round(fixedPaced.reqPerSec)} req/s, evenly paced`, fixedPaced),
    loadRow(`(c) at ${Math.round(fixedBursts.reqPerSec)} req/s, autocannon overallRate`, fixedBursts),
    loadRow(`(a) at ${Math.round(echoPaced.reqPerSec)} req/s, evenly paced`, echoPaced),
    [`(d) a node process per call, ${r.settings.perCallConcurrency} at once`, d.callsPerSec.toFixed(1), ms(d.p50Ms), ms(d.p99Ms), "n/a", String(d.failed), "n/a"],
    loadRow("(a14) Koa echo, 14 hooks' fixtures", a14),
    loadRow("(b14) hookhost, no plugin, 14 hooks' fixtures", b14),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  const load = r.machine.loadAverage;
  const out = [
    `${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node}; 1-min load average ${load.before.toFixed(1)} before, ${load.after.toFixed(1)} after${load.before > r.machine.cpus ? " (busy machine: read ratios, not absolutes)" : ""}`,
    `(a), (b), (c): median of ${r.settings.rounds} interleaved rounds; per round: ${perRound(r.rounds)}`,
    "",
    line(rows[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
    "",
    `ratios: (c)/(a) ${pct(r.ratios.cOverA)} (rounds ${r.rounds.map((x) => pct(x.c.reqPerSec / x.a.reqPerSec)).join(", ")}) · (b)/(a) ${pct(r.ratios.bOverA)} · (c)/(b) ${pct(r.ratios.cOverB)} · (b14)/(a14) ${pct(r.ratios.b14OverA14)} · (c)/(d) ${Math.round(r.ratios.cOverD)}×`,
    `one tenant instead of eight: (c)/(a) ${pct(r.ratios.c1OverA)} (rounds ${r.rounds.map((x) => pct(x.c1.reqPerSec / x.a.reqPerSec)).join(", ")}), per plugin run ${Math.round(((1 / c1.reqPerSec - 1 / a.reqPerSec) / 3) * 1e6)} µs: a tenant's isolates stay warm when no other tenant's run between its runs`,
    `per plugin run above a bare request, (1/c − 1/a)/3: ${Math.round(r.ratios.perPluginRunUs)} µs (rounds ${r.rounds.map((x) => Math.round(((1 / x.c.reqPerSec - 1 / x.a.reqPerSec) / 3) * 1e6)).join(", ")})`,
    r.load.lanes && r.ratios.cOverLanes0 !== undefined
      ? `lanes: (c)/(lanes: 0) ${r.ratios.cOverLanes0.toFixed(2)}× (rounds ${r.rounds.map((x) => (x.c.reqPerSec / x.lanes!.zero.reqPerSec).toFixed(2)).join(", ")}); 1 lane ${Math.round(r.load.lanes.one.reqPerSec)} req/s, 2 lanes ${Math.round(r.load.lanes.two.reqPerSec)} req/s (${(r.load.lanes.two.reqPerSec / r.load.lanes.one.reqPerSec).toFixed(2)}×)`
      : "lanes: not measured (this host's config has no `lanes` setting)",
    `(s) the sandbox layer alone, CPU per plugin run above an empty chain: ${r.sandboxCalls.map((x) => `${x.mode} ${x.cpuUsPerPluginRun.toFixed(1)} µs`).join(", ")} (${r.sandboxCalls[0]?.chains} chains each, median of ${r.settings.rounds} rounds)`,
    "fixed rate: autocannon's overallRate is a per-second quota that each connection fires back to back, so its latencies are those of saturation; the evenly paced run is the one judged",
    `host RSS, largest sample over the host's life: ${Object.entries(r.hostRssMaxMb).map(([k, v]) => `${k} ${Math.round(v)} MB`).join(", ")}`,
    `cold start of a new plugin (copy → first answer with it in x-hook-trace): ${r.coldStarts.map((s) => `${Math.round(s.ms)} ms (its first run ${s.firstRunMs} ms)`).join(", ")}`,
    `${m.tenants} tenants × 1 plugin, each called once: RSS ${Math.round(m.idleRssMb)} MB idle → ${Math.round(m.rssMb)} MB (max ${Math.round(m.maxRssMb)} MB), ≈ ${m.perSandboxMb.toFixed(2)} MB per sandbox; hookhost_sandboxes_alive ${m.sandboxesAlive}; a tenant's first call p50 ${ms(m.firstCallP50Ms)} ms, p99 ${ms(m.firstCallP99Ms)} ms`,
    `plugin runs neither ok nor skip in (c): ${r.failedPluginRuns}; host log lines at warn/error: ${Object.entries(r.hostLogProblems).map(([k, v]) => `${k} ${v.length}`).join(", ")}`,
    ...Object.entries(r.hostLogProblems).flatMap(([k, lines]) => (lines.length ? [`  ${k}, most frequent: ${mostFrequent(lines)}`] : [])),
    "",
    ...r.targets.map((t) => `${t.pass ? "PASS" : "MISS"}  ${t.name}: ${t.value}`),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

/** The message that comes back most often among JSON log lines, and how often. */
function mostFrequent(lines: string[]): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const message = /"message":"((?:[^"\\]|\\.){0,200})/.exec(line)?.[1] ?? line.slice(0, 200);
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  const [message, n] = [...counts].sort((x, y) => y[1] - x[1])[0];
  return `${n} × "${message}"`;
}

function perRound(rounds: Round[]): string {
  const figures = (pick: (x: Round) => LoadResult | undefined) => rounds.map((x) => Math.round(pick(x)?.reqPerSec ?? NaN)).join(", ");
  const parts = [`(a) ${figures((x) => x.a)}`, `(c) ${figures((x) => x.c)}`];
  if (rounds.every((x) => x.lanes)) parts.push(`lanes 0: ${figures((x) => x.lanes?.zero)}`, `1: ${figures((x) => x.lanes?.one)}`, `2: ${figures((x) => x.lanes?.two)}`);
  return `${parts.join(" · ")} req/s`;
}

function loadRow(name: string, l: LoadResult): string[] {
  return [name, l.reqPerSec.toFixed(0), ms(l.p50Ms), ms(l.p99Ms), l.maxRssMb.toFixed(0), String(l.failed), l.serverCpuUsPerReq.toFixed(0)];
}

const ms = (n: number) => n.toFixed(2);
const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
