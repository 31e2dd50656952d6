import { cpSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { postHook } from "./client.js";
import type { HookRequest } from "./requests.js";

export interface ColdStart {
  /** from the start of the copy to the first answer whose trace shows the new plugin */
  ms: number;
  /** that first run's own duration in the trace (its sandbox was built for it) */
  firstRunMs: number;
  /** the trace entry itself, e.g. `cold-1;status=ok;ms=3` */
  entry: string;
}

const POLL_MS = 5;
const GIVE_UP_MS = 15_000;

/**
 * Copies a plugin folder into a running host's plugins folder as `name`, asks the host every few
 * milliseconds until the plugin answers, then removes the folder again and waits until it is gone
 * from the chain, so the next measurement starts from the same state.
 */
export async function measureColdStart(url: string, pluginsDir: string, source: string, name: string, request: HookRequest): Promise<ColdStart> {
  const target = join(pluginsDir, name);
  if (existsSync(target)) throw new Error(`${target} exists already`);
  const started = performance.now();
  cpSync(source, target, { recursive: true });
  const entry = await pollTrace(url, request, (trace) => trace.find((t) => t.startsWith(`${name};`)));
  const ms = performance.now() - started;
  rmSync(target, { recursive: true, force: true });
  await pollTrace(url, request, (trace) => (trace.some((t) => t.startsWith(`${name};`)) ? undefined : "gone"));
  return { ms, firstRunMs: Number(/;ms=(\d+)(?:;v=[0-9a-f]{12})?$/.exec(entry)?.[1]), entry };
}

async function pollTrace(url: string, request: HookRequest, found: (trace: string[]) => string | undefined): Promise<string> {
  const until = performance.now() + GIVE_UP_MS;
  while (performance.now() < until) {
    const answer = await postHook(url, "default", request.hook, request.body);
    if (answer.status !== 200) throw new Error(`cold start: the host answered ${answer.status}: ${answer.body}`);
    const hit = found(answer.trace);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`cold start: no change in x-hook-trace within ${GIVE_UP_MS} ms`);
}
