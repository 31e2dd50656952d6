import autocannon from "autocannon";
import { pacedRun } from "./paced.js";
import { cpuSeconds, sampleRss } from "./process-stats.js";
import type { HookRequest } from "./requests.js";
import { percentile } from "./stats.js";

export interface LoadOptions {
  url: string;
  /** the server's process: its RSS and CPU are measured */
  pid: number;
  requests: HookRequest[];
  /** path of a hook request, e.g. /v1/tenants/default/hooks/<hook> */
  path(request: HookRequest): string;
  headers?: Record<string, string>;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /**
   * absent: as fast as the server answers (autocannon); `bursts`: autocannon's `overallRate`,
   * a per-second quota; `paced`: requests evenly spaced at `rate` (bench/paced.ts)
   */
  rate?: { kind: "bursts" | "paced"; perSecond: number };
}

export interface LoadResult {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** non-2xx answers plus socket errors and timeouts */
  failed: number;
  statusCodes: Record<string, number>;
  maxRssMb: number;
  endRssMb: number;
  /** the server's CPU use during the measured part, in % of one core, and per answered request */
  serverCpuPercent: number;
  serverCpuUsPerReq: number;
  /** this process's (the load generator's) CPU use during the measured part, in % of one core */
  generatorCpuPercent: number;
}

interface Run {
  ok: number;
  failed: number;
  statusCodes: Record<string, number>;
  seconds: number;
}

/**
 * A warm-up run (discarded: JIT, sandboxes built, connections open), then the measured run.
 * Latency percentiles come from every response time recorded here, in fractions of a millisecond
 * (autocannon's own histogram keeps whole milliseconds). RSS is sampled over both runs.
 */
export async function measureLoad(o: LoadOptions): Promise<LoadResult> {
  const rss = sampleRss(o.pid);
  try {
    await run(o, o.warmupSeconds, () => {});
    const times: number[] = [];
    const cpuBefore = cpuSeconds(o.pid);
    const generatorBefore = process.cpuUsage();
    const started = performance.now();
    const result = await run(o, o.seconds, (ms) => times.push(ms));
    const elapsed = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(o.pid) - cpuBefore;
    const generator = process.cpuUsage(generatorBefore);
    const { maxBytes, lastBytes } = rss.stop();
    times.sort((a, b) => a - b);
    return {
      requests: result.ok,
      reqPerSec: result.ok / result.seconds,
      p50Ms: percentile(times, 0.5),
      p99Ms: percentile(times, 0.99),
      maxMs: times.at(-1) ?? NaN,
      failed: result.failed,
      statusCodes: result.statusCodes,
      maxRssMb: maxBytes / 2 ** 20,
      endRssMb: lastBytes / 2 ** 20,
      serverCpuPercent: (cpu / elapsed) * 100,
      serverCpuUsPerReq: (cpu / result.ok) * 1e6,
      generatorCpuPercent: ((generator.user + generator.system) / 1e6 / elapsed) * 100,
    };
  } finally {
    rss.stop();
  }
}

function run(o: LoadOptions, seconds: number, onResponse: (ms: number) => void): Promise<Run> {
  if (o.rate?.kind === "paced") return pacedRun({ ...o, rate: o.rate.perSecond }, seconds, onResponse);
  return autocannonRun(o, seconds, onResponse);
}

async function autocannonRun(o: LoadOptions, seconds: number, onResponse: (ms: number) => void): Promise<Run> {
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    duration: seconds,
    overallRate: o.rate?.perSecond,
    requests: o.requests.map((r) => ({
      method: "POST",
      path: o.path(r),
      headers: { "content-type": "application/json", ...o.headers },
      body: r.body,
    })),
  });
  instance.on("response", (_client, _status, _bytes, ms) => onResponse(ms));
  const result = await instance;
  return {
    ok: result["2xx"],
    failed: result.non2xx + result.errors + result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
    seconds: result.duration,
  };
}
