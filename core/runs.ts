import type { TraceStatus } from "./chain.js";
import type { LogLevel } from "../sandbox/index.js";
import { redact, type RedactRule } from "./redact.js";

/** One `ctx.log` line of a run, as stored. */
export interface RunLogLine {
  level: LogLevel;
  message: string;
  fields?: unknown;
}

/** One plugin run as the operator reads it back (API-14 "Recent runs"). */
export interface RunRecord {
  at: string;
  requestId: string;
  plugin: string;
  version?: string;
  /** the candidate that answered instead of the live version (a canary call) */
  candidate?: string;
  hook: string;
  input: unknown;
  /** what the plugin saw besides the input: `overlay` laid over the input's keys, `data` as ctx.data */
  saw: { overlay: unknown; data: unknown };
  answer: unknown;
  logs: RunLogLine[];
  outcome: TraceStatus;
  ms: number;
  error?: string;
}

/** A shadow run whose answer differs from the live one's. */
export interface ShadowDifference {
  at: string;
  requestId: string;
  hook: string;
  plugin: string;
  candidate: string;
  version: string;
  input: unknown;
  live: unknown;
  candidateAnswer: unknown;
}

export interface HookStats {
  runs: number;
  outcomes: Record<TraceStatus, number>;
  p50Ms: number;
  p95Ms: number;
}

// Bounds on what one stored run holds, so a ring's memory is bounded whatever a plugin does.
/** a stored value (input, overlay, data, answer, log fields) longer than this as JSON is replaced by its size */
export const MAX_STORED_CHARS = 16 * 1024;
/** log lines kept per run */
export const MAX_RUN_LOG_LINES = 20;
/** characters kept of a log message or an error */
const MAX_TEXT_CHARS = 1000;

/** The last `size` items (a few dozen: dropping the oldest by splice is cheap). */
class Ring<T> {
  private readonly items: T[] = [];

  push(item: T, size: number): void {
    this.items.push(item);
    if (this.items.length > size) this.items.splice(0, this.items.length - size);
  }

  newestFirst(): T[] {
    return [...this.items].reverse();
  }
}

export interface RunsFilter {
  plugin?: string;
  hook?: string;
  limit?: number;
}

/** Reads of the recent runs: this process's rings, or the lanes' (asked over IPC). */
export interface RunsReader {
  /** the tenant's runs, newest first, of one plugin and/or hook when given */
  list(tenant: string, filter?: RunsFilter): Promise<RunRecord[]>;
  shadowDifferences(tenant: string, limit?: number): Promise<ShadowDifference[]>;
  /** runs, outcomes and latency per hook, for each tenant given whose runs can be read now */
  hookStats(tenants: string[]): Promise<TenantsHookStats>;
}

export interface TenantsHookStats {
  stats: Record<string, Record<string, HookStats>>;
  /** tenants left out, and why (their lane died before it answered, or is restarting) */
  unavailable: Record<string, string>;
}

/** A read as it crosses to a lane. */
export type RunsQuery = { kind: "runs"; tenant: string; filter: RunsFilter } | { kind: "shadow"; tenant: string; limit?: number } | { kind: "stats"; tenants: string[] };

/** Answers a read that crossed to this process. */
export function readRuns(reader: RunsReader, query: RunsQuery): Promise<unknown> {
  switch (query.kind) {
    case "runs":
      return reader.list(query.tenant, query.filter);
    case "shadow":
      return reader.shadowDifferences(query.tenant, query.limit);
    case "stats":
      return reader.hookStats(query.tenants);
  }
}

export interface RunsSettings {
  recentRuns: number;
  redact: RedactRule[];
}

/** A run as the rollout step hands it over: the input as the JSON text of the request. */
export type NewRun = Omit<RunRecord, "input"> & { inputJson: string };
export type NewDifference = Omit<ShadowDifference, "input"> & { inputJson: string };

/**
 * A value as a ring keeps it: its JSON text, parsed and redacted when it is read (the run's path
 * pays one stringify of a small value, and nothing for the input, which arrived as text and is
 * shared by every run of the request), or its size when it is too large to keep.
 */
type Kept = string | { truncated: true; chars: number } | undefined;

interface KeptRun extends Omit<RunRecord, "input" | "saw" | "answer" | "logs"> {
  input: Kept;
  saw: { overlay: Kept; data: Kept };
  answer: Kept;
  logs: (Omit<RunLogLine, "fields"> & { fields?: Kept })[];
}

interface KeptDifference extends Omit<ShadowDifference, "input" | "live" | "candidateAnswer"> {
  input: Kept;
  live: Kept;
  candidateAnswer: Kept;
}

/**
 * The recent runs of every tenant × plugin × hook and the shadow differences of every tenant, each a
 * bounded ring. What is read is redacted by the config's rules as they are then. Reads are async so
 * that a process other than the one that ran the plugins can answer them.
 */
