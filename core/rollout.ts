import { createHash } from "node:crypto";
import type { LoadedPlugin } from "./discovery.js";
import { dataSchemas, rules, type HookName } from "./hooks.js";
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
