import assert from "node:assert/strict";
import { hostConfigSchema } from "../core/config.js";
import { startRedis, type RedisServer } from "./redis.js";
import { fixture, pluginsDir, startTestHost, type TestHost } from "./support.js";

// ctx.store was one LRU for every tenant: one tenant's writes evicted another's keys (issue 11,
// item 10). Now each tenant has its own quota (storeQuota) and evicts only its own entries.

const PLUGINS = {
  "notes/plugin.json": { store: true },
  "notes/customize_activity.js": `export default async (input, ctx) => {
    if (input.op === "fill") {
      const value = "x".repeat(input.size);
      for (let i = input.from; i < input.from + input.count; i++) await ctx.store.set("k" + i, value);
      return { filled: input.count };
    }
    if (input.op === "set") { await ctx.store.set(input.key, input.value); return { done: true }; }
    const value = await ctx.store.get(input.key);
    return { value: value === undefined ? "missing" : value };
  };`,
};

async function op(host: TestHost, tenant: string, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = await host.post(tenant, "customize_activity", { ...fixture("customize_activity"), ...fields });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.trace.map((t) => t.replace(/;ms=\d+(;v=[0-9a-f]{12})?$/, "")), ["notes;status=ok"], JSON.stringify(answer.body));
  return answer.body.data;
}

/** Writes `count` keys k<from>… of `size` characters for `tenant`, 100 per request. */
async function fill(host: TestHost, tenant: string, from: number, count: number, size: number): Promise<void> {
  for (let done = 0; done < count; done += 100) {
    await op(host, tenant, { op: "fill", from: from + done, count: Math.min(100, count - done), size });
  }
}

const read = async (host: TestHost, tenant: string, key: string) => (await op(host, tenant, { op: "get", key })).value;

describe("each tenant's store quota, through the host", () => {
  it("the default quota is 10,000 entries and 16 MiB per tenant", () => {
    assert.deepEqual(hostConfigSchema.parse({}).storeQuota, { entries: 10_000, mb: 16 });
  });

  it("storeQuota is validated, naming the field", () => {
    const cases: Array<[unknown, string[]]> = [
      [{ entries: 0 }, ["storeQuota", "entries"]],
      [{ entries: 1.5 }, ["storeQuota", "entries"]],
      [{ mb: 0 }, ["storeQuota", "mb"]],
      [{ mb: "16" }, ["storeQuota", "mb"]],
      [{ bytes: 1 }, ["storeQuota"]],
      ["16 MB", ["storeQuota"]],
    ];
    for (const [storeQuota, path] of cases) {
      const parsed = hostConfigSchema.safeParse({ storeQuota });
      assert.equal(parsed.success, false, JSON.stringify(storeQuota));
      assert.deepEqual(parsed.error!.issues[0]!.path, path, JSON.stringify(storeQuota));
    }
  });

  it("with the default quota, a tenant writing 2,400 values of 60,000 characters never evicts another tenant's key", async function () {
    this.timeout(120_000);
    const host = await startTestHost(pluginsDir(PLUGINS), { tenants: { acme: {}, globex: {} } });
    try {
      await op(host, "globex", { op: "set", key: "mine", value: "globex's" });
      // 2,400 values of 60,000 characters: past the old host-wide 256 MiB, far past acme's 16 MiB.
      await fill(host, "acme", 0, 2400, 60_000);
      assert.equal(await read(host, "globex", "mine"), "globex's");
      assert.equal(await read(host, "acme", "k0"), "missing", "acme's oldest value went");
      assert.equal(String(await read(host, "acme", "k2399")).length, 60_000);
    } finally {
      await host.close();
    }
  });

  for (const backend of ["memory", "redis"] as const) {
    describe(`a configured quota, ${backend} backend`, () => {
      let host: TestHost;
      let redis: RedisServer | undefined;
      before(async () => {
        if (backend === "redis") {
          redis = await startRedis();
          process.env.HOOKHOST_REDIS_URL = redis.url;
        }
        try {
          host = await startTestHost(pluginsDir(PLUGINS), { tenants: { acme: {}, globex: {} }, storeQuota: { entries: 20, mb: 1 } });
        } finally {
          delete process.env.HOOKHOST_REDIS_URL;
        }
      });
      after(async () => {
        await host?.close();
        await redis?.stop();
      });

      it("past its entries, a tenant loses its own oldest keys, never another tenant's", async () => {
        await fill(host, "globex", 0, 20, 10);
        await fill(host, "acme", 0, 300, 10);
        for (const key of ["k0", "k10", "k19"]) assert.equal(await read(host, "globex", key), "x".repeat(10), `globex ${key}`);
        for (const key of ["k0", "k100", "k279"]) assert.equal(await read(host, "acme", key), "missing", `acme ${key}`);
        for (const key of ["k280", "k290", "k299"]) assert.equal(await read(host, "acme", key), "x".repeat(10), `acme ${key}`);
      });

      it("past its bytes, likewise", async () => {
        // 1 MiB holds 8 values of 60,000 characters (120,000 bytes each, with the key).
        await fill(host, "globex", 1000, 8, 60_000);
        await fill(host, "acme", 1000, 30, 60_000);
        for (const key of ["k1000", "k1007"]) assert.equal(String(await read(host, "globex", key)).length, 60_000, `globex ${key}`);
        assert.equal(await read(host, "acme", "k1021"), "missing");
        for (const key of ["k1022", "k1029"]) assert.equal(String(await read(host, "acme", key)).length, 60_000, `acme ${key}`);
      });
    });
  }
});
