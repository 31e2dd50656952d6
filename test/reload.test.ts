import assert from "node:assert/strict";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, fixture, lanesOn, pluginsDir, startTestHost, statuses, writePlugins, type TestHost } from "./support.js";

const phone = fixture("process_client_phone");
const tagger = (tag: string) => `export default (input) => ({ phone: input.phone + "-${tag}" })`;


async function statusOf(host: TestHost, tenant = "default", headers: Record<string, string> = {}) {
  const response = await fetch(`${host.url}/v1/tenants/${tenant}/plugins`, { headers });
  return { status: response.status, body: (await response.json()) as any };
}

describe("hot reload (CONTRACT §3)", () => {
  let host: TestHost;
  beforeEach(async () => {
    host = await startTestHost(pluginsDir({ "a/plugin.json": { priority: 10 }, "a/process_client_phone.js": tagger("a1") }));
  });
  afterEach(() => host.close());

  it("a dropped folder serves within 2 s, without a restart", async () => {
    writePlugins(host.dir, { "b/plugin.json": { priority: 20 }, "b/process_client_phone.js": tagger("b1") });
    const started = Date.now();
    await eventually(async () => assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-a1-b1"));
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it("a changed script, and a changed helper under lib/, take effect", async () => {
    writePlugins(host.dir, { "a/process_client_phone.js": tagger("a2") });
    await eventually(async () => assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-a2"));
    writePlugins(host.dir, {
      "a/lib/tag.js": `export const tag = "lib1";`,
      "a/process_client_phone.js": `import { tag } from "./lib/tag.js"; export default (i) => ({ phone: i.phone + "-" + tag })`,
    });
    await eventually(async () => assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-lib1"));
    writePlugins(host.dir, { "a/lib/tag.js": `export const tag = "lib2";` });
    await eventually(async () => assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-lib2"));
  });

  it("a folder that breaks keeps serving its last good version, reported stale with file and line, until fixed", async () => {
    writePlugins(host.dir, { "a/process_client_phone.js": `export default (input) => ({ phone: input.phone +\n  ;; })` });
    await eventually(async () => assert.equal((await statusOf(host)).body.plugins[0].state, "stale"));
    const stale = (await statusOf(host)).body.plugins[0];
    assert.equal(stale.name, "a");
    assert.equal(stale.error.file, "process_client_phone.js");
    assert.equal(typeof stale.error.line, "number");
    assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-a1");
    writeFileSync(join(host.dir, "a/plugin.json"), `{ "priority": 10, "prioritty": 3 }`);
    await eventually(async () => assert.match((await statusOf(host)).body.plugins[0].error.message, /prioritty/));
    assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-a1");
    writePlugins(host.dir, { "a/plugin.json": { priority: 10 }, "a/process_client_phone.js": tagger("fixed") });
    await eventually(async () => assert.equal((await statusOf(host)).body.plugins[0].state, "ok"));
    assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-fixed");
  });

  it("a removed folder stops serving; a renamed one behaves like remove + add", async () => {
    renameSync(join(host.dir, "a"), join(host.dir, "renamed"));
    await eventually(async () => assert.deepEqual((await statusOf(host)).body.plugins.map((p: any) => p.folder), ["renamed"]));
    const answer = await host.post("default", "process_client_phone", phone);
    assert.deepEqual(statuses(answer.trace), ["renamed;status=ok"], "the name defaults to the folder: a new plugin");
    rmSync(join(host.dir, "renamed"), { recursive: true });
    await eventually(async () => assert.deepEqual((await statusOf(host)).body.plugins, []));
    const none = await host.post("default", "process_client_phone", phone);
    assert.deepEqual(none.body.data, { phone: "89213451807" });
    assert.deepEqual(none.trace, []);
  });

  it("renaming a plugin's name in plugin.json replaces it", async () => {
    writePlugins(host.dir, { "a/plugin.json": { name: "alpha", priority: 10 } });
    await eventually(async () => assert.deepEqual(statuses((await host.post("default", "process_client_phone", phone)).trace), ["alpha;status=ok"]));
  });

  it("a folder written slowly, file by file, is loaded once and complete", async () => {
    const loadsBefore = await reloadCount(host);
    writePlugins(host.dir, { "slow/plugin.json": { priority: 5 } });
    await sleep(120);
    writePlugins(host.dir, { "slow/lib/x.js": `export const x = "slow";` });
    await sleep(120);
    writePlugins(host.dir, { "slow/process_client_phone.js": `import { x } from "./lib/x.js"; export default (i) => ({ phone: i.phone + "-" + x })` });
    await eventually(async () => assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "89213451807-slow-a1"));
    await host.settled();
    assert.equal((await reloadCount(host)) - loadsBefore, 1);
  });

  it("200 rapid edits while requests run: no failed request, every answer from a complete version", async function () {
    this.timeout(30_000);
    let stop = false;
    const seen = new Set<string>();
    const load = (async () => {
      let failures = 0;
      while (!stop) {
        const answer = await host.post("default", "process_client_phone", phone);
        if (answer.status !== 200) failures++;
        // version N's script and helper agree: "vN-vN"; a mix of two versions would not
        const m = /-v(\d+)-v(\d+)$/.exec(answer.body.data.phone);
        if (m) {
          assert.equal(m[1], m[2], `answer mixed versions: ${answer.body.data.phone}`);
          seen.add(m[1]);
        }
      }
      return failures;
    })();
    for (let v = 1; v <= 200; v++) {
      writePlugins(host.dir, {
        "a/lib/v.js": `export const v = "v${v}";`,
        "a/process_client_phone.js": `import { v } from "./lib/v.js"; export default (i) => ({ phone: i.phone + "-" + v + "-v${v}" })`,
      });
      await sleep(v % 20 === 0 ? 400 : 5);
    }
    await eventually(async () => assert.match((await host.post("default", "process_client_phone", phone)).body.data.phone, /-v200-v200$/));
    stop = true;
    assert.equal(await load, 0);
    assert.ok(seen.size >= 2, `saw versions ${[...seen]}`);
  });
});

describe("host config reload", () => {
  it("new tenants and tokens apply; a bad config keeps the last good one", async () => {
    const dir = pluginsDir({ "a/plugin.json": {}, "a/process_client_phone.js": tagger("a") });
    const configFile = join(dir, "..", `hookhost-${Date.now()}.json`);
    writeFileSync(configFile, JSON.stringify({ tenants: { acme: { token: "t1" } } }));
    const host = await startTestHost(dir, { tenants: { acme: { token: "t1" } } }, configFile);
    try {
      writeFileSync(configFile, JSON.stringify({ tenants: { acme: { token: "t2" }, globex: { token: "g" } } }));
      await eventually(async () => assert.equal((await host.post("globex", "process_client_phone", phone, { authorization: "Bearer g" })).status, 200));
      assert.equal((await host.post("acme", "process_client_phone", phone, { authorization: "Bearer t1" })).status, 401);
      writeFileSync(configFile, JSON.stringify({ tenants: { acme: { token: "t3", tokn: 1 } } }));
      await sleep(1000);
      assert.equal((await host.post("acme", "process_client_phone", phone, { authorization: "Bearer t2" })).status, 200);
      const metrics = await (await fetch(`${host.url}/metrics`)).text();
      assert.match(metrics, /hookhost_reload_failures_total\{kind="config"\} 1/);
    } finally {
      await host.close();
      rmSync(configFile, { force: true });
    }
  });
});

describe("requests in flight", () => {
  it("finish on the sandboxes they started with when the config or the plugin changes under them", async () => {
    const slow = (tag: string) => `export default (input) => { const end = Date.now() + 700; while (Date.now() < end); return { phone: input.phone + "-${tag}" }; }`;
    const dir = pluginsDir({ "slow/plugin.json": {}, "slow/process_client_phone.js": slow("v1") });
    const configFile = join(dir, "..", `hookhost-inflight-${Date.now()}.json`);
    writeFileSync(configFile, JSON.stringify({ tenants: { acme: {} } }));
    const host = await startTestHost(dir, { tenants: { acme: {} } }, configFile);
    try {
      const first = host.post("acme", "process_client_phone", phone);
      await sleep(150);
      writeFileSync(configFile, JSON.stringify({ tenants: { acme: {}, globex: {} } }));
      const answer = await first;
      assert.equal(answer.status, 200);
      assert.deepEqual(statuses(answer.trace), ["slow;status=ok"]);
      assert.equal(answer.body.data.phone, "89213451807-v1");
      await eventually(async () => assert.equal((await host.post("globex", "process_client_phone", phone)).status, 200));
      const second = host.post("acme", "process_client_phone", phone);
      await sleep(150);
      writePlugins(dir, { "slow/process_client_phone.js": slow("v2") });
      assert.equal((await second).body.data.phone, "89213451807-v1", "the request ends on the version it started with");
      await eventually(async () => assert.equal((await host.post("acme", "process_client_phone", phone)).body.data.phone, "89213451807-v2"));
    } finally {
      await host.close();
      rmSync(configFile, { force: true });
    }
  });
});

describe("status endpoint", () => {
  it("lists the tenant's plugins and the broken folders; tenant or admin token only", async () => {
    const host = await startTestHost(
      pluginsDir({
        "for-acme/plugin.json": { tenants: ["acme"], priority: 7 },
        "for-acme/need_registration.js": `export default () => ({ result: true })`,
        "for-globex/plugin.json": { tenants: ["globex"] },
        "for-globex/need_registration.js": `export default () => ({ result: true })`,
        "broken/plugin.json": `{ "priority": "high" }`,
      }),
      { tenants: { acme: { token: "acme-token" }, globex: { token: "globex-token" } }, adminToken: "admin-token" },
    );
    try {
      const acme = await statusOf(host, "acme", { authorization: "Bearer acme-token" });
      assert.equal(acme.status, 200);
      const byName = Object.fromEntries(acme.body.plugins.map((p: any) => [p.name, p]));
      assert.deepEqual(Object.keys(byName).sort(), ["for-acme"]);
      assert.equal(byName["for-acme"].state, "ok");
      assert.equal(byName["for-acme"].priority, 7);
      assert.deepEqual(byName["for-acme"].hooks, ["need_registration"]);
      assert.ok(!Number.isNaN(Date.parse(byName["for-acme"].loadedAt)));
      // whom the broken folder would serve is unknown: the tenant learns only that there is one
      assert.equal(acme.body.unattributedBroken, 1);
      const admin = await statusOf(host, "globex", { authorization: "Bearer admin-token" });
      assert.equal(admin.status, 200);
      const broken = admin.body.plugins.find((p: any) => p.name === "broken");
      assert.equal(broken.state, "error");
      assert.equal(broken.error.file, "plugin.json");
      assert.match(broken.error.message, /priority/);
      assert.equal((await statusOf(host, "globex", { authorization: "Bearer acme-token" })).status, 401);
      assert.equal((await statusOf(host, "nobody", { authorization: "Bearer admin-token" })).status, 401);
      assert.equal((await statusOf(host, "acme")).status, 401);
    } finally {
      await host.close();
    }
  });
});

describe("metrics endpoint", () => {
  it("counts requests, plugin outcomes, sandboxes and process metrics; needs the admin token", async () => {
    const host = await startTestHost(
      pluginsDir({
        "good/plugin.json": {},
        "good/process_client_phone.js": tagger("g"),
        "bad/plugin.json": {},
        "bad/process_client_phone.js": `export default () => { throw new Error("no") }`,
      }),
      { tenants: { acme: { token: "acme-token" } }, adminToken: "admin-token" },
    );
    try {
      await host.post("acme", "process_client_phone", phone, { authorization: "Bearer acme-token" });
      await host.post("acme", "process_client_phone", { phone: 1 }, { authorization: "Bearer acme-token" });
      assert.equal((await fetch(`${host.url}/metrics`)).status, 401);
      const response = await fetch(`${host.url}/metrics`, { headers: { authorization: "Bearer admin-token" } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
      const text = await response.text();
      assert.match(text, /hookhost_requests_total\{tenant="acme",hook="process_client_phone",status="200"\} 1/);
      assert.match(text, /hookhost_requests_total\{tenant="acme",hook="process_client_phone",status="422"\} 1/);
      assert.match(text, /hookhost_plugin_runs_total\{plugin="good",hook="process_client_phone",outcome="ok"\} 1/);
      assert.match(text, /hookhost_plugin_runs_total\{plugin="bad",hook="process_client_phone",outcome="error"\} 1/);
      assert.match(text, /hookhost_plugin_run_duration_seconds_bucket\{le="0.005",plugin="good"/);
      assert.match(text, /hookhost_sandboxes_alive 2/);
      assert.match(text, /process_resident_memory_bytes \d+/);
      assert.doesNotMatch(text, /acme-token|admin-token/);
    } finally {
      await host.close();
    }
  });
});

describe("sandbox memory", () => {
  // isolated-vm hands strings of 1 KB or more to an isolate as external strings, freed only when
  // that isolate collects them: a call record (2-4 KB) per call used to pile up to ~60 MB per
  // sandbox before its memory limit forced a collection.
  it("the call records handed to a busy sandbox do not pile up outside its heap, and /metrics shows both", async function () {
    this.timeout(60_000);
    const hook = "customize_attach_record_url";
    const input = fixture(hook);
    assert.ok(JSON.stringify(input).length > 3000);
    const host = await startTestHost(pluginsDir({ "busy/plugin.json": {}, [`busy/${hook}.js`]: `export default (input) => ({ DESCRIPTION: "seen " + input.call_full.channel.id })` }));
    try {
      for (let i = 0; i < 1000; i++) assert.equal((await host.post("default", hook, input)).status, 200);
      const text = await (await fetch(`${host.url}/metrics`)).text();
      const bytes = (kind: string) => Number(new RegExp(`hookhost_sandbox_memory_bytes\\{kind="${kind}"\\} (\\d+)`).exec(text)?.[1]);
      assert.ok(bytes("heap") > 100_000, `heap ${bytes("heap")}`);
      // 1,000 calls × 3.5 KB would be 3.5 MB if they stayed
      assert.ok(bytes("external") < 1_000_000, `external ${bytes("external")}`);
    } finally {
      await host.close();
    }
  });
});

describe("metrics while a plugin is busy", () => {
  it("/metrics answers at once while a sandbox is in a long loop (its memory is read without waiting for it)", async function () {
    this.timeout(30_000);
    const host = await startTestHost(
      pluginsDir({
        "spinner/plugin.json": { timeouts: { process_client_phone: 4000 } },
        "spinner/process_client_phone.js": `export default (input) => { const end = Date.now() + 2500; while (Date.now() < end) {} return { phone: input.phone }; }`,
      }),
      { tenants: { default: {} }, pluginLimits: { spinner: { timeouts: { process_client_phone: 4000 } } } },
    );
    try {
      const busy = host.post("default", "process_client_phone", phone);
      await sleep(500);
      const started = performance.now();
      const text = await (await fetch(`${host.url}/metrics`)).text();
      const ms = performance.now() - started;
      assert.match(text, /hookhost_sandbox_memory_bytes\{kind="heap"\} \d+/);
      assert.ok(ms < 1000, `/metrics took ${Math.round(ms)} ms`);
      assert.equal((await busy).status, 200);
    } finally {
      await host.close();
    }
  });
});

describe("sandbox cap (maxSandboxes)", () => {
  it("past the cap the least recently used sandbox is unloaded, rebuilt on its next call, its state gone", async () => {
    const tenants = Object.fromEntries(["t1", "t2", "t3"].map((t) => [t, { token: `${t}-token` }]));
    const host = await startTestHost(
      pluginsDir({
        "counter/plugin.json": {},
        "counter/process_client_phone.js": `let calls = 0; export default (i) => ({ phone: i.phone + "#" + (++calls) })`,
      }),
      // one lane: with lanes the cap is split over them (README "Lanes"), and this counts one pool
      { tenants, maxSandboxes: 2, lanes: lanesOn() ? 1 : 0 },
    );
    try {
      const call = async (t: string) => (await host.post(t, "process_client_phone", phone, { authorization: `Bearer ${t}-token` })).body.data.phone as string;
      assert.equal(await call("t1"), "89213451807#1");
      assert.equal(await call("t1"), "89213451807#2");
      assert.equal(await call("t2"), "89213451807#1");
      assert.equal(host.registry.sandboxesAlive, 2);
      assert.equal(await call("t3"), "89213451807#1");
      assert.equal(host.registry.sandboxesAlive, 2);
      assert.equal(await call("t2"), "89213451807#2");
      assert.equal(await call("t1"), "89213451807#1", "t1 was evicted: its state is gone and it was rebuilt");
    } finally {
      await host.close();
    }
  });
});

async function reloadCount(host: TestHost): Promise<number> {
  const text = await host.metrics.text();
  const m = /hookhost_reloads_total\{kind="plugin"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
