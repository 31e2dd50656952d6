// `npm run bench`: the host against a bare Koa echo server and against one process per call.
// Every server runs in a child process of its own (its RSS and CPU measured alone); the load
// generator runs here. The echo server and both hosts stay up side by side and are loaded in
// turn for several rounds, so background load on a shared machine hits them alike; each figure
// is the median round. Prints a table and the targets; writes bench/results.json.
//
// The customization is bench/plugins: three folders that all implement process_client_phone
// (normalize +7/8 → a gate on test trunks and blocked numbers → an alias map), so every request
// to (c) runs a chain of three sandboxes. (a), (b), (c) and the fixed-rate runs rotate the same
// eight variants of the process_client_phone fixture (phone formats, stages, a test trunk);
// (a14) and (b14) rotate all fourteen hooks' fixtures. (d) runs bench/customizer.mjs, the same
// three plugin files chained in one fresh `node` process per call.
//
// Issue 12 (lanes): when the host config has a `lanes` setting, three more hosts serve the chain
// with `lanes` 0 (in-process), 1 and 2 in their config file, loaded in the same rounds; (c) keeps
// the host's default. The load comes from eight tenants in turn, which the lanes' hash spreads
// evenly over 2, 4 or 8 lanes: one tenant's calls all go to one lane, so with one tenant a second
// lane would have nothing to do. (c) is loaded from one tenant as well: eight tenants' isolates
// take turns on a lane's thread, and a run costs more when the last one ran another tenant's.
// (s) measures the sandbox layer alone, in this process, in each call mode.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { hostConfigSchema } from "../core/config.js";
import { startEchoProcess, startHostProcess, type Child } from "./children.js";
import { metricSum, postHook } from "./client.js";
import { measureColdStart, type ColdStart } from "./cold-start.js";
import { measureLoad, type LoadOptions, type LoadResult } from "./load.js";
import { measureManyTenants } from "./many-tenants.js";
import { customizeOnce, measureProcessPerCall } from "./process-per-call.js";
import { sampleRss } from "./process-stats.js";
import { BENCH } from "./paths.js";
import { printReport, targets, type LaneLoads, type Results, type Round } from "./report.js";
import { CALL_MODES, measureSandboxCalls, type SandboxCallsResult } from "./sandbox-calls.js";
import { allHookRequests, clientPhoneRequests, fromTenants, hookPath, type HookRequest } from "./requests.js";

const settings = {
  rounds: positive("BENCH_ROUNDS", 3),
  seconds: positive("BENCH_SECONDS", 8),
  warmupSeconds: positive("BENCH_WARMUP_SECONDS", 2),
  connections: 10,
  perCallSeconds: 5,
  // one process per core: more only queue for the CPU (measured: 2 at once beat 4 and 8 on 2 cores)
  perCallConcurrency: availableParallelism(),
  coldStarts: 3,
  tenants: 1000,
  sandboxChains: 3000,
  // The host logs one line per request at `info`, as `npm start` does; its log goes to a file.
  logLevel: process.env.BENCH_LOG_LEVEL ?? "info",
  // Extra node flags for the host processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  hostNodeArgs: (process.env.BENCH_HOST_ARGS ?? "").split(" ").filter(Boolean),
};
/** BENCH_LANE_CALLS=async or sync measures every host with lanes in that call mode. */
const laneCalls = process.env.BENCH_LANE_CALLS;
const PLUGINS = join(BENCH, "plugins");
const work = mkdtempSync(join(tmpdir(), "hookhost-bench-"));
const CALLERS = Array.from({ length: 8 }, (_, i) => `tenant-${i}`);
const phone = fromTenants(clientPhoneRequests(), CALLERS);
const oneTenant = fromTenants(clientPhoneRequests(), CALLERS.slice(0, 1));
const everyHook = allHookRequests();
const log = (line: string) => process.stderr.write(`${line}\n`);
const running: { stop(): Promise<unknown> }[] = [];
// Lane processes (issue 12) exist once the host config knows the key.
const lanesSupported = "lanes" in hostConfigSchema.shape;
const LANE_COUNTS = { zero: 0, one: 1, two: 2 };

