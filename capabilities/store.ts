// ctx.store: small JSON values per tenant and plugin, so a plugin can carry state across the
// stages of one call (CONTRACT §5). This file validates what the script passes and namespaces the
// key; where the values live is the backend's job (store-memory.ts, store-redis.ts).
//
//   get(key)                      → the stored value, or undefined when the key is missing or
//                                   expired (undefined, not null, so a stored null stays distinct)
//   set(key, value, { ttlSec? })  → undefined; ttlSec defaults to DEFAULT_TTL_SEC
//   delete(key)                   → undefined; deleting a missing key is not an error
import { createMemoryBackend } from "./store-memory.js";
import type { StoreQuota } from "./store-quota.js";
import { createRedisBackend } from "./store-redis.js";
import { CapabilityError, type Capability, type CapabilityCall } from "../sandbox/capability.js";

/**
 * Where the capability keeps its strings; keys arrive already namespaced, values serialized. The
 * tenant is passed apart so that a backend keeps each tenant within its own quota (store-quota.ts).
 */
export interface StoreBackend {
  /** Resolves undefined for a missing or expired key. */
  get(tenant: string, key: string): Promise<string | undefined>;
  set(tenant: string, key: string, value: string, ttlSec: number): Promise<void>;
  delete(tenant: string, key: string): Promise<void>;
  /** Whether the store answers now, from what the backend last saw: never waits (a probe reads it). */
  ready(): boolean;
  close(): Promise<void>;
}

export const MAX_VALUE_BYTES = 64 * 1024;
export const DEFAULT_TTL_SEC = 86400;
export const MAX_TTL_SEC = 30 * 86400;
export const MAX_KEY_LENGTH = 256;

/**
 * The Redis backend when HOOKHOST_REDIS_URL is set (hosts behind a balancer share it), else memory.
 * `quota` is each tenant's share, read at every write.
 */
export function createStoreBackend(env: NodeJS.ProcessEnv, quota: () => StoreQuota): StoreBackend {
  const url = env.HOOKHOST_REDIS_URL;
  if (url === undefined || url === "") return createMemoryBackend({ quota });
  // The URL is not echoed: it may carry a password.
  if (!/^rediss?:\/\//.test(url)) throw new Error("HOOKHOST_REDIS_URL must start with redis:// or rediss://");
  return createRedisBackend(url, { quota });
}

export function createStoreCapability(backend: StoreBackend): Capability {
  return {
    async get(call, args) {
      checkArity("get", args, 1);
      const key = namespacedKey(call, args[0]);
      const stored = await bounded(call, () => backend.get(call.tenant, key));
      return stored === undefined ? undefined : JSON.parse(stored);
    },
    async set(call, args) {
      checkArity("set", args, 3);
      const key = namespacedKey(call, args[0]);
      const value = serializeValue(args[1]);
      const ttlSec = readTtl(args[2]);
      await bounded(call, () => backend.set(call.tenant, key, value, ttlSec));
      return undefined;
    },
    async delete(call, args) {
      checkArity("delete", args, 1);
      const key = namespacedKey(call, args[0]);
      await bounded(call, () => backend.delete(call.tenant, key));
      return undefined;
    },
  };
}

function checkArity(method: string, args: unknown[], max: number): void {
  if (args.length > max) {
    throw new CapabilityError(`store.${method} takes at most ${max} argument${max === 1 ? "" : "s"}, got ${args.length}`);
  }
}

// Each part is percent-encoded, so ":" inside a part can never pose as a separator and no key can
// reach another tenant's or plugin's namespace.
function namespacedKey(call: CapabilityCall, key: unknown): string {
  checkKey(key);
  return ["hookhost", call.tenant, call.plugin, key].map((part, i) => (i === 0 ? part : encodeURIComponent(part))).join(":");
}

// Control characters (C0, DEL, C1) and unpaired surrogates; the latter also cannot be encoded.
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") throw new CapabilityError(`store key must be a string, got ${describeType(key)}`);
  if (key.length === 0) throw new CapabilityError("store key must not be empty");
  if (key.length > MAX_KEY_LENGTH) {
    throw new CapabilityError(`store key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`);
  }
  const bad = UNPRINTABLE.exec(key);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new CapabilityError(`store key contains an unprintable character U+${code} at index ${bad.index}`);
  }
}

