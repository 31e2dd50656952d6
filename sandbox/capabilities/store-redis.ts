// The shared store backend: a Redis server, so several hosts behind a load balancer see the same
// values. A hook has at most a few seconds, so when Redis is down a command fails fast instead of
// queueing; the client keeps reconnecting in the background and calls succeed again once it is up.
import { Redis } from "ioredis";
import type { StoreBackend } from "./store.js";

export interface RedisBackendOptions {
  /** Longest a command (including waiting for a connection attempt in progress) may take. Default 500 ms. */
  commandTimeoutMs?: number;
}

export function createRedisBackend(url: string, opts: RedisBackendOptions = {}): StoreBackend {
  const timeoutMs = opts.commandTimeoutMs ?? 500;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new Error(`redis store option commandTimeoutMs must be a positive whole number, got ${timeoutMs}`);
  }
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    // Retry often enough that a restarted Redis is picked up within about a second.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  // Every failed command already reaches its caller as "store unavailable"; without a listener
  // ioredis would also print each connection error to the console.
  client.on("error", () => {});

  // One timer bounds the whole call: waiting for a connection attempt plus the command itself.
  const run = <T>(command: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const gaveUp = new AbortController();
      const timeout = setTimeout(() => {
        gaveUp.abort();
        reject(new Error("Redis did not answer in time"));
      }, timeoutMs);
      connected(client, gaveUp.signal)
        .then(command)
        .then(resolve, (err) => reject(new Error(shortReason(err))))
        .finally(() => clearTimeout(timeout));
    });

  return {
    async get(key) {
      const value = await run(() => client.get(key));
      return value ?? undefined;
    },
    async set(key, value, ttlSec) {
      await run(() => client.set(key, value, "EX", ttlSec));
    },
    async delete(key) {
      await run(() => client.del(key));
    },
    async close() {
      // quit lets pending replies arrive first; without a ready connection there is nothing to wait for.
      if (client.status === "ready") await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}

// Ready: go. A connection attempt in progress (notably right after start): wait for it, within
// the command's time. Disconnected and waiting to retry: fail now rather than eat the hook's time.
function connected(client: Redis, timeout: AbortSignal): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  if (!["wait", "connecting", "connect"].includes(client.status)) return Promise.reject(new NotConnected());
  return new Promise((resolve, reject) => {
    const done = (settle: () => void) => {
      client.off("ready", onReady);
      client.off("close", onClose);
      timeout.removeEventListener("abort", onClose);
      settle();
    };
    const onReady = () => done(resolve);
    const onClose = () => done(() => reject(new NotConnected()));
    client.once("ready", onReady);
    client.once("close", onClose);
    timeout.addEventListener("abort", onClose);
  });
}

class NotConnected extends Error {
  override message = "Redis is not connected";
}

// What reaches the plugin author: short, and free of addresses and credentials.
function shortReason(err: unknown): string {
  if (err instanceof NotConnected) return err.message;
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : "";
  if (message === "Command timed out") return "Redis did not answer in time";
  if (name === "ReplyError") return `Redis refused the command (${message.split(" ", 1)[0]})`;
  return "Redis connection lost";
}
