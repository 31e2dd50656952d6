import { createHash } from "node:crypto";
import type { ChainStep, StepOutcome } from "./chain.js";
import type { LoadedPlugin } from "./discovery.js";
import { dataSchemas, rules, type HookName } from "./hooks.js";
import type { Logger } from "./log.js";
import type { RecentRuns, RunLogLine } from "./runs.js";
import type { RunOutcome } from "../sandbox/index.js";

/** A candidate folder set to run against the live plugin it names (plugin.json `candidateOf`). */
export interface Trial {
  /** the candidate folder's own plugin */
  candidate: LoadedPlugin;
  /** the live plugin it runs against */
  live: LoadedPlugin;
  /** the candidate's code as a version of the live plugin: the live plugin's name, tenants and priority */
  asLive: LoadedPlugin;
  mode: "shadow" | "canary";
  percent: number;
}

/**
 * The candidate's code, config, capabilities and limits under the live plugin's name (so the
 * tenants' overrides of that plugin apply), serving whom the live plugin serves, in its place in
 * the chain. What a canary call runs, what a shadow compares, and what a promotion serves.
 */
export function asVersionOf(candidate: LoadedPlugin, live: LoadedPlugin): LoadedPlugin {
  const { candidateOf: _of, mode: _mode, percent: _percent, ...own } = candidate.manifest;
  return { ...candidate, manifest: { ...own, name: live.manifest.name, tenants: live.manifest.tenants, priority: live.manifest.priority, enabled: live.manifest.enabled } };
}

/**
 * What identifies one phone call in a hook's input: `call_full.channel.id` (the same at every
 * stage and every hook of the call). The two hooks without `call_full` (autodistribution and
 * originate) have none, so each such request stands alone.
 */
export function callKey(input: Record<string, unknown>, requestId: string): string {
  const callFull = input.call_full as { channel?: { id?: unknown } } | undefined;
  const id = callFull?.channel?.id;
  return typeof id === "string" || typeof id === "number" ? `call:${id}` : `request:${requestId}`;
}

/**
 * Whether a canary at `percent` answers this call: a stable hash of the call's key, so every stage
 * of one call gets the same version, and raising the percent only adds calls.
 */
export function canaryPicks(key: string, percent: number): boolean {
  const bucket = createHash("sha256").update(key).digest().readUInt32BE(0);
  return bucket < (percent / 100) * 2 ** 32;
}

/** A run's outcome as the chain would take it: the checked answer, or why it does not count. */
export type Verdict = { status: "ok"; value: unknown } | { status: "skip" } | { status: "cancel"; reason?: string } | { status: "error" | "timeout" | "invalid"; error: string };

export function verdict(hook: HookName, outcome: RunOutcome): Verdict {
  switch (outcome.status) {
    case "ok": {
      const checked = dataSchemas[hook].safeParse(outcome.value);
      return checked.success ? { status: "ok", value: checked.data } : { status: "invalid", error: `result does not match ${hook}'s data` };
    }
    case "cancel":
      return rules[hook].cancellable ? { status: "cancel", reason: outcome.reason || undefined } : { status: "invalid", error: `cancel() is not allowed for ${hook}` };
    case "skip":
      return { status: "skip" };
    default:
      return { status: outcome.status, error: outcome.error };
  }
}

