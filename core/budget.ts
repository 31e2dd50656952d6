// How long one request's chain may take (docs/hooks.md, "Time"). The host config sets a budget per
// hook; a caller that says how long it waits (the connector shim does) gets its answer before it
// gives up, so the shim's timeout and the host's budget cannot contradict each other.
import type { HostConfig } from "./config.js";
import { HttpError } from "./front/errors.js";
import { rules, type HookName } from "./hooks.js";

/** Sent by the shim: how long it waits for the whole answer, in ms. */
export const CALLER_WAIT_HEADER = "x-hookhost-wait-ms";
/** What the answer's way back may take: serialising it, the network, the shim printing it. */
export const RETURN_MARGIN_MS = 300;

/** The budget for one chain: the configured one, cut to the caller's wait less the way back. */
export function chainBudgetMs(hook: HookName, budgets: HostConfig["budgets"], callerWaitMs?: number): number {
  // `default` is for the hooks under the connector's customization timeout; the record hook has its own 10 s.
  const fallback = hook === "process_record_file_path" ? undefined : budgets.default;
  const configured = budgets[hook] ?? fallback ?? rules[hook].budgetMs;
  return callerWaitMs === undefined ? configured : Math.max(0, Math.min(configured, callerWaitMs - RETURN_MARGIN_MS));
}

/** The caller's wait from its header; absent is fine, anything but whole milliseconds is a 400. */
export function callerWaitMs(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (!/^[1-9]\d{0,6}$/.test(header)) {
    throw new HttpError(400, "bad_request", `${CALLER_WAIT_HEADER} must be a whole number of milliseconds from 1 to 9999999, got ${JSON.stringify(header.slice(0, 40))}`);
  }
  return Number(header);
}
