// plugin.json may ask for less memory and time than the host config allows, never for more
// (issue 11 #2): the host's memoryMb and timeouts are ceilings, raised only by the operator.
import assert from "node:assert/strict";
import { fixture, keepingLogger, pluginsDir, startTestHost, statuses, type LogLine, type TestHost } from "./support.js";

// Memory is tried on one hook, time on another, so neither limit gets in the way of the other.
const MEMORY_HOOK = "customize_entity";
const TIME_HOOK = "customize_activity";
// 48 MiB kept alive in the JS heap, a double array of 1 MiB at a time; or 1 s of CPU. Only the
// plugin the input names works: the others answer at once.
const WORK = `export default (input, ctx) => {
  if (input.only !== ctx.plugin) return null;
  if (input.alloc) { const held = []; for (let i = 0; i < 48; i++) held.push(new Array(131072).fill(i + 0.5)); return { held: held.length }; }
  if (input.spin) { const end = Date.now() + 1000; while (Date.now() < end) {} return { spun: true }; }
  return null;
};`;
const GREEDY = { memoryMb: 4096, timeouts: { [TIME_HOOK]: 60_000, [MEMORY_HOOK]: 60_000 } };

const CONFIG = {
  memoryMb: 16,
  timeouts: { [TIME_HOOK]: 300 },
  tenants: {
    small: {},
    big: { limits: { memoryMb: 128, timeouts: { [TIME_HOOK]: 3000 } } },
  },
  pluginLimits: { favoured: { memoryMb: 128, timeouts: { default: 3000 } } },
  adminToken: "admin",
};

const plugin = (name: string, manifest: object) => ({ [`${name}/plugin.json`]: manifest, [`${name}/${MEMORY_HOOK}.js`]: WORK, [`${name}/${TIME_HOOK}.js`]: WORK });

describe("plugin limits: the host's memoryMb and timeouts are ceilings", () => {
  let host: TestHost;
  before(async () => {
    host = await startTestHost(pluginsDir(plugin("greedy", GREEDY)), { memoryMb: 16, timeouts: { [TIME_HOOK]: 300 }, tenants: { acme: {} } });
  });
  after(() => host.close());

  it("plugin.json memoryMb 4096 gets the host's 16 MB: 48 MiB fails", async function () {
    this.timeout(20_000);
    const answer = await host.post("acme", MEMORY_HOOK, { ...fixture(MEMORY_HOOK), alloc: true, only: "greedy" });
    assert.deepEqual(statuses(answer.trace), ["greedy;status=error"]);
  });

  it("plugin.json timeouts of 60 s get the host's 300 ms: 1 s of work times out", async function () {
    this.timeout(20_000);
    const answer = await host.post("acme", TIME_HOOK, { ...fixture(TIME_HOOK), spin: true, only: "greedy" });
    assert.deepEqual(statuses(answer.trace), ["greedy;status=timeout"]);
  });
});