try {
  const results = await runAll();
  printReport(results);
  writeFileSync(join(BENCH, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  rmSync(work, { recursive: true, force: true });
  log("results written to bench/results.json");
} catch (e) {
  await Promise.allSettled(running.map((c) => c.stop()));
  log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nlogs kept in ${work}`);
  process.exitCode = 1;
}

async function runAll(): Promise<Results> {
  const loadBefore = loadavg()[0];
  log(`bench: ${settings.rounds} rounds of ${settings.warmupSeconds} s warm-up + ${settings.seconds} s, ${settings.connections} connections; 1-min load average ${loadBefore.toFixed(1)} on ${cpus().length} CPUs`);
  const expected = await expectedAnswers(phone);

  const echo = await server(startEchoProcess(join(work, "echo.log")));
  const emptyDir = join(work, "plugins-empty");
  mkdirSync(emptyDir);
  const bare = await server(startHost(emptyDir, "host-no-plugin.log"));
  const chainDir = join(work, "plugins-chain");
  cpSync(PLUGINS, chainDir, { recursive: true });
  const chain = await server(startHost(chainDir, "host-chain.log"));
  await checkAnswers(bare.child, phone, (r) => JSON.stringify({ state: "success", data: { phone: JSON.parse(r.body).phone } }), 0);
  await checkAnswers(chain.child, phone, (_r, i) => expected[i], 3);
  const laneHost = (lanes: number) => server(startHost(chainDir, `host-lanes-${lanes}.log`, { lanes }));
  const laneHosts = lanesSupported ? { zero: await laneHost(LANE_COUNTS.zero), one: await laneHost(LANE_COUNTS.one), two: await laneHost(LANE_COUNTS.two) } : undefined;
  for (const host of Object.values(laneHosts ?? {})) await checkAnswers(host.child, phone, (_r, i) => expected[i], 3);

  const rounds: Round[] = [];
  for (let i = 1; i <= settings.rounds; i++) {
    log(`round ${i}/${settings.rounds}: (a) Koa echo, (b) hookhost without plugins, (c) hookhost with the 3-plugin chain, from eight tenants and from one${laneHosts ? ", (c) with lanes 0, 1 and 2" : ""}`);
    const round: Round = { a: await load(echo.child, phone), b: await load(bare.child, phone), c: await load(chain.child, phone), c1: await load(chain.child, oneTenant) };
    if (laneHosts) round.lanes = { zero: await load(laneHosts.zero.child, phone), one: await load(laneHosts.one.child, phone), two: await load(laneHosts.two.child, phone) };
    rounds.push(round);
  }
  log("every hook's fixture: (a14) Koa echo, (b14) hookhost without plugins");
  const a14 = await load(echo.child, everyHook);
  const b14 = await load(bare.child, everyHook);
  const c = median(rounds.map((r) => r.c));
  const rate = Math.round(c.reqPerSec / 2);
  log(`fixed ${rate} req/s: (c) with autocannon overallRate, (c) evenly paced, (a) evenly paced (this machine's floor)`);
  const fixedBursts = await load(chain.child, phone, { kind: "bursts", perSecond: rate });
  const fixedPaced = await load(chain.child, phone, { kind: "paced", perSecond: rate });
  const echoPaced = await load(echo.child, phone, { kind: "paced", perSecond: rate });
  log(`cold start of a plugin folder copied in, ${settings.coldStarts} times`);
  const coldStarts: ColdStart[] = [];
  for (let i = 1; i <= settings.coldStarts; i++) coldStarts.push(await measureColdStart(chain.child.url, chainDir, join(PLUGINS, "phone-alias-map"), `cold-${i}`, phone[0]));
  const metrics = await fetch(`${chain.child.url}/metrics`).then((r) => r.text());
  const failedPluginRuns = metricSum(metrics, "hookhost_plugin_runs_total", (l) => !/outcome="(ok|skip)"/.test(l));
  const hostRssMaxMb: Results["hostRssMaxMb"] = { noPlugin: await bare.stop(), chain: await chain.stop() };
  if (laneHosts) for (const [name, host] of Object.entries(laneHosts)) hostRssMaxMb[`lanes-${name}`] = await host.stop();
  await echo.stop();

  log(`(s) the sandbox layer alone, ${settings.sandboxChains} chains per mode, ${settings.rounds} interleaved rounds`);
  const sandboxRounds: SandboxCallsResult[][] = [];
  for (let i = 0; i < settings.rounds; i++) {
    const round: SandboxCallsResult[] = [];
    for (const mode of CALL_MODES) round.push(await measureSandboxCalls(mode, phone, settings.sandboxChains));
    sandboxRounds.push(round);
  }

  log(`(d) one process per call, ${settings.perCallConcurrency} at a time, ${settings.perCallSeconds} s`);
  const d = await measureProcessPerCall(phone, expected, settings.perCallConcurrency, settings.perCallSeconds);
  log(`${settings.tenants} tenants × 1 plugin`);
  const manyTenants = await measureManyTenants({ tenants: settings.tenants, plugin: join(PLUGINS, "ru-phone-normalize"), request: phone[0], workDir: work, logLevel: settings.logLevel, nodeArgs: settings.hostNodeArgs });

  const results: Results = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "", node: process.version, loadAverage: { before: loadBefore, after: loadavg()[0] } },
    settings: { ...settings, bodies: { phone: sizes(phone), everyHook: sizes(everyHook) } },
    rounds,
    load: { a: median(rounds.map((r) => r.a)), a14, b: median(rounds.map((r) => r.b)), b14, c, c1: median(rounds.map((r) => r.c1)), fixedBursts, fixedPaced, echoPaced, lanes: laneMedians(rounds) },
    ratios: {
      cOverA: medianOf(rounds.map((r) => r.c.reqPerSec / r.a.reqPerSec)),
      c1OverA: medianOf(rounds.map((r) => r.c1.reqPerSec / r.a.reqPerSec)),
      perPluginRunUs: medianOf(rounds.map((r) => perPluginRunUs(r.c, r.a))),
      cOverLanes0: lanesSupported ? medianOf(rounds.map((r) => r.c.reqPerSec / r.lanes!.zero.reqPerSec)) : undefined,
      bOverA: medianOf(rounds.map((r) => r.b.reqPerSec / r.a.reqPerSec)),
      cOverB: medianOf(rounds.map((r) => r.c.reqPerSec / r.b.reqPerSec)),
      b14OverA14: b14.reqPerSec / a14.reqPerSec,
      cOverD: c.reqPerSec / d.callsPerSec,
    },
    processPerCall: d,
    sandboxCalls: CALL_MODES.map((_, i) => medianBy(sandboxRounds.map((r) => r[i]), (x) => x.cpuUsPerPluginRun)),
    coldStarts,
    manyTenants,
    hostRssMaxMb,
    failedPluginRuns,
    hostLogProblems: {
      noPlugin: logProblems("host-no-plugin.log"),
      chain: logProblems("host-chain.log"),
      ...(laneHosts ? Object.fromEntries(Object.entries(LANE_COUNTS).map(([name, n]) => [`lanes-${name}`, logProblems(`host-lanes-${n}.log`)])) : {}),
      manyTenants: logProblems("host-many-tenants.log"),
    },
    targets: [],
  };
  results.targets = targets(results);
  return results;
}

function load(target: Child, requests: HookRequest[], rate?: LoadOptions["rate"]): Promise<LoadResult> {
  return measureLoad({
    url: target.url,
    pid: target.pid,
    requests,
    path: hookPath,
    connections: settings.connections,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    rate,
  });
}

/**
 * A host as `npm start` runs it, with a config file that serves the token-less tenants the load
 * comes from and `default`, and sets nothing else unless `given`.
 */
function startHost(pluginsDir: string, logName: string, given?: Record<string, unknown>): Promise<Child> {
  const configFile = join(work, logName.replace(/\.log$/, ".json"));
  const tenants = Object.fromEntries(["default", ...CALLERS].map((t) => [t, {}]));
  writeFileSync(configFile, JSON.stringify({ tenants, ...given, ...(laneCalls ? { laneCalls } : {}) }));
  return startHostProcess({ pluginsDir, configFile, logFile: join(work, logName), logLevel: settings.logLevel, nodeArgs: settings.hostNodeArgs });
}

/**
 * What one plugin run costs the throughput above a bare request, in µs: the chain's time per
 * request less the echo's, over the chain's three plugins (issue 12).
 */
function perPluginRunUs(chain: LoadResult, echo: LoadResult): number {
  return ((1 / chain.reqPerSec - 1 / echo.reqPerSec) / 3) * 1e6;
}

function laneMedians(rounds: Round[]): LaneLoads | undefined {
  if (!rounds.every((r) => r.lanes)) return undefined;
  return { zero: median(rounds.map((r) => r.lanes!.zero)), one: median(rounds.map((r) => r.lanes!.one)), two: median(rounds.map((r) => r.lanes!.two)) };
}

/** A server child whose RSS is sampled over its whole life; `stop()` gives the largest sample in MB. */
async function server(starting: Promise<Child>): Promise<{ child: Child; stop(): Promise<number> }> {
  const child = await starting;
  const rss = sampleRss(child.pid);
  const handle = {
    child,
    async stop() {
      if (running.includes(handle)) running.splice(running.indexOf(handle), 1);
      const { maxBytes } = rss.stop();
      await child.stop();
      return maxBytes / 2 ** 20;
    },
  };
  running.push(handle);
  return handle;
}

/** What the customization answers for each request, from the per-call program: the reference for the host. */
async function expectedAnswers(requests: HookRequest[]): Promise<string[]> {
  const byBody = new Map<string, string>();
  for (const r of requests) {
    if (byBody.has(r.body)) continue;
    const answer = await customizeOnce(r);
    if (!answer.ok) throw new Error(`bench/customizer.mjs failed on ${r.body.slice(0, 80)}…`);
    byBody.set(r.body, answer.stdout);
  }
  return requests.map((r) => byBody.get(r.body)!);
}

/** Before loading a host: every request answers 200 with the expected envelope and a trace of `plugins` runs. */
async function checkAnswers(target: Child, requests: HookRequest[], expected: (r: HookRequest, i: number) => string, plugins: number): Promise<void> {
  for (const [i, r] of requests.entries()) {
    const answer = await postHook(target.url, r.tenant, r.hook, r.body);
    const want = expected(r, i);
    const traceOk = answer.trace.length === plugins && answer.trace.every((t) => /;status=(ok|skip);/.test(t));
    if (answer.status !== 200 || JSON.stringify(JSON.parse(answer.body)) !== JSON.stringify(JSON.parse(want)) || !traceOk) {
      throw new Error(`check before load: request ${i} answered ${answer.status} ${answer.body} (trace ${answer.trace.join(",") || "none"}); expected ${want} with ${plugins} plugin runs`);
    }
  }
}

/** Host log lines at warn or error level (the log is JSON lines when not on a terminal). */
function logProblems(name: string): string[] {
  return readFileSync(join(work, name), "utf8")
    .split("\n")
    .filter((l) => /"level":"(warn|error)"/.test(l));
}

/** The run with the median throughput, whole, so its latencies and RSS belong to the same run. */
function median(runs: LoadResult[]): LoadResult {
  return [...runs].sort((x, y) => x.reqPerSec - y.reqPerSec)[Math.floor((runs.length - 1) / 2)];
}

function medianBy<T>(items: T[], key: (item: T) => number): T {
  return [...items].sort((x, y) => key(x) - key(y))[Math.floor((items.length - 1) / 2)];
}

function medianOf(values: number[]): number {
  return [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) / 2)];
}

function sizes(requests: HookRequest[]): { count: number; minBytes: number; maxBytes: number; meanBytes: number } {
  const bytes = requests.map((r) => Buffer.byteLength(r.body));
  return { count: bytes.length, minBytes: Math.min(...bytes), maxBytes: Math.max(...bytes), meanBytes: Math.round(bytes.reduce((s, n) => s + n, 0) / bytes.length) };
}

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}
