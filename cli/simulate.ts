// `hookhost simulate <call.json> --tenant T`: replays a recorded call through every hook the
// connector would call, in its order, and prints what the connector does at each step.
import type { Logger } from "../core/log.js";
import { CallRecordError, readCallRecord, type CallRecord } from "./call-record.js";
import { simulateCall, type Simulation, type SimStep } from "./connector.js";
import type { Io } from "./io.js";
import type { LocalHostOptions } from "./local-host.js";
import { brokenFolderWarning, oneLine } from "./problems.js";
import { InputError } from "./usage.js";

export interface SimulateOptions extends LocalHostOptions {
  call: string;
  json: boolean;
}

/** The timeline (or, with --json, the steps) on stdout; exit code 0 whatever the plugins did. */
export async function simulateCommand(options: SimulateOptions, io: Io, logger: Logger): Promise<number> {
  let record: CallRecord;
  try {
    record = readCallRecord(options.call);
  } catch (e) {
    if (e instanceof CallRecordError) throw new InputError(e.message);
    throw e;
  }
  // The host (the sandbox, the TypeScript compiler) loads only once the input is known to be good.
  const { openLocalHost } = await import("./local-host.js");
  const host = await openLocalHost(options, logger);
  try {
    for (const { dir, problem } of host.broken) io.err(brokenFolderWarning(host.pluginsDir, dir, problem));
    let n = 0;
    const simulation = await simulateCall(record, (hook, input) => host.run(hook, input, `simulate-${++n}`));
    io.out(options.json ? JSON.stringify(simulation.steps, null, 2) : renderTimeline(options.call, host.tenant.id, record, simulation));
    return 0;
  } finally {
    await host.close();
  }
}

const STAGE_TITLES: Record<SimStep["stage"], string> = {
  click_to_call: "click-to-call (before Asterisk dials)",
  before_ringing: "autodistribution (before anything rings)",
  conversation_requested: "conversation_requested",
  conversation_accepted: "conversation_accepted",
  conversation_ended: "conversation_ended",
  call_ended: "call_ended",
};

export function renderTimeline(file: string, tenant: string, record: CallRecord, simulation: Simulation): string {
  const trunk = record.trunk.number ? ` on ${record.trunk.number}${record.trunk.name ? ` (${record.trunk.name})` : ""}` : "";
  const lines = [`${file}: ${record.direction} call with ${record.client}${trunk}, ${record.start} – ${record.end.slice(11)}; tenant "${tenant}"`];
  const width = Math.max(...simulation.steps.map((s) => s.hook.length));
  let heading = "";
  for (const step of simulation.steps) {
    // call_ended is about the whole call, even where a step concerns the last conversation
    const about = step.conversation && step.stage !== "call_ended" ? ` · ${step.conversation}` : "";
    const title = `${STAGE_TITLES[step.stage]}${about} · ${step.at.slice(11)}`;
    if (title !== heading) lines.push("", title);
    heading = title;
    lines.push(`  ${step.hook.padEnd(width)}  ${traceSummary(step)}`);
    for (const t of step.trace) if (t.error) lines.push(`  ${" ".repeat(width)}  ! ${t.plugin} ${t.status}: ${oneLine(t.error)}`);
    lines.push(`  ${" ".repeat(width)}  → ${step.action}`);
  }
  lines.push("", simulation.stopped ? `stopped: ${simulation.stopped}` : "the call is done", `${simulation.steps.length} hook calls`);
  return lines.join("\n");
}

function traceSummary(step: SimStep): string {
  if (!step.trace.length) return "no plugin: the hook's default answer";
  return step.trace.map((t) => `${t.plugin} ${t.status} ${t.ms} ms`).join(", ");
}
