// Roll-out across lanes: the front decides rollback, promote and abort; the lanes run what it
// decided, and a lane that replaces a dead one is given it too. The recent runs live in the ring
// of the lane that ran them, so they die with it (README "Roll-out").
import assert from "node:assert/strict";
import { laneOf } from "../core/lanes/shard.js";
import { versionId } from "../core/versions.js";
import { eventually, keepingLogger, pluginsDir, startTestHost, writePlugins, type TestHost } from "./support.js";
import { ADMIN, call, CONFIG, phoneHook, phoneInput, statusOf } from "./rollout-support.js";

const LANES = 2;
const MANIFEST = JSON.stringify({ priority: 10 });
const CANARY = JSON.stringify({ candidateOf: "phones", mode: "canary", percent: 100 });
const BAD = "export default () => { throw new Error('bad edit'); };\n";
const version = (manifest: string, code: string) => versionId(manifest, new Map([["process_client_phone.js", code]]));

async function answer(host: TestHost, tenant: string): Promise<{ phone: string; trace: string[] }> {
  const reply = await host.post(tenant, "process_client_phone", phoneInput("7"), { authorization: `Bearer ${tenant}-secret` });
  return { phone: reply.body.data.phone, trace: reply.trace };
}

/** The first answer the tenant's lane gives once it runs the plugin (a default answer while the lane dies names no version). */
async function laneAnswer(host: TestHost, tenant: string): Promise<{ phone: string; trace: string[] }> {
  return eventually(async () => {
    const now = await answer(host, tenant);
    assert.match(now.trace[0] ?? "", /;v=[0-9a-f]{12}$/, `a run in the lane, not a default: ${now.trace}`);
    return now;
  }, 30_000);
}

