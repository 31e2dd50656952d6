import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort, startRedis, type RedisServer } from "./redis.js";
import { eventually } from "./support.js";
import {
  createStoreBackend,
  createStoreCapability,
  DEFAULT_TTL_SEC,
  MAX_VALUE_BYTES,
  type StoreBackend,
} from "../capabilities/store.js";
import { createMemoryBackend } from "../capabilities/store-memory.js";
import { entryBytes, type StoreQuota } from "../capabilities/store-quota.js";
import { createRedisBackend } from "../capabilities/store-redis.js";
import { CapabilityError, type Capability, type CapabilityCall } from "../sandbox/capability.js";

/** A quota no test here reaches, unless it means to. */
const ROOMY = (): StoreQuota => ({ entries: 1_000_000, bytes: 1 << 30 });

function call(tenant = "acme", plugin = "crm", extra: Partial<CapabilityCall> = {}): CapabilityCall {
  return {
    tenant,
    plugin,
    hook: "conversation_requested",
    allowHosts: [],
    deadline: Date.now() + 10_000,
    signal: new AbortController().signal,
    run: {},
    ...extra,
  };
}

async function rejectsWith(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CapabilityError, `expected a CapabilityError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** How long a promise takes to settle, in ms, and whether it rejected with a store error. */
async function timeToReject(promise: Promise<unknown>, message: RegExp): Promise<number> {
  const started = Date.now();
  await rejectsWith(promise, message);
  return Date.now() - started;
}

interface Harness {
  backend: StoreBackend;
  /** Lets this many seconds pass for the backend's TTLs. */
  elapse(sec: number): Promise<void>;
}

// The behaviour a plugin relies on, whichever backend holds the values.
function storeBehaviour(makeHarness: () => Promise<Harness>): void {
  let harness: Harness;
  let store: Capability;
  beforeEach(async () => {
    harness = await makeHarness();
    store = createStoreCapability(harness.backend);
  });
  afterEach(() => harness.backend.close());

  it("a value set at one stage is read back, as the same JSON, at a later one", async () => {
    const values = [{ deal: 42, owner: { id: "7", tags: ["vip", null] } }, [1, "two", false], "text ✓ 📞", 0, -1.5, true, null];
    for (const [i, value] of values.entries()) await store.set(call(), [`k${i}`, value]);
    for (const [i, value] of values.entries()) assert.deepEqual(await store.get(call(), [`k${i}`]), value);
  });

  it("get of a key never set resolves undefined, while a stored null stays null", async () => {
    assert.equal(await store.get(call(), ["never-set"]), undefined);
    await store.set(call(), ["nothing", null]);
    assert.equal(await store.get(call(), ["nothing"]), null);
  });

  it("set replaces the previous value", async () => {
    await store.set(call(), ["k", { v: 1 }]);
    await store.set(call(), ["k", { v: 2 }]);
    assert.deepEqual(await store.get(call(), ["k"]), { v: 2 });
  });

  it("delete removes a key, and deleting a missing key is not an error", async () => {
    await store.set(call(), ["k", 1]);
    assert.equal(await store.delete(call(), ["k"]), undefined);
    assert.equal(await store.get(call(), ["k"]), undefined);
    assert.equal(await store.delete(call(), ["k"]), undefined);
  });

  it("a value is gone once its ttlSec has passed", async () => {
    await store.set(call(), ["short", "v", { ttlSec: 1 }]);
    await store.set(call(), ["long", "v", { ttlSec: 60 }]);
    assert.equal(await store.get(call(), ["short"]), "v");
    await harness.elapse(1.1);
    assert.equal(await store.get(call(), ["short"]), undefined);
    assert.equal(await store.get(call(), ["long"]), "v");
  });

  it("another tenant or another plugin never sees, changes or deletes the value", async () => {
    await store.set(call("acme", "crm"), ["channel-1", "acme/crm"]);
    assert.equal(await store.get(call("acme", "other"), ["channel-1"]), undefined);
    assert.equal(await store.get(call("globex", "crm"), ["channel-1"]), undefined);
    await store.set(call("globex", "crm"), ["channel-1", "globex/crm"]);
    await store.delete(call("acme", "other"), ["channel-1"]);
    assert.equal(await store.get(call("acme", "crm"), ["channel-1"]), "acme/crm");
    assert.equal(await store.get(call("globex", "crm"), ["channel-1"]), "globex/crm");
  });

  it("keys built to collide under naive joining (:, ../, percent-encoding, prefixes) each keep their own value", async () => {
    const triples: Array<[string, string, string]> = [
      ["a", "b", "c:d"],
      ["a", "b:c", "d"],
      ["a:b", "c", "d"],
      ["a", "b", "c%3Ad"],
      ["a", "b%3Ac", "d"],
      ["a", "b", "c"],
      ["a", "bc", "d"],
      ["a", "b", "../c/d"],
      ["a", "b/../c", "d"],
      ["a", "b", "..%2Fc%2Fd"],
      ["a", "b", "hookhost:a:b:c"],
      ["hookhost", "a", "b:c"],
      ["a", "b", "c "],
      ["a", "b", "C"],
    ];
    for (const [tenant, plugin, key] of triples) await store.set(call(tenant, plugin), [key, [tenant, plugin, key]]);
    for (const [tenant, plugin, key] of triples) {
      assert.deepEqual(await store.get(call(tenant, plugin), [key]), [tenant, plugin, key]);
    }
  });
}

interface QuotaHarness {
  backend: StoreBackend;
}

/** The namespaced key and the bytes an entry of the store capability counts against its tenant's quota. */
function weight(tenant: string, key: string, value: unknown): number {
  return entryBytes(`hookhost:${tenant}:crm:${key}`, JSON.stringify(value));
}

// Each tenant's own quota: one tenant's writes evict only its own entries (issue 11, item 10).
function quotaBehaviour(makeHarness: (quota: () => StoreQuota) => Promise<QuotaHarness>): void {
  let quota: StoreQuota;
  let harness: QuotaHarness;
  let store: Capability;
  const start = async (q: StoreQuota) => {
    quota = q;
    harness = await makeHarness(() => quota);
    store = createStoreCapability(harness.backend);
  };
  const values = (tenant: string, keys: string[]) => Promise.all(keys.map((key) => store.get(call(tenant), [key])));
  afterEach(() => harness.backend.close());

  it("one tenant writing far past its entry quota never evicts another tenant's key", async () => {
    await start({ entries: 5, bytes: 1 << 20 });
    for (const tenant of ["globex", "initech"]) await store.set(call(tenant), ["mine", tenant]);
    for (let i = 0; i < 500; i++) await store.set(call("acme", i % 2 ? "crm" : "other"), [`k${i}`, i]);
    assert.equal(await store.get(call("globex"), ["mine"]), "globex");
    assert.equal(await store.get(call("initech"), ["mine"]), "initech");
    // acme keeps its 5 newest entries, over both of its plugins.
    assert.deepEqual(await values("acme", ["k495", "k497", "k499"]), [495, 497, 499]);
    assert.deepEqual(await Promise.all(["k496", "k498"].map((key) => store.get(call("acme", "other"), [key]))), [496, 498]);
    assert.equal(await store.get(call("acme"), ["k493"]), undefined);
  });

  it("one tenant writing far past its byte quota never evicts another tenant's key", async () => {
    const big = "x".repeat(30_000);
    await start({ entries: 1000, bytes: 3 * weight("acme", "k10", big) });
    await store.set(call("globex"), ["mine", big]);
    for (let i = 10; i < 60; i++) await store.set(call("acme"), [`k${i}`, big]);
    assert.equal(await store.get(call("globex"), ["mine"]), big);
    assert.deepEqual(await values("acme", ["k56", "k57", "k58", "k59"]), [undefined, big, big, big]);
  });

  it("the oldest entries of the writing tenant go first, until the new one fits", async () => {
    const value = "v".repeat(100);
    await start({ entries: 1000, bytes: 3 * weight("acme", "k1", value) });
    for (const key of ["k1", "k2", "k3"]) await store.set(call("acme"), [key, value]);
    await store.set(call("acme"), ["k4", value]);
    assert.deepEqual(await values("acme", ["k1", "k2", "k3", "k4"]), [undefined, value, value, value]);
    const double = "w".repeat(2 * 100 + weight("acme", "k1", "") / 2);
    await store.set(call("acme"), ["k5", double]);
    assert.deepEqual(await values("acme", ["k2", "k3", "k4", "k5"]), [undefined, undefined, value, double]);
  });

  it("replacing and deleting keep the count exact, so nothing is evicted for nothing", async () => {
    await start({ entries: 2, bytes: 2 * weight("acme", "a", "x".repeat(40)) });
    await store.set(call("acme"), ["a", "keep"]);
    for (let i = 0; i < 200; i++) {
      await store.set(call("acme"), ["b", "x".repeat(40)]);
      if (i % 2 === 0) await store.delete(call("acme"), ["b"]);
    }
    assert.equal(await store.get(call("acme"), ["a"]), "keep");
  });

  it("a write never evicts the value it writes", async () => {
    await start({ entries: 1, bytes: 1 << 20 });
    await store.set(call("acme"), ["old", 1, { ttlSec: 600 }]);
    await store.set(call("acme"), ["new", 2, { ttlSec: 1 }]);
    assert.deepEqual(await values("acme", ["old", "new"]), [undefined, 2]);
  });

  it("a lowered quota applies at the tenant's next write, and only to that tenant", async () => {
    await start({ entries: 10, bytes: 1 << 20 });
    for (let i = 0; i < 10; i++) {
      await store.set(call("acme"), [`k${i}`, i]);
      await store.set(call("globex"), [`k${i}`, i]);
    }
    quota = { entries: 2, bytes: 1 << 20 };
    await store.set(call("acme"), ["k10", 10]);
    assert.deepEqual(await values("acme", ["k0", "k8", "k9", "k10"]), [undefined, undefined, 9, 10]);
    assert.deepEqual(await values("globex", ["k0", "k9"]), [0, 9]);
  });
}

// A store that answers nothing, to see the capability give up at the hook's deadline.
const hangingBackend: StoreBackend = {
  get: () => new Promise(() => {}),
  set: () => new Promise(() => {}),
  delete: () => new Promise(() => {}),
  ready: () => false,
  close: async () => {},
};

/** Records what the capability asks of the backend, over a memory backend. */
function recordingBackend(): { backend: StoreBackend; sets: Array<[string, string, number]> } {
  const inner = createMemoryBackend({ quota: ROOMY });
  const sets: Array<[string, string, number]> = [];
  return {
    sets,
    backend: { ...inner, set: (tenant, key, value, ttlSec) => (sets.push([key, value, ttlSec]), inner.set(tenant, key, value, ttlSec)) },
  };
}

describe("store capability (validation, namespacing, time limits)", () => {
  let backend: StoreBackend;
  let store: Capability;
  beforeEach(() => {
    backend = createMemoryBackend({ quota: ROOMY });
    store = createStoreCapability(backend);
  });
  afterEach(() => backend.close());

  it("offers exactly get, set and delete", () => {
    assert.deepEqual(Object.keys(store).sort(), ["delete", "get", "set"]);
  });

  it("a key must be a non-empty string of at most 256 printable characters", async () => {
    for (const method of ["get", "set", "delete"] as const) {
      const withKey = (key: unknown) => store[method](call(), method === "set" ? [key, 1] : [key]);
      await rejectsWith(withKey(42), /store key must be a string, got a number/);
      await rejectsWith(store[method](call(), []), /store key must be a string, got undefined/);
      await rejectsWith(withKey({ toString: () => "k" }), /store key must be a string, got an object/);
      await rejectsWith(withKey(""), /store key must not be empty/);
      await rejectsWith(withKey("x".repeat(257)), /store key is 257 characters long; the limit is 256/);
    }
    await store.set(call(), ["x".repeat(256), "longest"]);
    assert.equal(await store.get(call(), ["x".repeat(256)]), "longest");
  });

  it("a key with a control character or an unpaired surrogate is refused, naming it", async () => {
    const bad: Array<[string, RegExp]> = [
      ["a\u0000b", /unprintable character U\+0000 at index 1/],
      ["../\u0000/x", /U\+0000 at index 3/],
      ["line\nbreak", /U\+000A/],
      ["tab\t", /U\+0009/],
      ["del\u007f", /U\+007F/],
      ["c1\u0085", /U\+0085/],
      ["half\uD83D", /U\+D83D at index 4/],
      ["\uDCDEtail", /U\+DCDE at index 0/],
    ];
    for (const [key, message] of bad) {
      await rejectsWith(store.set(call(), [key, 1]), message);
      await rejectsWith(store.get(call(), [key]), message);
      await rejectsWith(store.delete(call(), [key]), message);
    }
  });

  it("keys with any printable text (spaces, ../, :, %, emoji) are fine", async () => {
    for (const key of ["call 1", "../../etc/passwd", "a:b:c", "100%", "%00", "📞 звонок", "\u00a0nbsp"]) {
      await store.set(call(), [key, key]);
      assert.equal(await store.get(call(), [key]), key);
    }
  });

  it("the backend key is hookhost:<tenant>:<plugin>:<key>, each part percent-encoded", async () => {
    const { backend: recording, sets } = recordingBackend();
    await createStoreCapability(recording).set(call("acme", "crm"), ["../x:y%", 1]);
    assert.equal(sets[0][0], "hookhost:acme:crm:..%2Fx%3Ay%25");
    await recording.close();
  });

  it("a value that is not JSON is refused, naming what and where", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /store value is not JSON: it is undefined/],
      [() => 1, /store value is not JSON: it is a function/],
      [Symbol("s"), /store value is not JSON: it is a symbol/],
      [10n, /store value is not JSON: .*BigInt/],
      [{ a: [1, 2n] }, /store value is not JSON: .*BigInt/],
      [cyclic, /store value is not JSON: .*circular/],
      [deep, /store value is not JSON: it is nested too deeply/],
      [NaN, /store value is NaN, which JSON cannot hold/],
      [{ a: [1, { b: Infinity }] }, /store value\.a\[1\]\.b is Infinity/],
      [{ a: { f: () => 1 } }, /store value\.a\.f is a function/],
      [[1, undefined], /store value\[1\] is undefined/],
      [{ when: new Date(0) }, /store value\.when is a Date, not a plain object/],
      [new Map([["a", 1]]), /store value is a Map, not a plain object/],
      [{ toJSON: () => "x" }, /store value\.toJSON is a function/],
    ];
    for (const [value, message] of bad) await rejectsWith(store.set(call(), ["k", value]), message);
    assert.equal(await store.get(call(), ["k"]), undefined);
  });

  it("undefined object properties are left out, as JSON.stringify does", async () => {
    await store.set(call(), ["k", { a: 1, b: undefined }]);
    assert.deepEqual(await store.get(call(), ["k"]), { a: 1 });
  });

  it("a value may take up to 64 KiB as JSON, counted in UTF-8 bytes", async () => {
    const fits = "x".repeat(MAX_VALUE_BYTES - 2); // plus two quotes
    await store.set(call(), ["k", fits]);
    assert.equal(await store.get(call(), ["k"]), fits);
    await rejectsWith(store.set(call(), ["k", fits + "x"]), /store value is 65537 bytes as JSON; the limit is 65536/);
    const cyrillic = "ж".repeat(MAX_VALUE_BYTES / 2); // 2 bytes each in UTF-8
    await rejectsWith(store.set(call(), ["k", cyrillic]), /store value is 65538 bytes/);
    assert.equal(await store.get(call(), ["k"]), fits);
  });

  it("ttlSec defaults to one day and may be any whole number of seconds up to 30 days", async () => {
    const { backend: recording, sets } = recordingBackend();
    const recorded = createStoreCapability(recording);
    await recorded.set(call(), ["a", 1]);
    await recorded.set(call(), ["b", 1, {}]);
    await recorded.set(call(), ["c", 1, { ttlSec: undefined }]);
    await recorded.set(call(), ["d", 1, { ttlSec: 1 }]);
    await recorded.set(call(), ["e", 1, { ttlSec: 30 * 86400 }]);
    assert.deepEqual(
      sets.map(([, , ttl]) => ttl),
      [DEFAULT_TTL_SEC, DEFAULT_TTL_SEC, DEFAULT_TTL_SEC, 1, 2592000],
    );
    assert.equal(DEFAULT_TTL_SEC, 86400);
    await recording.close();
  });

  it("a bad ttlSec or an unknown option is refused", async () => {
    for (const ttlSec of [0, -1, 1.5, 2592001, Infinity, NaN, "60", null]) {
      await rejectsWith(
        store.set(call(), ["k", 1, { ttlSec }]),
        /store\.set ttlSec must be a whole number of seconds from 1 to 2592000, got /,
      );
    }
    await rejectsWith(store.set(call(), ["k", 1, { ttl: 60 }]), /store\.set option "ttl" is unknown; the only option is ttlSec/);
    await rejectsWith(store.set(call(), ["k", 1, { ttlSec: 60, nx: true }]), /option "nx" is unknown/);
    await rejectsWith(store.set(call(), ["k", 1, 60]), /store\.set options must be an object like \{ ttlSec: 3600 \}, got a number/);
    await rejectsWith(store.set(call(), ["k", 1, null]), /options must be an object .*got null/);
    await rejectsWith(store.set(call(), ["k", 1, [60]]), /options must be an object .*got an array/);
    assert.equal(await store.get(call(), ["k"]), undefined);
  });

  it("extra arguments are refused", async () => {
    await rejectsWith(store.get(call(), ["k", "extra"]), /store\.get takes at most 1 argument, got 2/);
    await rejectsWith(store.delete(call(), ["k", "extra"]), /store\.delete takes at most 1 argument, got 2/);
    await rejectsWith(store.set(call(), ["k", 1, {}, "extra"]), /store\.set takes at most 3 arguments, got 4/);
  });

  it("a backend that does not answer is given up at the hook's deadline", async () => {
    const hanging = createStoreCapability(hangingBackend);
    for (const method of ["get", "set", "delete"] as const) {
      const ms = await timeToReject(
        hanging[method](call("acme", "crm", { deadline: Date.now() + 100 }), method === "set" ? ["k", 1] : ["k"]),
        /store unavailable: no answer before the hook's time limit/,
      );
      assert.ok(ms >= 90 && ms < 1000, `gave up after ${ms} ms`);
    }
  });

  it("a call made after the deadline, or after the run was aborted, never reaches the backend", async () => {
    let reached = 0;
    const counting = createStoreCapability({ ...hangingBackend, get: () => (reached++, new Promise(() => {})) });
    await rejectsWith(counting.get(call("acme", "crm", { deadline: Date.now() - 1 }), ["k"]), /store unavailable: the hook's time limit has passed/);
    await rejectsWith(counting.get(call("acme", "crm", { signal: AbortSignal.abort() }), ["k"]), /store call cancelled: the hook run has ended/);
    assert.equal(reached, 0);
  });

  it("aborting the run settles a pending call at once", async () => {
    const controller = new AbortController();
    const pending = createStoreCapability(hangingBackend).get(call("acme", "crm", { signal: controller.signal }), ["k"]);
    setTimeout(() => controller.abort(), 20);
    const ms = await timeToReject(pending, /store call cancelled: the hook run has ended/);
    assert.ok(ms < 1000, `settled after ${ms} ms`);
  });

  it("a backend failure, thrown or rejected, becomes 'store unavailable: <reason>'", async () => {
    const failing = createStoreCapability({
      ...hangingBackend,
      get: async () => {
        throw new Error("Redis is not connected\nsecond line");
      },
      set: () => {
        throw new Error("thrown synchronously");
      },
    });
    await rejectsWith(failing.get(call(), ["k"]), /^store unavailable: Redis is not connected$/);
    await rejectsWith(failing.set(call(), ["k", 1]), /^store unavailable: thrown synchronously$/);
  });
});

describe("memory store backend", () => {
  describe("shared behaviour", () => {
    storeBehaviour(async () => {
      let clock = 1_000_000;
      return { backend: createMemoryBackend({ quota: ROOMY, now: () => clock }), elapse: async (sec) => void (clock += sec * 1000) };
    });
  });

  describe("each tenant's quota", () => {
    quotaBehaviour(async (quota) => ({ backend: createMemoryBackend({ quota }) }));
  });

  it("expires a value exactly when its ttlSec has passed", async () => {
    let clock = 0;
    const backend = createMemoryBackend({ quota: ROOMY, now: () => clock });
    await backend.set("t", "k", "v", 2);
    clock = 1999;
    assert.equal(await backend.get("t", "k"), "v");
    clock = 2000;
    assert.equal(await backend.get("t", "k"), undefined);
    await backend.close();
  });

  it("within a tenant, the least recently used entry is evicted first (a read counts as use)", async () => {
    const backend = createMemoryBackend({ quota: () => ({ entries: 3, bytes: 1 << 20 }) });
    for (const key of ["k1", "k2", "k3"]) await backend.set("t", key, "v", 60);
    await backend.get("t", "k1"); // k2 is now the least recently used
    await backend.set("t", "k4", "v", 60);
    assert.deepEqual(
      await Promise.all(["k1", "k2", "k3", "k4"].map((key) => backend.get("t", key))),
      ["v", undefined, "v", "v"],
    );
    await backend.close();
  });

  it("past the byte quota the tenant's oldest entries go until the new one fits", async () => {
    // Each entry weighs 2 bytes per UTF-16 unit of key and value: "kN" + 8 chars = 20 bytes.
    const backend = createMemoryBackend({ quota: () => ({ entries: 100, bytes: 60 }) });
    for (const key of ["k1", "k2", "k3"]) await backend.set("t", key, "12345678", 60);
    await backend.set("t", "k4", "12345678", 60);
    assert.equal(await backend.get("t", "k1"), undefined);
    assert.equal(await backend.get("t", "k2"), "12345678");
    await backend.set("t", "k5", "x".repeat(20), 60); // 44 bytes: only k5 itself fits
    assert.deepEqual(
      await Promise.all(["k2", "k3", "k4", "k5"].map((key) => backend.get("t", key))),
      [undefined, undefined, undefined, "x".repeat(20)],
    );
    await backend.close();
  });

  it("replacing and deleting keep the byte count exact, so nothing is evicted for nothing", async () => {
    const backend = createMemoryBackend({ quota: () => ({ entries: 100, bytes: 100 }) });
    await backend.set("t", "a", "keep", 60);
    for (let i = 0; i < 1000; i++) {
      await backend.set("t", "b", "x".repeat(30), 60);
      await backend.get("t", "b");
      if (i % 2 === 0) await backend.delete("t", "b");
    }
    assert.equal(await backend.get("t", "a"), "keep");
    await backend.close();
  });

  it("a periodic sweep drops expired entries nobody reads, so they do not push out live ones", async () => {
    let clock = 0;
    const backend = createMemoryBackend({ quota: () => ({ entries: 2, bytes: 1 << 20 }), now: () => clock, sweepIntervalMs: 10 });
    await backend.set("t", "live", "v", 100);
    await backend.set("t", "expiring", "v", 1);
    clock = 2000;
    await sleep(100);
    // Without the sweep the store would hold two entries and evict "live", the oldest.
    await backend.set("t", "new", "v", 100);
    assert.equal(await backend.get("t", "live"), "v");
    await backend.close();
  });

  it("refuses a sweep interval that is not a positive whole number", () => {
    for (const sweepIntervalMs of [0, -1, 1.5]) {
      assert.throws(() => createMemoryBackend({ quota: ROOMY, sweepIntervalMs }), /sweepIntervalMs must be a positive whole number/);
    }
  });
});

describe("redis store backend (a real redis-server)", () => {
  let redis: RedisServer;
  let admin: Redis;
  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  after(async () => {
    await admin?.quit();
    await redis?.stop();
  });

  describe("shared behaviour", () => {
    storeBehaviour(async () => {
      await admin.flushall();
      return { backend: createRedisBackend(redis.url, { quota: ROOMY }), elapse: (sec) => sleep(sec * 1000) };
    });
  });

  describe("each tenant's quota", () => {
    quotaBehaviour(async (quota) => {
      await admin.flushall();
      return { backend: createRedisBackend(redis.url, { quota }) };
    });
  });

  it("counts each tenant once for every host sharing the server, and evicts the entry closest to expiring", async () => {
    await admin.flushall();
    const quota = () => ({ entries: 3, bytes: 1 << 20 });
    const [one, two] = [createRedisBackend(redis.url, { quota }), createRedisBackend(redis.url, { quota })];
    try {
      await Promise.all([
        createStoreCapability(one).set(call("acme"), ["long", 1, { ttlSec: 600 }]),
        createStoreCapability(two).set(call("acme"), ["short", 1, { ttlSec: 60 }]),
        createStoreCapability(one).set(call("acme"), ["mid", 1, { ttlSec: 300 }]),
      ]);
      await createStoreCapability(two).set(call("acme"), ["new", 1, { ttlSec: 120 }]);
      const read = createStoreCapability(one);
      assert.deepEqual(await Promise.all(["long", "short", "mid", "new"].map((key) => read.get(call("acme"), [key]))), [1, undefined, 1, 1]);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("the quota's bookkeeping keys expire with the tenant's longest-lived entry", async () => {
    await admin.flushall();
    const backend = createRedisBackend(redis.url, { quota: ROOMY });
    const store = createStoreCapability(backend);
    await store.set(call("acme"), ["a", 1, { ttlSec: 100 }]);
    await store.set(call("acme"), ["b", 1, { ttlSec: 50 }]);
    for (const key of ["hookhost-quota:acme:expiry", "hookhost-quota:acme:bytes"]) {
      const ttl = await admin.ttl(key);
      assert.ok(ttl > 90 && ttl <= 100, `${key}: ttl ${ttl}`);
    }
    await backend.close();
  });

  it("stores under the namespaced key with the TTL in Redis itself", async () => {
    const backend = createRedisBackend(redis.url, { quota: ROOMY });
    await createStoreCapability(backend).set(call("acme", "crm"), ["chan:1", { a: 1 }, { ttlSec: 120 }]);
    assert.equal(await admin.get("hookhost:acme:crm:chan%3A1"), '{"a":1}');
    const ttl = await admin.ttl("hookhost:acme:crm:chan%3A1");
    assert.ok(ttl > 110 && ttl <= 120, `ttl ${ttl}`);
    await backend.close();
  });

  it("the first call right after start waits for the connection instead of failing", async () => {
    const backend = createRedisBackend(redis.url, { quota: ROOMY });
    const store = createStoreCapability(backend);
    await store.set(call(), ["first", 1]);
    assert.equal(await store.get(call(), ["first"]), 1);
    await backend.close();
  });

  it("with nothing listening, a call fails fast with 'store unavailable'", async () => {
    const backend = createRedisBackend(`redis://127.0.0.1:${await freePort()}`, { quota: ROOMY, commandTimeoutMs: 5000 });
    const store = createStoreCapability(backend);
    const ms = await timeToReject(store.get(call(), ["k"]), /^store unavailable: Redis is not connected$/);
    assert.ok(ms < 1000, `failed after ${ms} ms`);
    await backend.close();
  });

  describe("a Redis that accepts connections but never answers", () => {
    let silent: net.Server;
    let sockets: net.Socket[];
    let url: string;
    before(async () => {
      sockets = [];
      silent = net.createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      url = `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    });
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it("a call fails after commandTimeoutMs", async () => {
      const backend = createRedisBackend(url, { quota: ROOMY, commandTimeoutMs: 200 });
      const ms = await timeToReject(createStoreCapability(backend).get(call(), ["k"]), /^store unavailable: Redis did not answer in time$/);
      assert.ok(ms >= 150 && ms < 1000, `failed after ${ms} ms`);
      await backend.close();
    });

    it("a call fails at the hook's deadline when that comes before the command timeout", async () => {
      const backend = createRedisBackend(url, { quota: ROOMY, commandTimeoutMs: 5000 });
      const ms = await timeToReject(
        createStoreCapability(backend).set(call("acme", "crm", { deadline: Date.now() + 150 }), ["k", 1]),
        /^store unavailable: no answer before the hook's time limit$/,
      );
      assert.ok(ms >= 100 && ms < 1000, `failed after ${ms} ms`);
      await backend.close();
    });
  });

  it("Redis stopped mid-run: calls fail fast, then succeed again by themselves once it is back", async () => {
    const own = await startRedis();
    const backend = createRedisBackend(own.url, { quota: ROOMY });
    const store = createStoreCapability(backend);
    let restarted: RedisServer | undefined;
    try {
      await store.set(call(), ["k", "before"]);
      await own.stop();
      for (const attempt of [store.get(call(), ["k"]), store.set(call(), ["k", "during"])]) {
        const ms = await timeToReject(attempt, /^store unavailable: Redis /);
        assert.ok(ms < 1000, `failed after ${ms} ms`);
      }
      restarted = await startRedis(own.port);
      await eventually(() => store.set(call(), ["k", "after"]), 5000);
      assert.equal(await store.get(call(), ["k"]), "after");
    } finally {
      await backend.close();
      await restarted?.stop();
    }
  });

  it("close() returns promptly even while Redis is down", async () => {
    const backend = createRedisBackend(`redis://127.0.0.1:${await freePort()}`, { quota: ROOMY });
    const started = Date.now();
    await backend.close();
    assert.ok(Date.now() - started < 1000);
  });
});

