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

/**
 * The recent runs of every tenant × plugin × hook and the shadow differences of every tenant, each a
 * bounded ring. Everything is redacted by the config's rules before it is stored. Reads are async so
 * that a process other than the one that ran the plugins can answer them.
 */
export class RecentRuns implements RunsReader {
  // Each run with its place in the order of recording: runs of one request may start in the same ms.
  private readonly runs = new Map<string, Ring<{ seq: number; run: RunRecord }>>();
  private seq = 0;
  private readonly differences = new Map<string, Ring<ShadowDifference>>();
  // One redacted copy per request input: every plugin of a chain sees the same input object.
  private readonly redactedInputs = new WeakMap<object, unknown>();

  constructor(private readonly settings: () => RunsSettings) {}

  record(tenant: string, run: RunRecord): void {
    const { recentRuns, redact: rules } = this.settings();
    const key = `${tenant}\0${run.plugin}\0${run.hook}`;
    let ring = this.runs.get(key);
    if (!ring) this.runs.set(key, (ring = new Ring()));
    const kept: RunRecord = {
      ...run,
      input: this.input(run.input, rules),
      saw: { overlay: stored(run.saw.overlay, rules), data: stored(run.saw.data, rules) },
      answer: stored(run.answer, rules),
      logs: run.logs.slice(0, MAX_RUN_LOG_LINES).map((l) => ({ level: l.level, message: cut(l.message), ...(l.fields === undefined ? {} : { fields: stored(l.fields, rules) }) })),
      ...(run.error === undefined ? {} : { error: cut(run.error) }),
    };
    ring.push({ seq: this.seq++, run: kept }, recentRuns);
  }

  recordDifference(tenant: string, difference: ShadowDifference): void {
    const { recentRuns, redact: rules } = this.settings();
    let ring = this.differences.get(tenant);
    if (!ring) this.differences.set(tenant, (ring = new Ring()));
    ring.push({ ...difference, input: this.input(difference.input, rules), live: stored(difference.live, rules), candidateAnswer: stored(difference.candidateAnswer, rules) }, recentRuns);
  }

  async list(tenant: string, filter: RunsFilter = {}): Promise<RunRecord[]> {
    return this.listNow(tenant, filter);
  }

  private listNow(tenant: string, filter: RunsFilter): RunRecord[] {
    const all: { seq: number; run: RunRecord }[] = [];
    for (const [key, ring] of this.runs) {
      const [t, plugin, hook] = key.split("\0");
      if (t !== tenant || (filter.plugin !== undefined && plugin !== filter.plugin) || (filter.hook !== undefined && hook !== filter.hook)) continue;
      all.push(...ring.newestFirst());
    }
    all.sort((a, b) => b.seq - a.seq);
    return all.slice(0, filter.limit).map((e) => e.run);
  }

  async shadowDifferences(tenant: string, limit?: number): Promise<ShadowDifference[]> {
    const all = this.differences.get(tenant)?.newestFirst() ?? [];
    return limit === undefined ? all : all.slice(0, limit);
  }

  async hookStats(tenants: string[]): Promise<TenantsHookStats> {
    return { stats: Object.fromEntries(tenants.map((tenant) => [tenant, this.statsOf(tenant)])), unavailable: {} };
  }

  private statsOf(tenant: string): Record<string, HookStats> {
    const byHook = new Map<string, RunRecord[]>();
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

  private input(input: unknown, rules: RedactRule[]): unknown {
    if (input === null || typeof input !== "object") return stored(input, rules);
    let copy = this.redactedInputs.get(input);
    if (copy === undefined) this.redactedInputs.set(input, (copy = stored(input, rules)));
    return copy;
  }
}

/** The redacted copy of a value, or its size when it is too large to keep. */
function stored(value: unknown, rules: RedactRule[]): unknown {
  if (value === undefined) return undefined;
  const chars = JSON.stringify(value)?.length ?? 0;
  if (chars > MAX_STORED_CHARS) return { truncated: true, chars };
  return redact(value, rules);
}

function cut(text: string): string {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : 0;
}
