import { Agent, request } from "node:http";
import type { HookRequest } from "./requests.js";

export interface PacedOptions {
  url: string;
  requests: HookRequest[];
  path(request: HookRequest): string;
  headers?: Record<string, string>;
  /** most requests in flight (keep-alive connections) */
  connections: number;
  /** requests per second, evenly spaced */
  rate: number;
}

export interface PacedRun {
  ok: number;
  failed: number;
  statusCodes: Record<string, number>;
  seconds: number;
}

/**
 * An open-loop load at an even rate: request i is due at start + i/rate, whatever happened to the
 * ones before. Latency runs from the due time, so a request that waited for a free connection
 * counts its wait (no coordinated omission). autocannon's `overallRate` instead lets each
 * connection fire its whole per-second quota back to back, then idle: bursts at full speed.
 */
export async function pacedRun(o: PacedOptions, seconds: number, onResponse: (ms: number) => void): Promise<PacedRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const target = new URL(o.url);
  const total = Math.round(o.rate * seconds);
  if (total < 1) throw new Error(`a paced run of ${seconds} s at ${o.rate} req/s sends no request`);
  const statusCodes: Record<string, number> = {};
  let [ok, failed, sent, done] = [0, 0, 0, 0];
  const started = performance.now();
  const finished = new Promise<void>((resolve) => {
    const settle = (due: number, status: number | undefined) => {
      onResponse(performance.now() - due);
      if (status !== undefined) statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status !== undefined && status >= 200 && status < 300) ok++;
      else failed++;
      if (++done === total) resolve();
    };
    const send = (due: number) => {
      const r = o.requests[sent % o.requests.length];
      let answered = false;
      const once = (status: number | undefined) => {
        if (!answered) settle(due, status);
        answered = true;
      };
      const req = request(
        { agent, host: target.hostname, port: target.port, method: "POST", path: o.path(r), headers: { "content-type": "application/json", "content-length": Buffer.byteLength(r.body), ...o.headers } },
        (res) => {
          res.resume();
          res.once("end", () => once(res.statusCode));
          res.once("error", () => once(undefined));
        },
      );
      req.once("error", () => once(undefined));
      req.end(r.body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && started + (sent * 1000) / o.rate <= now) {
        send(started + (sent * 1000) / o.rate);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, started + (sent * 1000) / o.rate - performance.now()));
    };
    tick();
  });
  await finished;
  agent.destroy();
  return { ok, failed, statusCodes, seconds: (performance.now() - started) / 1000 };
}