export class RecentRuns implements RunsReader {
  // Each run with its place in the order of recording: runs of one request may start in the same ms.
  private readonly runs = new Map<string, Ring<{ seq: number; run: KeptRun }>>();
  private seq = 0;
  private readonly differences = new Map<string, Ring<KeptDifference>>();

  constructor(private readonly settings: () => RunsSettings) {}

  record(tenant: string, run: NewRun): void {
    const key = `${tenant}\0${run.plugin}\0${run.hook}`;
    let ring = this.runs.get(key);
    if (!ring) this.runs.set(key, (ring = new Ring()));
    const { inputJson, ...rest } = run;
    const entry: KeptRun = {
      ...rest,
      input: keptText(inputJson),
      saw: { overlay: kept(run.saw.overlay), data: kept(run.saw.data) },
      answer: kept(run.answer),
      logs: run.logs.slice(0, MAX_RUN_LOG_LINES).map((l) => ({ level: l.level, message: cut(l.message), ...(l.fields === undefined ? {} : { fields: kept(l.fields) }) })),
      ...(run.error === undefined ? {} : { error: cut(run.error) }),
    };
    ring.push({ seq: this.seq++, run: entry }, this.settings().recentRuns);
  }

  recordDifference(tenant: string, difference: NewDifference): void {
    let ring = this.differences.get(tenant);
    if (!ring) this.differences.set(tenant, (ring = new Ring()));
    const { inputJson, ...rest } = difference;
    ring.push({ ...rest, input: keptText(inputJson), live: kept(difference.live), candidateAnswer: kept(difference.candidateAnswer) }, this.settings().recentRuns);
  }

  async list(tenant: string, filter: RunsFilter = {}): Promise<RunRecord[]> {
    const rules = this.settings().redact;
    return this.listNow(tenant, filter).map((run) => ({
      ...run,
      input: shown(run.input, rules),
      saw: { overlay: shown(run.saw.overlay, rules), data: shown(run.saw.data, rules) },
      answer: shown(run.answer, rules),
      logs: run.logs.map((l) => ({ level: l.level, message: l.message, ...(l.fields === undefined ? {} : { fields: shown(l.fields, rules) }) })),
    }));
  }

  private listNow(tenant: string, filter: RunsFilter): KeptRun[] {
    const all: { seq: number; run: KeptRun }[] = [];
    for (const [key, ring] of this.runs) {
      const [t, plugin, hook] = key.split("\0");
      if (t !== tenant || (filter.plugin !== undefined && plugin !== filter.plugin) || (filter.hook !== undefined && hook !== filter.hook)) continue;
      all.push(...ring.newestFirst());
    }
    all.sort((a, b) => b.seq - a.seq);
    return all.slice(0, filter.limit).map((e) => e.run);
  }

  async shadowDifferences(tenant: string, limit?: number): Promise<ShadowDifference[]> {
    const rules = this.settings().redact;
    const all = this.differences.get(tenant)?.newestFirst() ?? [];
    return (limit === undefined ? all : all.slice(0, limit)).map((d) => ({ ...d, input: shown(d.input, rules), live: shown(d.live, rules), candidateAnswer: shown(d.candidateAnswer, rules) }));
  }

  async hookStats(tenants: string[]): Promise<TenantsHookStats> {
    return { stats: Object.fromEntries(tenants.map((tenant) => [tenant, this.statsOf(tenant)])), unavailable: {} };
  }

  private statsOf(tenant: string): Record<string, HookStats> {
    const byHook = new Map<string, KeptRun[]>();
    for (const run of this.listNow(tenant, {})) byHook.set(run.hook, [...(byHook.get(run.hook) ?? []), run]);
    const stats: Record<string, HookStats> = {};
    for (const [hook, runs] of byHook) {
      const outcomes: Record<TraceStatus, number> = { ok: 0, skip: 0, cancel: 0, error: 0, timeout: 0, invalid: 0 };
      for (const r of runs) outcomes[r.outcome]++;
      const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
      stats[hook] = { runs: runs.length, outcomes, p50Ms: quantile(ms, 0.5), p95Ms: quantile(ms, 0.95) };
    }
    return stats;
  }
}

function kept(value: unknown): Kept {
  return value === undefined ? undefined : keptText(JSON.stringify(value));
}

function keptText(json: string | undefined): Kept {
  if (json === undefined) return undefined;
  return json.length > MAX_STORED_CHARS ? { truncated: true, chars: json.length } : json;
}

/** A kept value as a read shows it: redacted, or its size. */
function shown(value: Kept, rules: RedactRule[]): unknown {
  return typeof value === "string" ? redact(JSON.parse(value), rules) : value;
}

function cut(text: string): string {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : 0;
}
