// `hookhost run <hook> --tenant T`: one hook's chain on one input, in the real sandbox, no server.
import { readFile } from "node:fs/promises";
import { traceHeader, type TraceEntry } from "../core/chain.js";
import { HOOK_NAMES, inputSchemas, isHookName, type HookName } from "../core/hooks.js";
import type { Logger } from "../core/log.js";
import { formatIssues } from "../core/names.js";
import type { Io } from "./io.js";
import type { LocalHostOptions } from "./local-host.js";
import { brokenFolderWarning, oneLine } from "./problems.js";
import { formatTable } from "./table.js";
import { InputError, UsageError } from "./usage.js";

export interface RunOptions extends LocalHostOptions {
  hook: string;
  /** a file, or "-" / undefined for stdin */
  input?: string;
}

/** Prints the envelope on stdout and the trace on stderr; exit code 0 whatever the plugins did. */
export async function runCommand(options: RunOptions, io: Io, logger: Logger): Promise<number> {
  const hook = hookName(options.hook);
  const source = options.input === undefined || options.input === "-" ? "stdin" : options.input;
  const input = parseInput(hook, await readInput(options.input, io), source);
  // The host (the sandbox, the TypeScript compiler) loads only once the input is known to be good.
  const { openLocalHost } = await import("./local-host.js");
  const host = await openLocalHost(options, logger);
  try {
    for (const { dir, problem } of host.broken) io.err(brokenFolderWarning(host.pluginsDir, dir, problem));
    const result = await host.run(hook, input, "hookhost-run");
    io.out(JSON.stringify({ state: "success", data: result.data }, null, 2));
    io.err(traceReport(hook, host.tenant.id, result.trace));
    for (const warning of result.warnings) io.err(`warning: ${warning}`);
    return 0;
  } finally {
    await host.close();
  }
}

export function hookName(name: string): HookName {
  if (!isHookName(name)) throw new UsageError(`unknown hook "${name}"; the hooks are: ${HOOK_NAMES.join(", ")}`);
  return name;
}

/** The trace as the x-hook-trace header has it, then as a table with each failure's reason. */
export function traceReport(hook: HookName, tenant: string, trace: TraceEntry[]): string {
  if (!trace.length) return `no plugin serving tenant "${tenant}" implements ${hook}: the answer is the hook's default`;
  const rows = [["plugin", "outcome", "ms", "error"], ...trace.map((t) => [t.plugin, t.status, String(t.ms), oneLine(t.error ?? "")])];
  return `x-hook-trace: ${traceHeader(trace)}\n${formatTable(rows)}`;
}

async function readInput(file: string | undefined, io: Io): Promise<string> {
  if (file !== undefined && file !== "-") {
    try {
      return await readFile(file, "utf8");
    } catch (e) {
      throw new InputError(`cannot read the input file ${file}: ${(e as Error).message}`);
    }
  }
  if (process.stdin.isTTY) io.err("reading the hook's input JSON from stdin (end with Ctrl-D; or give --input FILE)");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The checks the HTTP API answers 400 and 422 for, with the same wording. */
function parseInput(hook: HookName, text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`bad_json: the input (${source}) is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new InputError(`bad_json: the input (${source}) must be a JSON object`);
  const parsed = inputSchemas[hook].safeParse(value);
  if (!parsed.success) {
    throw new InputError(`invalid_input: the input (${source}) does not match ${hook}:\n${formatIssues(parsed.error).map((p) => `  - ${p}`).join("\n")}`);
  }
  // The scripts get the input exactly as given (unknown fields included), as over HTTP.
  return value as Record<string, unknown>;
}