describe("roll-out across lanes", function () {
  this.timeout(120_000);

  it("a replaced lane serves the rolled-back version and no aborted candidate; the runs in its ring are lost with it, another lane's are not", async () => {
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(
      pluginsDir({ "phones/plugin.json": MANIFEST, "phones/process_client_phone.js": phoneHook("-v1"), "phones-next/plugin.json": CANARY, "phones-next/process_client_phone.js": phoneHook("-next") }),
      { ...CONFIG, lanes: LANES },
      undefined,
      logger,
    );
    const [v1, bad] = [version(MANIFEST, phoneHook("-v1")), version(MANIFEST, BAD)];
    const [acme, globex] = [laneOf("acme", LANES), laneOf("globex", LANES)];
    assert.notEqual(acme, globex, "the two tenants live in different lanes");
    try {
      // The canary answers in the lane (every call: 100 %), and its run is in that lane's ring.
      assert.equal((await answer(host, "acme")).phone, "+79217770205-next");
      const [canaryRun] = (await call(host.url, "/v1/tenants/acme/runs", ADMIN)).body.runs;
      assert.equal(canaryRun.candidate, "phones-next");
      assert.equal(canaryRun.version, version(CANARY, phoneHook("-next")));

      assert.deepEqual((await call(host.url, "/v1/admin/plugins/phones-next/abort", ADMIN, {})).body, { candidate: "phones-next", state: "aborted" });
      assert.equal((await answer(host, "acme")).phone, "+79217770205-v1", "every lane stopped the canary");

      writePlugins(host.dir, { "phones/process_client_phone.js": BAD });
      await eventually(async () => assert.match((await answer(host, "acme")).trace[0], /status=error/));
      assert.deepEqual((await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, {})).body, { plugin: "phones", version: v1, previous: bad });
      assert.equal((await answer(host, "acme")).phone, "+79217770205-v1");
      assert.equal((await answer(host, "globex")).phone, "+79217770205-v1");
      const globexRuns = (await call(host.url, "/v1/tenants/globex/runs", ADMIN)).body.runs;
      assert.equal(globexRuns.length, 1);

      const killed = host.lanePids()[acme];
      const killedAt = Date.now();
      process.kill(killed, "SIGKILL");
      const after = await laneAnswer(host, "acme");
      assert.ok(!host.lanePids().includes(killed), "the lane was replaced");
      assert.equal(after.phone, "+79217770205-v1", "the new lane serves the rolled-back version and runs no aborted canary");
      assert.match(after.trace[0], new RegExp(`^phones;status=ok;ms=\\d+;v=${v1}$`));
      const status = await statusOf(host.url, "acme", "phones");
      assert.deepEqual(status.served, { version: v1, reason: "rollback" });
      assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.state, "aborted");

      // acme's runs before the kill were in the dead lane's ring; globex's lane kept its own.
      const acmeRuns = (await call(host.url, "/v1/tenants/acme/runs", ADMIN)).body.runs as { at: string }[];
      assert.ok(acmeRuns.length >= 1);
      assert.ok(acmeRuns.every((r) => Date.parse(r.at) >= killedAt), "only runs of the new lane");
      assert.deepEqual((await call(host.url, "/v1/tenants/globex/runs", ADMIN)).body.runs, globexRuns);
      const overview = (await call(host.url, "/v1/admin/overview", ADMIN)).body;
      assert.equal(overview.tenants.find((t: { id: string }) => t.id === "globex").hooks.process_client_phone.runs, 1);

      // A read the lane never answers (it stopped, and the front kills it for its silence) gets a clear 503.
      const stopped = host.lanePids()[acme];
      process.kill(stopped, "SIGSTOP");
      const [unanswered, overviewMeanwhile] = await Promise.all([call(host.url, "/v1/tenants/acme/runs", ADMIN), call(host.url, "/v1/admin/overview", ADMIN)]);
      assert.equal(unanswered.status, 503);
      assert.equal(unanswered.body.error.code, "lane_unavailable");
      assert.match(unanswered.body.error.message, new RegExp(`^lane ${acme} died \\(killed by SIGKILL\\) before it answered`));
      assert.ok(lines.some((l) => l.message === "lane stopped answering; killing it" && l.pid === stopped));
      // The overview still answers: the dead lane's tenants say why they have no hook stats.
      const byId = (id: string) => overviewMeanwhile.body.tenants.find((t: { id: string }) => t.id === id);
      assert.equal(overviewMeanwhile.status, 200);
      assert.match(byId("acme").runsUnavailable, new RegExp(`^lane ${acme} died \\(killed by SIGKILL\\) before it answered`));
      assert.deepEqual(byId("acme").hooks, {});
      assert.equal(byId("globex").hooks.process_client_phone.runs, 1);
      assert.equal(byId("globex").runsUnavailable, undefined);
      assert.equal((await laneAnswer(host, "acme")).phone, "+79217770205-v1");
    } finally {
      await host.close();
    }
  });

  it("a promotion reaches every lane and a replaced one: the candidate's code answers as the live plugin, the candidate runs no more", async () => {
    const SHADOW = JSON.stringify({ candidateOf: "phones", mode: "shadow" });
    const host = await startTestHost(
      pluginsDir({ "phones/plugin.json": MANIFEST, "phones/process_client_phone.js": phoneHook("-v1"), "phones-next/plugin.json": SHADOW, "phones-next/process_client_phone.js": phoneHook("-next") }),
      { ...CONFIG, lanes: LANES },
    );
    try {
      // Shadow runs happen in each tenant's lane; their counts reach the front with the lanes' heartbeats.
      for (const tenant of ["acme", "globex"]) assert.equal((await answer(host, tenant)).phone, "+79217770205-v1");
      await eventually(async () => assert.deepEqual((await statusOf(host.url, "acme", "phones-next")).candidate.shadow, { compared: 2, differences: 2, skipped: 0 }), 20_000);
      const differences = (await call(host.url, "/v1/tenants/globex/shadow", "globex-secret")).body.differences;
      assert.equal(differences.length, 1);
      assert.equal(differences[0].candidateAnswer.value.phone, "+79217770205-next");

      const promoted = (await call(host.url, "/v1/admin/plugins/phones-next/promote", ADMIN, {})).body;
      assert.equal(promoted.plugin, "phones");
      for (const tenant of ["acme", "globex"]) assert.equal((await answer(host, tenant)).phone, "+79217770205-next");

      process.kill(host.lanePids()[laneOf("acme", LANES)], "SIGKILL");
      const after = await laneAnswer(host, "acme");
      assert.equal(after.phone, "+79217770205-next");
      assert.match(after.trace[0], new RegExp(`^phones;status=ok;ms=\\d+;v=${promoted.version}$`));
      assert.equal((await call(host.url, "/v1/tenants/acme/runs", ADMIN)).body.runs[0].version, promoted.version);
      assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.state, "promoted");
    } finally {
      await host.close();
    }
  });
});
