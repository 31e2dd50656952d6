import { spawn } from "node:child_process";
import { join } from "node:path";
import { BENCH } from "./paths.js";
import type { HookRequest } from "./requests.js";
import { percentile } from "./stats.js";

const CUSTOMIZER = join(BENCH, "customizer.mjs");

/** One call the connector's way: a fresh `node customizer.mjs <hook>`, the input on stdin, the envelope on stdout. */
export function customizeOnce(request: HookRequest): Promise<{ ok: boolean; stdout: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CUSTOMIZER, request.hook], { stdio: ["pipe", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.once("error", reject);
    child.once("close", (code) => resolve({ ok: code === 0, stdout, ms: performance.now() - started }));
    child.stdin.end(request.body);
  });
}

export interface PerCallResult {
  calls: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** calls that exited non-zero or printed another answer than `expected` */
  failed: number;
}

/** `concurrency` callers, each starting the next process as soon as its last one exits, for `seconds`. */
export async function measureProcessPerCall(requests: HookRequest[], expected: string[], concurrency: number, seconds: number): Promise<PerCallResult> {
  const times: number[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  const caller = async () => {
    while (performance.now() < until) {
      const i = next++ % requests.length;
      const answer = await customizeOnce(requests[i]);
      times.push(answer.ms);
      if (!answer.ok || answer.stdout !== expected[i]) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return {
    calls: times.length,
    callsPerSec: times.length / elapsed,
    p50Ms: percentile(times, 0.5),
    p99Ms: percentile(times, 0.99),
    failed,
  };
}
