// The shared store backend: a Redis server, so several hosts behind a load balancer see the same
// values. A hook has at most a few seconds, so when Redis is down a command fails fast instead of
// queueing; the client keeps reconnecting in the background and calls succeed again once it is up.
//
// Each tenant's quota (store-quota.ts) is kept in Redis itself, so every host sharing the server
// counts the same entries: per tenant, a sorted set of its keys by expiry time and a hash of their
// sizes and the total. A write past the quota deletes that tenant's entries closest to expiring
// (the oldest written, at equal TTLs), never another tenant's. Each write and delete is one Lua
// script, so hosts writing at once cannot leave the count wrong.
import { Redis } from "ioredis";
import type { StoreBackend } from "./store.js";
import { entryBytes, type StoreQuota } from "./store-quota.js";

export interface RedisBackendOptions {
  /** Read at every write, so a config reload applies to the next write. */
  quota: () => StoreQuota;
  /** Longest a command (including waiting for a connection attempt in progress) may take. Default 500 ms. */
  commandTimeoutMs?: number;
}

// KEYS: the entry, the tenant's expiry index (sorted set), the tenant's sizes (hash, "*total" = sum;
// entry keys all start with "hookhost:", so they never meet that field).
const FORGET = `
local function forget(member)
  local size = redis.call('HGET', KEYS[3], member)
  if size then
    redis.call('HINCRBY', KEYS[3], '*total', -tonumber(size))
    redis.call('HDEL', KEYS[3], member)
  end
  redis.call('ZREM', KEYS[2], member)
end
`;

// ARGV: value, ttlSec, bytes, quota entries, quota bytes. Redis's own clock, so index and TTLs
// agree; in microseconds (exact in a double for millennia; formatted with %.0f because Lua's own
// number-to-string keeps only 14 digits), so at equal TTLs the index keeps the order of writing.
const SET_SCRIPT = `${FORGET}
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local ttl = tonumber(ARGV[2])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))) do forget(member) end
forget(KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], string.format('%.0f', now + ttl * 1000000), KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[3], '*total', ARGV[3])
local maxEntries, maxBytes = tonumber(ARGV[4]), tonumber(ARGV[5])
while redis.call('ZCARD', KEYS[2]) > maxEntries or tonumber(redis.call('HGET', KEYS[3], '*total')) > maxBytes do
  local victim = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if victim == KEYS[1] then victim = redis.call('ZRANGE', KEYS[2], 1, 1)[1] end
  if not victim then break end
  redis.call('DEL', victim)
  forget(victim)
end
for i = 2, 3 do
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
`;

const DELETE_SCRIPT = `${FORGET}
redis.call('DEL', KEYS[1])
forget(KEYS[1])
`;

/** How often readiness pings Redis; a ping has the command's time limit to answer. */
const PING_INTERVAL_MS = 1000;

type Script = (entry: string, index: string, sizes: string, ...args: Array<string | number>) => Promise<unknown>;

export function createRedisBackend(url: string, opts: RedisBackendOptions): StoreBackend {
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
  client.defineCommand("hookhostSet", { numberOfKeys: 3, lua: SET_SCRIPT });
  client.defineCommand("hookhostDelete", { numberOfKeys: 3, lua: DELETE_SCRIPT });
  const scripts = client as unknown as { hookhostSet: Script; hookhostDelete: Script };
  const indexKeys = (tenant: string) => {
    const prefix = `hookhost-quota:${encodeURIComponent(tenant)}`;
    return [`${prefix}:expiry`, `${prefix}:bytes`] as const;
  };

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

  // Readiness reads this flag and never waits on Redis. A ping a second notices a server that
  // stopped answering on a connection that still looks open (a paused or partitioned Redis).
  let answering = false;
  client.on("ready", () => (answering = true)).on("close", () => (answering = false));
  const pinger = setInterval(() => {
    if (client.status !== "ready") return;
    run(() => client.ping()).then(
      () => (answering = true),
      () => (answering = false),
    );
  }, PING_INTERVAL_MS).unref();

  return {
    async get(_tenant, key) {
      const value = await run(() => client.get(key));
      return value ?? undefined;
    },
    async set(tenant, key, value, ttlSec) {
      const quota = opts.quota();
      await run(() => scripts.hookhostSet(key, ...indexKeys(tenant), value, ttlSec, entryBytes(key, value), quota.entries, quota.bytes));
    },
    async delete(tenant, key) {
      await run(() => scripts.hookhostDelete(key, ...indexKeys(tenant)));
    },
    ready: () => answering && client.status === "ready",
    async close() {
      clearInterval(pinger);
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