/** Whether two verdicts would make the chain go on differently (key order and error wording aside). */
export function differs(live: Verdict, candidate: Verdict): boolean {
  if (live.status !== candidate.status) return true;
  if (live.status === "ok" && candidate.status === "ok") return canonical(live.value) !== canonical(candidate.value);
  return false;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Shadow runs allowed in flight per candidate sandbox; past it a call's shadow run is left out (and counted). */
export const MAX_SHADOWS_IN_FLIGHT = 8;

/** What the shadow runs of one candidate have done since its folder last loaded. */
export interface ShadowCounts {
  compared: number;
  differences: number;
  /** left out because MAX_SHADOWS_IN_FLIGHT were running */
  skipped: number;
}

/**
 * Pairs each running candidate with the live plugin it names, in folder order. A pairing that did
 * not change is kept as it was (its sandboxes stay); `retired` are the ones that ended.
 */
export function pairTrials(candidates: LoadedPlugin[], live: readonly LoadedPlugin[], before: Trial[]): { trials: Map<string, Trial[]>; retired: Trial[] } {
  const trials = new Map<string, Trial[]>();
  for (const candidate of candidates) {
    const m = candidate.manifest;
    const of = live.find((p) => p.manifest.name === m.candidateOf);
    if (!of) continue;
    const trial = before.find((t) => t.candidate === candidate && t.live === of) ?? { candidate, live: of, asLive: asVersionOf(candidate, of), mode: m.mode!, percent: m.percent ?? 100 };
    trials.set(of.manifest.name, [...(trials.get(of.manifest.name) ?? []), trial]);
  }
  const now = new Set([...trials.values()].flat());
  return { trials, retired: before.filter((t) => !now.has(t)) };
}

/** One version of a plugin, ready to run on the request being answered (the registry holds its sandbox). */
export interface VersionRun {
  plugin: LoadedPlugin;
  /** this version's own time limit for the hook */
  timeoutMs: number;
  /** shadow runs in flight on this version's sandbox */
  gate: { shadows: number };
  run(inputJson: string, overlay: Data, data: Data, deadline: number, limitMs: number, logs?: RunLogLine[]): Promise<StepOutcome>;
}

/** What every step of one request shares. */
export interface RequestContext {
  tenant: string;
  hook: HookName;
  requestId: string;
  runs: RecentRuns;
  logger: Logger;
  shadowCounts(candidate: LoadedPlugin): ShadowCounts;
  /** the input as the JSON text it arrived as, for every plugin of the chain */
  inputJson: string;
  /** shadow runs, started once the answer has gone out */
  later: (() => Promise<void>)[];
}

type Data = Record<string, unknown>;

/**
 * The chain step of one live plugin with its running candidates: a canary that picks the call
 * answers instead of the live version; otherwise the live version answers and each shadow is queued
 * to run on what it saw. Every run that answers is recorded in the recent runs.
 */
export function rolloutStep(live: VersionRun, canaries: { trial: Trial; version: VersionRun }[], shadows: { trial: Trial; version: VersionRun }[], request: RequestContext): ChainStep {
  const { tenant, hook, requestId } = request;
  let ran: { at: Date; overlay: Data; data: Data; logs: RunLogLine[]; canary?: Trial } | undefined;
  return {
    plugin: live.plugin.manifest.name,
    timeoutMs: Math.max(live.timeoutMs, ...canaries.map((c) => c.version.timeoutMs)),
    run: (input, overlay, data, deadline, limitMs) => {
      const canary = canaries.length ? canaries.find((c) => canaryPicks(callKey(input, requestId), c.trial.percent)) : undefined;
      ran = { at: new Date(), overlay, data, logs: [], canary: canary?.trial };
      return (canary?.version ?? live).run(request.inputJson, overlay, data, deadline, limitMs, ran.logs);
    },
    settled: (entry, outcome) => {
      if (!ran) return;
      const { at, overlay, data, logs, canary } = ran;
      request.runs.record(tenant, {
        at: at.toISOString(),
        requestId,
        plugin: live.plugin.manifest.name,
        version: outcome.version,
        ...(canary ? { candidate: canary.candidate.manifest.name } : {}),
        hook,
        inputJson: request.inputJson,
        saw: { overlay, data },
        answer: answerOf(outcome),
        logs,
        outcome: entry.status,
        ms: entry.ms,
        ...(entry.error === undefined ? {} : { error: entry.error }),
      });
      // A shadow is compared with the live version's run only.
      if (canary) return;
      for (const { trial, version } of shadows) request.later.push(() => shadowRun(trial, version, request, overlay, data, outcome));
    },
  };
}

/** A candidate's run beside the live one's, after the answer went out; a difference is recorded with the input. */
async function shadowRun(trial: Trial, version: VersionRun, request: RequestContext, overlay: Data, data: Data, live: StepOutcome): Promise<void> {
  const counts = request.shadowCounts(trial.candidate);
  if (version.gate.shadows >= MAX_SHADOWS_IN_FLIGHT) {
    counts.skipped++;
    return;
  }
  version.gate.shadows++;
  try {
    const outcome = await version.run(request.inputJson, overlay, data, Date.now() + version.timeoutMs, version.timeoutMs);
    const [was, would] = [verdict(request.hook, live), verdict(request.hook, outcome)];
    counts.compared++;
    if (!differs(was, would)) return;
    counts.differences++;
    request.runs.recordDifference(request.tenant, {
      at: new Date().toISOString(),
      requestId: request.requestId,
      hook: request.hook,
      plugin: trial.live.manifest.name,
      candidate: trial.candidate.manifest.name,
      version: trial.candidate.version,
      inputJson: request.inputJson,
      live: { ...was, version: live.version },
      candidateAnswer: would,
    });
  } catch (e) {
    request.logger.warn("shadow run failed", { tenant: request.tenant, hook: request.hook, requestId: request.requestId, candidate: trial.candidate.manifest.name, error: String(e) });
  } finally {
    version.gate.shadows--;
  }
}

/** What a run answered, as recent runs show it: the value, the cancel and its reason, or nothing. */
function answerOf(outcome: StepOutcome): unknown {
  if (outcome.status === "ok") return outcome.value;
  if (outcome.status === "cancel") return { cancel: outcome.reason };
  return null;
}