describe("plugin limits: ceilings raised per tenant and per plugin", () => {
  let host: TestHost;
  let lines: LogLine[];
  before(async () => {
    const kept = keepingLogger("warn");
    lines = kept.lines;
    host = await startTestHost(
      pluginsDir({ ...plugin("greedy", GREEDY), ...plugin("favoured", GREEDY), ...plugin("modest", { memoryMb: 8, timeouts: { [TIME_HOOK]: 100 } }), ...plugin("silent", {}) }),
      CONFIG,
      undefined,
      kept.logger,
    );
  });
  after(() => host.close());

  const run = async (tenant: string, plugin: string, attack: "alloc" | "spin") => {
    const hook = attack === "alloc" ? MEMORY_HOOK : TIME_HOOK;
    const answer = await host.post(tenant, hook, { ...fixture(hook), [attack]: true, only: plugin });
    assert.equal(answer.status, 200);
    return statuses(answer.trace).find((t) => t.startsWith(`${plugin};`));
  };
  const statusOf = async (tenant: string) => (await (await fetch(`${host.url}/v1/tenants/${tenant}/plugins`, { headers: { authorization: "Bearer admin" } })).json()) as any;

  it("memoryMb above the host's is clamped to it: 48 MiB fails under the host's 16 MB", async function () {
    this.timeout(20_000);
    assert.equal(await run("small", "greedy", "alloc"), "greedy;status=error");
  });

  it("timeouts above the host's are clamped to it: 1 s of work times out under the host's 300 ms", async function () {
    this.timeout(20_000);
    assert.equal(await run("small", "greedy", "spin"), "greedy;status=timeout");
  });

  it("a plugin that asks nothing gets the ceiling, the same as one that asks too much", async function () {
    this.timeout(20_000);
    assert.equal(await run("small", "silent", "alloc"), "silent;status=error");
    assert.equal(await run("big", "silent", "alloc"), "silent;status=ok");
  });

  it("a tenant's raised ceilings apply to that tenant's sandboxes only", async function () {
    this.timeout(20_000);
    assert.equal(await run("big", "greedy", "alloc"), "greedy;status=ok");
    assert.equal(await run("big", "greedy", "spin"), "greedy;status=ok");
    assert.equal(await run("small", "greedy", "alloc"), "greedy;status=error");
  });

  it("a plugin's raised ceilings apply to that plugin for every tenant", async function () {
    this.timeout(20_000);
    assert.equal(await run("small", "favoured", "alloc"), "favoured;status=ok");
    assert.equal(await run("small", "favoured", "spin"), "favoured;status=ok");
  });

  it("a plugin may ask for less than its ceilings, and gets it", async function () {
    this.timeout(20_000);
    assert.equal(await run("big", "modest", "spin"), "modest;status=timeout");
    assert.equal(await run("big", "modest", "alloc"), "modest;status=error");
  });

  it("the status says what was clamped, for that tenant", async () => {
    const clampedOf = async (tenant: string, plugin: string) => (await statusOf(tenant)).plugins.find((p: any) => p.name === plugin).clamped;
    assert.deepEqual(await clampedOf("small", "greedy"), [
      { field: "memoryMb", asked: 4096, granted: 16 },
      { field: `timeouts.${TIME_HOOK}`, asked: 60_000, granted: 300 },
      { field: `timeouts.${MEMORY_HOOK}`, asked: 60_000, granted: 2000 },
    ]);
    assert.deepEqual(await clampedOf("big", "greedy"), [
      { field: "memoryMb", asked: 4096, granted: 128 },
      { field: `timeouts.${TIME_HOOK}`, asked: 60_000, granted: 3000 },
      { field: `timeouts.${MEMORY_HOOK}`, asked: 60_000, granted: 2000 },
    ]);
    assert.deepEqual(await clampedOf("small", "favoured"), [
      { field: "memoryMb", asked: 4096, granted: 128 },
      { field: `timeouts.${TIME_HOOK}`, asked: 60_000, granted: 3000 },
      { field: `timeouts.${MEMORY_HOOK}`, asked: 60_000, granted: 3000 },
    ]);
    assert.equal(await clampedOf("big", "modest"), undefined);
    assert.equal(await clampedOf("big", "silent"), undefined);
  });

  it("a warn line per plugin and group of tenants says what was clamped", () => {
    const clamps = lines.filter((l) => /clamped/.test(l.message));
    const greedy = clamps.filter((l) => l.plugin === "greedy").map((l) => ({ tenants: l.tenants, fields: (l.clamped as any[]).map((c) => `${c.field} ${c.asked}→${c.granted}`) }));
    assert.deepEqual(greedy.sort((a: any, b: any) => (a.tenants[0] < b.tenants[0] ? -1 : 1)), [
      { tenants: ["big"], fields: ["memoryMb 4096→128", `timeouts.${TIME_HOOK} 60000→3000`, `timeouts.${MEMORY_HOOK} 60000→2000`] },
      { tenants: ["small"], fields: ["memoryMb 4096→16", `timeouts.${TIME_HOOK} 60000→300`, `timeouts.${MEMORY_HOOK} 60000→2000`] },
    ]);
    assert.deepEqual(clamps.filter((l) => l.plugin === "modest" || l.plugin === "silent"), []);
  });
});

describe("plugin limits: ceilings in the host config", () => {
  it("a raise that is not a limit is refused, naming its path", async () => {
    const { hostConfigSchema } = await import("../core/config.js");
    const parsed = hostConfigSchema.safeParse({ tenants: { acme: { limits: { memoryMb: 1_000_000, timeouts: { need_registraton: 5 } } } }, pluginLimits: { "Bad Name": {}, ok: { memory: 1 } } });
    assert.equal(parsed.success, false);
    const paths = parsed.error!.issues.map((i) => i.path.join("."));
    assert.deepEqual(paths.sort(), ["pluginLimits.Bad Name", "pluginLimits.ok", "tenants.acme.limits.memoryMb", "tenants.acme.limits.timeouts"]);
  });
});
