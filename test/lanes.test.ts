import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { laneOf } from "../core/lanes/shard.js";
import { eventually, fixture, keepingLogger, pluginsDir, startTestHost, statuses, type Answer, type TestHost } from "./support.js";
import { spawnHost } from "./sandbox-host.js";
import { LANE_OVERDUE, LANE_REPLACED } from "../core/lanes/supervisor.js";

const HOOK = "process_client_phone";
const TENANTS = Array.from({ length: 12 }, (_, i) => `t${i}`);
const CONFIG = { tenants: Object.fromEntries(TENANTS.map((t) => [t, {}])), lanes: 2 };
const PHONE = fixture(HOOK).phone as string;

/** Counts its runs per sandbox, so a tenant's answers show whether they came from one sandbox; `hold` keeps it busy. */
const WORK = {
  "work/plugin.json": {},
  [`work/${HOOK}.js`]: `let calls = 0;
export default (input, ctx) => {
  const until = Date.now() + (input.hold ?? 0);
  while (Date.now() < until);
  calls++;
  ctx.log.info("ran", { calls });
  return { phone: input.phone + "#" + ctx.tenant + "#" + calls };
};`,
};

const post = (host: TestHost, tenant: string, hold = 0) => host.post(tenant, HOOK, { ...fixture(HOOK), hold });
/** What a lane logs when a sandbox's sync runs held its thread too long (the reason says which rule). */
const HELD = "a run held the lane's thread; this plugin is called async from now on";
/** All tenants in one lane that calls its isolates synchronously, with limits long enough for any hold. */
const oneSyncLane = (logger: ReturnType<typeof keepingLogger>["logger"]) =>
  startTestHost(pluginsDir(WORK), { ...CONFIG, lanes: 1, laneCalls: "sync", timeouts: { [HOOK]: 8000 }, budgets: { [HOOK]: 8000 } }, undefined, logger);

/** Resident memory of a process, in MB (Linux). */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return kb ? Number(kb[1]) / 1024 : 0;
}

