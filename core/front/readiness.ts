import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

/** Why /readyz answers 503: the plugins are still loading, the port is closed, the store (Redis) does not answer, or the host is stopping. */
export type NotReadyReason = "loading" | "not_listening" | "store_unreachable" | "draining";

/**
 * Whether the host should get traffic (`/readyz`), as opposed to whether it is alive (`/healthz`).
 * Every input is a flag kept up to date elsewhere, so a probe never waits on anything.
 */
export class Readiness {
  private loaded = false;
  private draining = false;

  constructor(
    private readonly server: Server,
    private readonly store: { ready(): boolean },
  ) {}

  /** The plugins folder has been read once: every plugin that loads serves. */
  pluginsLoaded(): void {
    this.loaded = true;
  }

  /** Stopping: /readyz answers 503 from now on, while the host serves on for `ms` so balancers can stop sending first. */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    if (ms > 0) await sleep(ms);
  }

  /** Empty when the host is ready. */
  reasons(): NotReadyReason[] {
    const reasons: NotReadyReason[] = [];
    if (!this.loaded) reasons.push("loading");
    if (!this.server.listening) reasons.push("not_listening");
    if (!this.store.ready()) reasons.push("store_unreachable");
    if (this.draining) reasons.push("draining");
    return reasons;
  }
}

/** The probes' JSON answers; the same before the app is up (below) and in it (http.ts). */
export function readyzBody(reasons: NotReadyReason[]): { status: "ready" } | { status: "not_ready"; reasons: NotReadyReason[] } {
  return reasons.length ? { status: "not_ready", reasons } : { status: "ready" };
}

export const HEALTHZ_BODY = { status: "ok" } as const;

/**
 * Answers the probes while the host is still loading, before the app exists: alive, not ready. A
 * long start (many plugins to compile) must not look like a hung process to a liveness probe.
 * Returns false for every other request, which waits for the app.
 */
export function answerProbeWhileLoading(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "GET") return false;
  const path = (req.url ?? "").split("?", 1)[0];
  if (path !== "/healthz" && path !== "/readyz") return false;
  const [status, body] = path === "/healthz" ? [200, HEALTHZ_BODY] : [503, readyzBody(["loading"])];
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
  return true;
}