function serializeValue(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    // BigInt and cycles throw here; so does nesting deeper than the stack.
    const reason = err instanceof RangeError ? "it is nested too deeply" : firstLine(err);
    throw new CapabilityError(`store value is not JSON: ${reason}`);
  }
  if (json === undefined) throw new CapabilityError(`store value is not JSON: it is ${describeType(value)}`);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_VALUE_BYTES) {
    throw new CapabilityError(`store value is ${bytes} bytes as JSON; the limit is ${MAX_VALUE_BYTES}`);
  }
  checkJsonShape(value);
  return json;
}

// JSON.stringify silently turns functions, NaN, Dates, Maps and the like into something else; a
// plugin should learn that at set(), not find a different value at get(). Undefined object
// properties are the one exception: they are left out, as everyone expects from JSON.
// Iterative, because the value may be nested as deep as 64 KiB of "[" allows. Runs after
// JSON.stringify succeeded, so the value has no cycles.
function checkJsonShape(value: unknown): void {
  const pending: Array<[unknown, string]> = [[value, "value"]];
  while (pending.length > 0) {
    const [item, path] = pending.pop()!;
    if (item === null || typeof item === "string" || typeof item === "boolean") continue;
    if (typeof item === "number") {
      if (!Number.isFinite(item)) throw new CapabilityError(`store ${path} is ${item}, which JSON cannot hold`);
      continue;
    }
    if (typeof item !== "object") {
      throw new CapabilityError(`store ${path} is ${describeType(item)}, which JSON cannot hold`);
    }
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) pending.push([item[i], `${path}[${i}]`]);
      continue;
    }
    const proto = Object.getPrototypeOf(item);
    if (proto !== Object.prototype && proto !== null) {
      throw new CapabilityError(`store ${path} is ${describeType(item)}, not a plain object`);
    }
    for (const [name, child] of Object.entries(item)) {
      if (child !== undefined) pending.push([child, `${path}.${name}`]);
    }
  }
}

function readTtl(options: unknown): number {
  if (options === undefined) return DEFAULT_TTL_SEC;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new CapabilityError(`store.set options must be an object like { ttlSec: 3600 }, got ${describeType(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (name !== "ttlSec") throw new CapabilityError(`store.set option "${name}" is unknown; the only option is ttlSec`);
  }
  const { ttlSec } = options as { ttlSec?: unknown };
  if (ttlSec === undefined) return DEFAULT_TTL_SEC;
  if (typeof ttlSec !== "number" || !Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_TTL_SEC) {
    throw new CapabilityError(
      `store.set ttlSec must be a whole number of seconds from 1 to ${MAX_TTL_SEC}, got ${typeof ttlSec === "number" ? ttlSec : describeType(ttlSec)}`,
    );
  }
  return ttlSec;
}

// A backend call settles by the hook's deadline or its abort at the latest. A write that loses the
// race may still land; the script is told it failed, which is the safe side.
function bounded<T>(call: CapabilityCall, work: () => Promise<T>): Promise<T> {
  const aborted = () => new CapabilityError("store call cancelled: the hook run has ended");
  if (call.signal.aborted) return Promise.reject(aborted());
  const left = call.deadline - Date.now();
  if (left <= 0) return Promise.reject(new CapabilityError("store unavailable: the hook's time limit has passed"));
  return new Promise<T>((resolve, reject) => {
    const settle = (done: () => void) => {
      clearTimeout(timer);
      call.signal.removeEventListener("abort", onAbort);
      done();
    };
    const timer = setTimeout(
      () => settle(() => reject(new CapabilityError("store unavailable: no answer before the hook's time limit"))),
      left,
    );
    const onAbort = () => settle(() => reject(aborted()));
    call.signal.addEventListener("abort", onAbort);
    // Through a microtask, so a backend that throws synchronously is reported like one that rejects.
    Promise.resolve().then(work).then(
      (result) => settle(() => resolve(result)),
      (err) => settle(() => reject(new CapabilityError(`store unavailable: ${firstLine(err)}`))),
    );
  });
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n", 1)[0]!.slice(0, 200);
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === "string" && name !== "Object" ? `a ${name}` : "an object";
  }
  if (value === undefined) return "undefined";
  return `a ${typeof value}`;
}