describe("createStoreBackend", () => {
  it("without HOOKHOST_REDIS_URL: an in-memory store private to the process", async () => {
    const one = createStoreBackend({}, ROOMY);
    const two = createStoreBackend({ HOOKHOST_REDIS_URL: "" }, ROOMY);
    await one.set("t", "k", "v", 60);
    assert.equal(await one.get("t", "k"), "v");
    assert.equal(await two.get("t", "k"), undefined);
    await one.close();
    await two.close();
  });

  it("with HOOKHOST_REDIS_URL: the Redis server there, shared by every host that names it", async () => {
    const redis = await startRedis();
    const one = createStoreBackend({ HOOKHOST_REDIS_URL: redis.url }, ROOMY);
    const two = createStoreBackend({ HOOKHOST_REDIS_URL: redis.url }, ROOMY);
    try {
      await one.set("t", "k", "shared", 60);
      assert.equal(await two.get("t", "k"), "shared");
    } finally {
      await one.close();
      await two.close();
      await redis.stop();
    }
  });

  it("refuses a HOOKHOST_REDIS_URL that is not redis:// or rediss://, without echoing it", () => {
    for (const url of ["localhost:6379", "http://user:secret@host:6379"]) {
      assert.throws(
        () => createStoreBackend({ HOOKHOST_REDIS_URL: url }, ROOMY),
        (err: Error) => /HOOKHOST_REDIS_URL must start with redis:\/\/ or rediss:\/\//.test(err.message) && !err.message.includes(url),
      );
    }
  });
});
