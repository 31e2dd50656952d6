import { dataSchemas, rules, type HookName } from "./hooks.js";
import { formatIssues } from "./names.js";
import type { RunOutcome } from "../sandbox/index.js";

type Data = Record<string, unknown>;

/**
 * One plugin's part in a chain: run it on the input with the rule's overlay on top and this data,
 * before this deadline, `limitMs` from the step's start (its own limit, or the rest of the chain's
 * budget). The input is the same object for every step of a request, so it can be serialized once
 * for the whole chain.
 */
export interface ChainStep {
  plugin: string;
  timeoutMs: number;
  run(input: Data, overlay: Data, data: Data, deadline: number, limitMs: number): Promise<StepOutcome>;
  /** roll-out hook point: told how the chain took the run (recent runs, shadow compares) */
  settled?(entry: TraceEntry, outcome: StepOutcome): void;
}

/** A run's outcome, with the plugin version that ran (a canary call may run a candidate's). */
export type StepOutcome = RunOutcome & { version?: string };

export type TraceStatus = "ok" | "skip" | "cancel" | "error" | "timeout" | "invalid";

export interface TraceEntry {
  plugin: string;
  status: TraceStatus;
  ms: number;
  error?: string;
  version?: string;
}

export interface ChainResult {
  data: Data;
  trace: TraceEntry[];
  cancelled: boolean;
  /** what an operator should know: what final shaping changed, a cancel() the connector cannot honour */
  warnings: string[];
}

export interface ChainOptions {
  /** ms the whole chain may take; each plugin's own limit is cut to what is left */
  budgetMs: number;
  /** whether the tenant's connector skips the CRM request on an empty answer (3.13 and later) */
  cancellation: boolean;
}

/**
 * The one fold every hook goes through (docs/hooks.md, "Chaining"): the hook's rule says how a
 * result is applied, what the next plugin sees, and when to stop; the steps arrive in priority order.
 */
export async function runChain(hook: HookName, input: Data, steps: ChainStep[], options: ChainOptions): Promise<ChainResult> {
  const rule = rules[hook];
  const chainEnd = Date.now() + options.budgetMs;
  let data = rule.initial(input);
  const trace: TraceEntry[] = [];
  for (const step of steps) {
    if (rule.stops(data)) break;
    const begin = Date.now();
    if (begin >= chainEnd) {
      trace.push({ plugin: step.plugin, status: "timeout", ms: 0, error: `the hook's time budget (${options.budgetMs} ms) was spent before this plugin` });
      continue;
    }
    const limitMs = Math.min(step.timeoutMs, chainEnd - begin);
    const outcome = await step.run(input, rule.overlay(data), data, begin + limitMs, limitMs);
    const ms = Date.now() - begin;
    // Each entry names the version that ran and goes back to its step (the roll-out hook point).
    const note = (entry: TraceEntry) => {
      if (outcome.version !== undefined) entry.version = outcome.version;
      trace.push(entry);
      step.settled?.(entry, outcome);
    };
    switch (outcome.status) {
      case "ok": {
        // The checked value, not the raw one: documented forms (0/1, string ids, flat params) are what folds.
        const checked = dataSchemas[hook].safeParse(outcome.value);
        if (!checked.success) {
          note({ plugin: step.plugin, status: "invalid", ms, error: `result does not match ${hook}'s data: ${formatIssues(checked.error).join("; ")}` });
          break;
        }
        data = rule.fold(data, checked.data as Data);
        note({ plugin: step.plugin, status: "ok", ms });
        break;
      }
      case "cancel": {
        if (!rule.cancellable) {
          note({ plugin: step.plugin, status: "invalid", ms, error: `cancel() is not allowed for ${hook}` });
          break;
        }
        if (!options.cancellation) {
          // Before 3.13 an empty answer is not a cancellation: it would read as "change nothing", or
          // as a finish with no parameters. The nearest honest answer is the hook's default.
          const warning = `cancel() by ${step.plugin}: the tenant's connector (before 3.13) cannot skip the request, so the hook's default is answered${outcome.reason ? ` (reason given: ${outcome.reason})` : ""}`;
          note({ plugin: step.plugin, status: "cancel", ms, error: warning });
          return { data: rule.finalize(rule.initial(input)), trace, cancelled: false, warnings: [warning] };
        }
        note({ plugin: step.plugin, status: "cancel", ms, error: outcome.reason || undefined });
        return { data: {}, trace, cancelled: true, warnings: [] };
      }
      case "skip":
        note({ plugin: step.plugin, status: "skip", ms });
        break;
      default:
        note({ plugin: step.plugin, status: outcome.status, ms, error: outcome.error });
    }
  }
  const final = rule.finalize(data);
  // Asterisk shows at most 20 characters of a CallerID name: the cut is made, and said.
  const cut = hook === "customize_autodistribution" && typeof data.name === "string" && final.name !== data.name;
  return { data: final, trace, cancelled: false, warnings: cut ? [`name cut to 20 characters: "${String(data.name)}" → "${String(final.name)}"`] : [] };
}

/** The `x-hook-trace` header; `v=` is the version that ran, after the older fields. */
export function traceHeader(trace: TraceEntry[]): string {
  return trace.map((t) => `${t.plugin};status=${t.status};ms=${t.ms}${t.version ? `;v=${t.version}` : ""}`).join(",");
}

/**
 * What a chain answers when it could not run to its end (its lane died under it): the hook's
 * default, as with no plugin, and an `error` entry for each plugin of the chain.
 */
export function defaultAnswer(hook: HookName, input: Data, plugins: string[], error: string, ms: number): ChainResult {
  const rule = rules[hook];
  return { data: rule.finalize(rule.initial(input)), trace: plugins.map((plugin) => ({ plugin, status: "error", ms, error })), cancelled: false, warnings: [] };
}