describe("lanes", () => {
  it("shard tenants by a stable hash: each tenant's calls reach one sandbox, the tenants spread over the lanes", async () => {
    assert.deepEqual(TENANTS.map((t) => laneOf(t, 2)), TENANTS.map((t) => laneOf(t, 2)));
    assert.deepEqual(new Set(TENANTS.map((t) => laneOf(t, 2))), new Set([0, 1]));
    assert.ok(TENANTS.every((t) => laneOf(t, 1) === 0));
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(pluginsDir(WORK), CONFIG, undefined, logger);
    try {
      const tenants = [TENANTS.find((t) => laneOf(t, 2) === 0)!, TENANTS.find((t) => laneOf(t, 2) === 1)!];
      for (let round = 1; round <= 3; round++) {
        for (const tenant of tenants) assert.equal((await post(host, tenant)).body.data.phone, `${PHONE}#${tenant}#${round}`);
      }
      assert.equal(host.registry.sandboxesAlive, 2);
      // the plugins' log lines reach the front's logger, with their request ids
      const answer = await post(host, tenants[0]);
      const line = await eventually(async () => {
        const found = lines.find((l) => l.message === "ran" && l.requestId === answer.headers.get("x-request-id"));
        assert.ok(found, "the plugin's line reached the front's logger");
        return found;
      });
      assert.deepEqual({ tenant: line.tenant, plugin: line.plugin, hook: line.hook, fields: line.fields }, { tenant: tenants[0], plugin: "work", hook: HOOK, fields: { calls: 4 } });
    } finally {
      await host.close();
    }
  });

  it("fault drill: kill -9 a lane under steady load; its requests in flight get the default, it is back within 1 s, other tenants see no failure, memory returns", async function () {
    this.timeout(120_000);
    const { logger, lines } = keepingLogger("debug");
    const host = await startTestHost(pluginsDir(WORK), CONFIG, undefined, logger);
    const victims = TENANTS.filter((t) => laneOf(t, 2) === 0).slice(0, 2);
    const others = TENANTS.filter((t) => laneOf(t, 2) === 1).slice(0, 2);
    type Seen = { tenant: string; sent: number; answered: number; answer: Answer };
    const seen: Seen[] = [];
    let loading = true;
    const load = async (tenant: string) => {
      while (loading) {
        const sent = Date.now();
        const answer = await post(host, tenant, 10);
        seen.push({ tenant, sent, answered: Date.now(), answer });
      }
    };
    let loops: Promise<void>[] = [];
    const rss = () => [process.pid, ...host.lanePids()].reduce((sum, pid) => sum + rssMb(pid), 0);
    try {
      // the spare starts a few seconds after the lanes; the drill restarts on it
      await eventually(async () => assert.ok(lines.some((l) => l.message === "spare lane ready")), 60_000);
      loops = [...victims, ...others].map(load);
      await sleep(2000);
      const before = rss();
      // a request certainly in flight on lane 0 when it dies
      const held = post(host, victims[0], 800);
      await sleep(300);
      const readyBefore = lines.filter((l) => l.message === "lane ready" && l.lane === 0).length;
      const killedAt = Date.now();
      process.kill(host.lanePids()[0], "SIGKILL");
      const inFlight = await held;
      assert.equal(inFlight.status, 200);
      assert.deepEqual(inFlight.body.data, { phone: PHONE }, "the hook's default");
      assert.deepEqual(statuses(inFlight.trace), ["work;status=error"]);
      // back: lane 0 takes requests again (the spare took its place), and its plugin serves them
      await eventually(async () => assert.ok(lines.filter((l) => l.message === "lane ready" && l.lane === 0).length > readyBefore, "lane 0 is back"), 10_000);
      const backAfter = Date.now() - killedAt;
      assert.ok(backAfter < 1000, `lane 0 was back ${backAfter} ms after the kill`);
      await eventually(async () => assert.ok(seen.some((s) => victims.includes(s.tenant) && s.sent > killedAt && s.answer.trace[0]?.startsWith("work;status=ok")), "lane 0 serves again"), 10_000);
      await sleep(1000);
      loading = false;
      await Promise.all(loops);
      assert.ok(seen.every((s) => s.answer.status === 200));
      for (const s of seen.filter((x) => others.includes(x.tenant))) {
        assert.deepEqual(statuses(s.answer.trace), ["work;status=ok"], `${s.tenant} saw ${s.answer.trace}`);
      }
      for (const s of seen.filter((x) => victims.includes(x.tenant))) {
        const failed = s.answer.trace[0]?.startsWith("work;status=error");
        if (failed) assert.deepEqual(s.answer.body.data, { phone: PHONE });
        else assert.match(s.answer.body.data.phone, new RegExp(`^${PHONE}#${s.tenant}#\\d+$`));
      }
      // the log and the status name the plugin that ran in the lane when it died
      const died = lines.find((l) => l.message === "lane died; its requests in flight are answered with the hook's default");
      assert.ok(died, "the death is logged");
      assert.ok((died.plugins as { plugin: string; tenant: string }[]).some((p) => p.plugin === "work" && p.tenant === victims[0]));
      const status = (await (await fetch(`${host.url}/v1/tenants/${victims[0]}/plugins`)).json()) as { plugins: { fault: { reason: string } }[] };
      assert.match(status.plugins[0].fault.reason, /^lane 0 died \(killed by SIGKILL\) while running it$/);
      // memory: the dead lane's is given back; a new spare takes the place of the one used
      await eventually(async () => assert.equal(lines.filter((l) => l.message === "spare lane ready").length, 2), 60_000);
      await eventually(async () => {
        const after = rss();
        assert.ok(after < before * 1.25, `host and lanes hold ${after.toFixed(0)} MB, ${before.toFixed(0)} MB before the drill`);
      }, 20_000);
    } finally {
      loading = false;
      await Promise.all(loops);
      await host.close();
    }
  });

  it("a lane that stops beating is killed: its requests in flight get the default, and it is replaced", async function () {
    this.timeout(120_000);
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(pluginsDir(WORK), CONFIG, undefined, logger);
    try {
      const victim = TENANTS.find((t) => laneOf(t, 2) === 0)!;
      const other = TENANTS.find((t) => laneOf(t, 2) === 1)!;
      assert.equal((await post(host, victim)).status, 200);
      const held = post(host, victim, 500);
      await sleep(100);
      const stuck = host.lanePids()[0];
      process.kill(stuck, "SIGSTOP");
      // the other lane serves while lane 0 is silent
      assert.deepEqual(statuses((await post(host, other)).trace), ["work;status=ok"]);
      const answer = await held;
      assert.deepEqual(answer.body.data, { phone: PHONE });
      assert.deepEqual(statuses(answer.trace), ["work;status=error"]);
      assert.ok(lines.some((l) => l.message === "lane stopped answering; killing it" && l.pid === stuck));
      await eventually(async () => assert.deepEqual(statuses((await post(host, victim)).trace), ["work;status=ok"]), 60_000);
      assert.ok(!host.lanePids().includes(stuck));
    } finally {
      await host.close();
    }
  });

  it("a plugin that runs synchronously past the lane's silence limit, within its own time, keeps its lane: the watchdog speaks for the busy thread", async function () {
    this.timeout(120_000);
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(pluginsDir(WORK), { ...CONFIG, laneCalls: "sync", timeouts: { [HOOK]: 8000 }, budgets: { [HOOK]: 8000 } }, undefined, logger);
    try {
      const tenant = TENANTS.find((t) => laneOf(t, 2) === 0)!;
      assert.equal((await post(host, tenant)).status, 200);
      const lanes = host.lanePids();
      // 3 s in one sync call: the lane's main thread sends no beat meanwhile (silence kills at 2 s)
      const answer = await post(host, tenant, 3000);
      assert.deepEqual(statuses(answer.trace), ["work;status=ok"]);
      assert.match(answer.body.data.phone, new RegExp(`^${PHONE}#${tenant}#2$`), "the same sandbox ran it");
      assert.ok(lanes.every((pid) => host.lanePids().includes(pid)), "no lane was replaced");
      assert.ok(!lines.some((l) => l.message === "lane stopped answering; killing it"));
    } finally {
      await host.close();
    }
  });

  for (const between of [0, 5])
  it(`a plugin whose sync runs hold the lane's thread past 20 ms twice within a minute (${between} quick runs between) is called async from then on: the other tenants of its lane wait for it once, not on every run`, async function () {
    this.timeout(120_000);
    const { logger, lines } = keepingLogger("info");
    const [slow, quick] = TENANTS.slice(0, 2);
    const host = await oneSyncLane(logger);
    try {
      for (const tenant of [slow, quick]) assert.equal((await post(host, tenant)).status, 200);
      // one slow run may be the machine's doing; a second is the plugin's, whatever ran between them
      assert.equal((await post(host, slow, 300)).status, 200);
      assert.ok(!lines.some((l) => l.message === HELD));
      for (let i = 0; i < between; i++) assert.equal((await post(host, slow)).status, 200);
      assert.ok(!lines.some((l) => l.message === HELD));
      assert.equal((await post(host, slow, 300)).status, 200);
      const held = lines.filter((l) => l.message === HELD);
      assert.deepEqual(held.map((l) => [l.tenant, l.plugin, l.reason]), [[slow, "work", "two runs held the thread past 20 ms within a minute"]]);
      assert.ok((held[0].heldMs as number) >= 300);
      // the slow tenant's next long run leaves the lane's thread free: the other tenant is answered first
      const finished: string[] = [];
      const long = post(host, slow, 2000).then((a) => {
        finished.push(slow);
        return a;
      });
      await sleep(200);
      const short = await post(host, quick);
      finished.push(quick);
      const longAnswer = await long;
      assert.equal(longAnswer.status, 200);
      assert.deepEqual(finished, [quick, slow]);
      assert.match(short.body.data.phone, new RegExp(`#${quick}#2$`));
      assert.match(longAnswer.body.data.phone, new RegExp(`#${slow}#${between + 4}$`), "the same sandbox ran it, called async");
      assert.equal(lines.filter((l) => l.message === held[0].message).length, 1, "told once");
    } finally {
      await host.close();
    }
  });

  it("a plugin whose sync runs, each under 20 ms, hold the lane's thread over 200 ms within a second is called async from then on: a flood of its requests does not queue its lane's other tenants behind it", async function () {
    this.timeout(120_000);
    const { logger, lines } = keepingLogger("info");
    const [greedy, quick] = TENANTS.slice(0, 2);
    const host = await oneSyncLane(logger);
    try {
      for (const tenant of [greedy, quick]) assert.equal((await post(host, tenant)).status, 200);
      // 40 runs of 15 ms: 600 ms of the lane's thread, if they all ran on it
      const finished: string[] = [];
      const flood = Array.from({ length: 40 }, () => post(host, greedy, 15).then((a) => (finished.push(greedy), a)));
      await sleep(100);
      const short = await post(host, quick);
      finished.push(quick);
      for (const answer of await Promise.all(flood)) assert.equal(answer.status, 200);
      assert.match(short.body.data.phone, new RegExp(`#${quick}#2$`));
      assert.notEqual(finished.at(-1), quick, "the other tenant was answered before the flood's end");
      const held = lines.filter((l) => l.message === HELD);
      assert.deepEqual(held.map((l) => [l.tenant, l.plugin, l.reason]), [[greedy, "work", "its runs held the thread over 200 ms within a second"]]);
      assert.ok((held[0].heldMs as number) > 200);
    } finally {
      await host.close();
    }
  });

  for (const attack of [
    { how: "fails fatally", code: `const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });`, first: /^exceeded its memory limit of 16 MB \(Catastrophic out-of-memory error\); the plugin is disabled for this tenant until it is reloaded$/ },
    { how: "is still running past its limit", code: `return { n: JSON.parse("[" + '{"a":1},'.repeat(3_000_000) + "{}]").length };`, first: /^did not finish within 700 ms$|^exceeded its memory limit of 16 MB$/ },
  ])
  it(`sync lanes: when a plugin ${attack.how}, the chain it hit goes on past its run in the replacement lane, and the lane's other requests in flight are answered by the replacement, not with the default`, async function () {
    this.timeout(120_000);
    const host = await spawnHost(
      {
        "first/plugin.json": { priority: 1 },
        "first/customize_entity.js": `export default (input, ctx) => ({ first: ctx.tenant });`,
        "hog/plugin.json": { priority: 2, memoryMb: 16, tenants: ["t"], timeouts: { customize_entity: 700 } },
        "hog/customize_entity.js": `export default (input) => { if (input.attack) { ${attack.code} } return { hog: "fine" }; };`,
        "after/plugin.json": { priority: 3 },
        "after/customize_entity.js": `export default (input) => { const until = Date.now() + (input.hold ?? 0); while (Date.now() < until); return { after: "ran" }; };`,
      },
      // time enough for the chains to start over in a replacement whose sandboxes are cold, on a loaded machine
      { tenants: { t: {}, u: {} }, lanes: 1, laneCalls: "sync", timeouts: { customize_entity: 5000 }, budgets: { customize_entity: 10_000 } },
    );
    try {
      // warm: both tenants' sandboxes are built
      for (const tenant of ["t", "u"]) assert.equal((await host.post("customize_entity", fixture("customize_entity"), tenant)).status, 200);
      const hit = host.post("customize_entity", { ...fixture("customize_entity"), attack: true }, "t");
      await sleep(100);
      // sent while the lane's thread is held: in flight on that lane when it is killed
      const others = await Promise.all(Array.from({ length: 6 }, (_, i) => host.post("customize_entity", fixture("customize_entity"), i % 2 ? "u" : "t")));
      const answer = await hit;
      assert.equal(answer.status, 200);
      const [first, hog, after] = statuses(answer.trace);
      assert.deepEqual([first, after], ["first;status=ok", "after;status=ok"]);
      assert.match(hog, /^hog;status=(error|timeout)$/);
      assert.match((await host.errors(answer)).hog, attack.first);
      assert.deepEqual(answer.body.data, { first: "t", after: "ran" });
      for (const [i, other] of others.entries()) {
        if (i % 2) {
          assert.deepEqual(other.body.data, { first: "u", after: "ran" }, `request ${i} of u: ${String(other.trace)}`);
          continue;
        }
        // the hog runs for t after a grind (called async), and answers its error at once once disabled
        const [, hog] = statuses(other.trace);
        if (hog === "hog;status=ok") assert.deepEqual(other.body.data, { first: "t", hog: "fine", after: "ran" }, String(other.trace));
        else {
          assert.deepEqual(other.body.data, { first: "t", after: "ran" }, String(other.trace));
          assert.match((await host.errors(other)).hog, /^disabled: V8 failed fatally in this plugin \(Catastrophic out-of-memory error\); it runs again when the plugin is reloaded$/);
        }
      }
      const killed = host.logs().filter((l) => l.message === LANE_REPLACED || l.message === LANE_OVERDUE);
      const handed = host.logs().filter((l) => l.message === "lane killed; its requests in flight go on in its replacement");
      // V8 may also stop a grind by itself within 500 ms of the limit: then no lane is lost
      if (killed.length) {
        assert.deepEqual(killed.map((l) => [l.plugin, l.tenant]), [["hog", "t"]]);
        assert.equal(handed.length, 1);
        assert.ok((handed[0].inFlight as number) >= 1);
      }
      if (killed[0]?.message === LANE_OVERDUE) {
        // the replacement was told: the hog is called async for t there, so the same grind costs a thread, not a lane
        const { plugins } = await host.get("/v1/tenants/t/plugins");
        assert.match(plugins.find((p: { name: string }) => p.name === "hog").fault.reason, /it is called async from now on$/);
        const again = await host.post("customize_entity", { ...fixture("customize_entity"), attack: true }, "t");
        assert.deepEqual(statuses(again.trace).map((s) => s.replace(/;status=(error|timeout)$/, ";failed")), ["first;status=ok", "hog;failed", "after;status=ok"]);
        assert.equal(host.logs().filter((l) => l.message === LANE_OVERDUE).length, 1);
        assert.equal(host.logs().filter((l) => l.message === handed[0].message).length, 1, "the grind, called async, cost no lane at once");
      }
      const how = await host.stop();
      assert.deepEqual({ code: how.code, signal: how.signal }, { code: 0, signal: null });
    } finally {
      await host.stop();
    }
  });

  for (const laneCalls of ["async", "sync"] as const)
  it(`laneCalls ${laneCalls}: a plugin that fails fatally, and one V8 does not stop, each cost one lane replacement, never the host, and stay disabled for that tenant`, async function () {
    this.timeout(120_000);
    const host = await spawnHost(
      {
        "oom/plugin.json": { memoryMb: 16, tenants: ["t"] },
        "oom/customize_entity.js": `export default (input) => { if (input.attack) { const m = new Map(); for (let i = 0; ; i++) m.set(i, { i }); } return { oom: "fine" }; };`,
        "grind/plugin.json": { memoryMb: 16, tenants: ["t"], timeouts: { customize_activity: 1000 } },
        "grind/customize_activity.js": `export default (input) => { if (input.attack) return { n: new Array(2 ** 30).fill(1).length }; return { grind: "fine" }; };`,
        "other/plugin.json": { tenants: ["u"] },
        "other/customize_entity.js": `export default () => ({ other: "fine" });`,
      },
      { tenants: { t: {}, u: {} }, lanes: 2, laneCalls },
    );
    try {
      const fatal = await host.post("customize_entity", { ...fixture("customize_entity"), attack: true });
      assert.deepEqual(statuses(fatal.trace), ["oom;status=error"]);
      assert.match((await host.errors(fatal)).oom, /Catastrophic out-of-memory error/);
      const other = await host.post("customize_entity", fixture("customize_entity"), "u");
      assert.deepEqual(other.body.data, { other: "fine" });
      const ground = await host.post("customize_activity", { ...fixture("customize_activity"), attack: true });
      assert.match(statuses(ground.trace)[0], /^grind;status=(error|timeout)$/);
      // Async, V8 may grind on past the deadline (then 2 s later the plugin is disabled and its
      // lane replaced), or stop by itself soon after it (nothing is stuck: the plugin serves
      // again). Sync, a run still going 500 ms past its deadline costs its lane at once, and the
      // plugin is called async from then on.
      await sleep(1000 + 2000 + 5000);
      const replaced = host.logs().filter((l) => l.message === LANE_REPLACED);
      const overdue = host.logs().filter((l) => l.message === LANE_OVERDUE);
      const { plugins } = await host.get("/v1/tenants/t/plugins");
      const grind = plugins.find((p: { name: string }) => p.name === "grind");
      const oom = plugins.find((p: { name: string }) => p.name === "oom");
      assert.match(oom.disabled, /^disabled: V8 failed fatally in this plugin \(Catastrophic out-of-memory error\)/);
      if (laneCalls === "async") assert.deepEqual(overdue, []);
      if (overdue.length) {
        assert.deepEqual(overdue.map((l) => l.plugin), ["grind"]);
        assert.match(grind.fault.reason, /^a sync run of it was still running \d+ ms past its 1000 ms limit \(V8 did not stop it\), and its lane was replaced; it is called async from now on$/);
        assert.deepEqual(replaced.map((l) => l.plugin), ["oom"]);
        assert.deepEqual((await host.post("customize_activity", fixture("customize_activity"))).body.data, { grind: "fine" });
      } else if (grind.disabled) {
        assert.match(grind.disabled, /^disabled: V8 (did not stop it|failed fatally in this plugin \(Script failed to terminate\))/);
        assert.deepEqual(replaced.map((l) => l.plugin).sort(), ["grind", "oom"]);
      } else {
        assert.deepEqual((await host.post("customize_activity", fixture("customize_activity"))).body.data, { grind: "fine" });
        assert.deepEqual(replaced.map((l) => l.plugin), ["oom"]);
      }
      // the new lanes know: the plugin answers its error at once
      const again = await host.post("customize_entity", { ...fixture("customize_entity"), attack: true });
      assert.equal((await host.errors(again)).oom, oom.disabled);
      assert.deepEqual((await host.post("customize_entity", fixture("customize_entity"), "u")).body.data, { other: "fine" });
      const how = await host.stop();
      assert.deepEqual({ code: how.code, signal: how.signal }, { code: 0, signal: null });
      assert.doesNotMatch(host.stderr(), /^hookhost: exiting by SIGKILL/m);
    } finally {
      await host.stop();
    }
  });
});
