// Candidates through the real host: shadow differences (run after the answer), canary stickiness
// per call id, promotion and abort (API and CLI), and the candidates the host refuses or cannot run.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { callKey, canaryPicks } from "../core/rollout.js";
import { eventually, fixture, pluginsDir, startTestHost, writePlugins, type TestHost } from "./support.js";
import { ADMIN, call, CONFIG, hookhost, phoneHook, phoneInput, statusOf } from "./rollout-support.js";

const ACME = { authorization: "Bearer acme-secret" };
const GLOBEX = { authorization: "Bearer globex-secret" };

/** The same phone hook for process_user_phone, so one call meets the plugin at two hooks. */
const userPhoneHook = (tag: string) => phoneHook(tag);
function userPhoneInput(callId: string): Record<string, any> {
  const input = fixture("process_user_phone");
  input.call_full.channel.id = callId;
  input.phone = "+79217770205";
  return input;
}

const LIVE = { "phones/plugin.json": { priority: 10 }, "phones/process_client_phone.js": phoneHook("-live"), "phones/process_user_phone.js": userPhoneHook("-live") };

function canary(percent: number, extra: object = {}): Record<string, string | object> {
  return {
    "phones-next/plugin.json": { candidateOf: "phones", mode: "canary", percent, ...extra },
    "phones-next/process_client_phone.js": phoneHook("-canary"),
    "phones-next/process_user_phone.js": userPhoneHook("-canary"),
  };
}

async function phoneOf(host: TestHost, callId: string, headers = ACME): Promise<string> {
  const reply = await host.post(headers === ACME ? "acme" : "globex", "process_client_phone", phoneInput(callId), headers);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.data.phone;
}

describe("canary", function () {
  this.timeout(90_000);
  let host: TestHost | undefined;
  afterEach(() => host?.close());

  it("answers the same calls with the same version at every hook and every stage, for the given share of calls", async () => {
    host = await startTestHost(pluginsDir({ ...LIVE, ...canary(50) }), CONFIG);
    const calls = Array.from({ length: 30 }, (_, i) => `1750144325.${2800 + i}`);
    const picked: string[] = [];
    for (const id of calls) {
      const seen: string[] = [];
      for (let stage = 0; stage < 2; stage++) {
        seen.push(await phoneOf(host, id));
        const user = await host.post("acme", "process_user_phone", userPhoneInput(id), ACME);
        seen.push(user.body.data.phone);
      }
      assert.equal(new Set(seen).size, 1, `call ${id} met one version: ${seen.join(", ")}`);
      if (seen[0].endsWith("-canary")) picked.push(id);
    }
    // Which calls: a stable hash of the call id against the percent (so raising it only adds calls).
    assert.deepEqual(picked, calls.filter((id) => canaryPicks(callKey(phoneInput(id), "any"), 50)));
    assert.ok(picked.length > 0 && picked.length < calls.length, `${picked.length} of ${calls.length} calls went to the canary`);

    const status = await statusOf(host.url, "acme", "phones-next");
    assert.deepEqual(status.candidate, { of: "phones", mode: "canary", percent: 50, state: "running" });
    // The trace and the recent runs name the version that answered.
    const reply = await host.post("acme", "process_client_phone", phoneInput(picked[0]), ACME);
    assert.match(reply.trace[0], new RegExp(`^phones;status=ok;ms=\\d+;v=${status.version}$`));
    const runs = await call(host.url, `/v1/tenants/acme/runs?limit=1`, ADMIN);
    assert.equal(runs.body.runs[0].plugin, "phones");
    assert.equal(runs.body.runs[0].candidate, "phones-next");
    assert.equal(runs.body.runs[0].version, status.version);
  });

  it("answers only for the tenants the candidate serves; abort (CLI) stops it until its folder changes", async () => {
    host = await startTestHost(pluginsDir({ ...LIVE, ...canary(100, { tenants: ["acme"] }) }), CONFIG);
    assert.equal(await phoneOf(host, "7.1"), "+79217770205-canary");
    assert.equal(await phoneOf(host, "7.1", GLOBEX), "+79217770205-live");

    const aborted = await hookhost(["abort", "phones-next", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /phones-next: aborted/);
    assert.equal(await phoneOf(host, "7.1"), "+79217770205-live");
    assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.state, "aborted");

    writePlugins(host.dir, { "phones-next/process_client_phone.js": phoneHook("-canary2") });
    await eventually(async () => assert.equal(await phoneOf(host!, "7.1"), "+79217770205-canary2"));
    assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.state, "running");
  });
});

describe("promotion", function () {
  this.timeout(90_000);
  let host: TestHost;
  beforeEach(async () => {
    host = await startTestHost(pluginsDir({ ...LIVE, ...canary(0) }), CONFIG);
  });
  afterEach(() => host.close());

  it("serves the candidate's code as the live plugin (CLI), the candidate stops, and a rollback undoes it", async () => {
    assert.equal(await phoneOf(host, "9.1"), "+79217770205-live", "0 %: no call goes to the canary");
    const live = await statusOf(host.url, "acme", "phones");
    const candidate = await statusOf(host.url, "acme", "phones-next");

    const promoted = await hookhost(["promote", "phones-next", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.equal(promoted.stdout.trim(), `phones: serving phones-next's version ${candidate.version} until phones's folder changes`);
    for (const id of ["9.1", "9.2", "9.3"]) assert.equal(await phoneOf(host, id), "+79217770205-canary");
    const after = await statusOf(host.url, "acme", "phones");
    assert.deepEqual(after.served, { version: candidate.version, reason: "promoted" });
    assert.equal(after.priority, 10, "in the live plugin's place in the chain");
    assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.state, "promoted");

    const back = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, {});
    assert.deepEqual(back.body, { plugin: "phones", version: live.version, previous: candidate.version });
    assert.equal(await phoneOf(host, "9.1"), "+79217770205-live");
  });

  it("ends when the live folder changes", async () => {
    assert.deepEqual((await call(host.url, "/v1/admin/plugins/phones-next/promote", ADMIN, {})).body, { plugin: "phones", version: (await statusOf(host.url, "acme", "phones-next")).version });
    writePlugins(host.dir, { "phones/process_client_phone.js": phoneHook("-live2") });
    await eventually(async () => assert.equal(await phoneOf(host, "9.1"), "+79217770205-live2"));
    assert.equal((await statusOf(host.url, "acme", "phones")).served.reason, "latest");
  });

  it("refuses what is not a candidate, an unknown name, and any token but the admin's", async () => {
    const notCandidate = await call(host.url, "/v1/admin/plugins/phones/promote", ADMIN, {});
    assert.equal(notCandidate.status, 409);
    assert.equal(notCandidate.body.error.code, "not_a_candidate");
    assert.equal((await call(host.url, "/v1/admin/plugins/phones/abort", ADMIN, {})).status, 409);
    assert.equal((await call(host.url, "/v1/admin/plugins/nosuch/promote", ADMIN, {})).status, 404);
    assert.equal((await call(host.url, "/v1/admin/plugins/phones-next/promote", "acme-secret", {})).status, 401);
    assert.equal((await call(host.url, "/v1/admin/plugins/phones-next/promote", ADMIN, { version: "0123456789ab" })).status, 400);
    assert.equal(await phoneOf(host, "9.1"), "+79217770205-live", "nothing was promoted");
  });
});

describe("shadow", function () {
  this.timeout(90_000);
  let host: TestHost;
  let server: http.Server;
  // The candidate waits on this server, which answers only when the test says so.
  let held: http.ServerResponse[];
  beforeEach(async () => {
    held = [];
    server = http.createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    host = await startTestHost(
      pluginsDir({
        "phones/plugin.json": { priority: 10 },
        "phones/process_client_phone.js": phoneHook("-x"),
        "phones-next/plugin.json": { candidateOf: "phones", mode: "shadow", allowHosts: ["127.0.0.1"] },
        "phones-next/process_client_phone.js": `export default async (input, ctx) => {
  await ctx.http.fetch("http://127.0.0.1:${port}/hold");
  return { phone: input.phone + (input.phone.startsWith("8") ? "-x" : "-next") };
};\n`,
      }),
      { ...CONFIG, timeouts: { process_client_phone: 20_000 } },
    );
  });
  afterEach(async () => {
    await host.close();
    server.closeAllConnections();
    server.close();
  });

  it("runs beside the live version after the answer went out, never answers, and records each difference with the input", async () => {
    const same = await host.post("acme", "process_client_phone", phoneInput("5.1", "89217770205"), ACME);
    const other = await host.post("acme", "process_client_phone", phoneInput("5.2"), ACME);
    // Both answered by the live version while the candidate still waits for the held server.
    assert.equal(same.body.data.phone, "89217770205-x");
    assert.equal(other.body.data.phone, "+79217770205-x");
    assert.deepEqual(other.trace.map((t) => t.split(";")[0]), ["phones"]);
    await eventually(async () => assert.equal(held.length, 1), 10_000);
    assert.deepEqual((await call(host.url, "/v1/tenants/acme/shadow", "acme-secret")).body.differences, [], "nothing compared yet");

    // Release the held fetches as they come (one shadow run after another per request).
    const release = setInterval(() => held.splice(0).forEach((res) => res.end("{}")), 20);
    try {
      await eventually(async () => assert.equal((await statusOf(host.url, "acme", "phones-next")).candidate.shadow.compared, 2), 20_000);
    } finally {
      clearInterval(release);
    }
    const status = await statusOf(host.url, "acme", "phones-next");
    assert.deepEqual(status.candidate, { of: "phones", mode: "shadow", state: "running", shadow: { compared: 2, differences: 1, skipped: 0 } });
    const { differences } = (await call(host.url, "/v1/tenants/acme/shadow", "acme-secret")).body;
    assert.equal(differences.length, 1);
    const d = differences[0];
    assert.equal(d.requestId, other.headers.get("x-request-id"));
    assert.deepEqual([d.hook, d.plugin, d.candidate, d.version], ["process_client_phone", "phones", "phones-next", status.version]);
    assert.equal(d.input.phone, "+79217770205");
    assert.equal(d.input.call_full.channel.id, "5.2");
    assert.deepEqual(d.live, { status: "ok", value: { phone: "+79217770205-x" }, version: (await statusOf(host.url, "acme", "phones")).version });
    assert.deepEqual(d.candidateAnswer, { status: "ok", value: { phone: "+79217770205-next" } });
    // Another tenant's token does not read them; the admin's does.
    assert.equal((await call(host.url, "/v1/tenants/acme/shadow", "globex-secret")).status, 401);
    assert.equal((await call(host.url, "/v1/tenants/acme/shadow", ADMIN)).body.differences.length, 1);
    assert.deepEqual((await call(host.url, "/v1/tenants/globex/shadow", "globex-secret")).body.differences, []);
  });

  it("leaves a call's shadow run out while 8 are in flight on the candidate, and counts it", async () => {
    for (let i = 0; i < 10; i++) assert.equal(await phoneOf(host, `6.${i}`), "+79217770205-x");
    await eventually(async () => assert.deepEqual((await statusOf(host.url, "acme", "phones-next")).candidate.shadow, { compared: 0, differences: 0, skipped: 2 }), 10_000);
    const release = setInterval(() => held.splice(0).forEach((res) => res.end("{}")), 20);
    try {
      await eventually(async () => assert.deepEqual((await statusOf(host.url, "acme", "phones-next")).candidate.shadow, { compared: 8, differences: 8, skipped: 2 }), 20_000);
    } finally {
      clearInterval(release);
    }
  });
});

describe("candidates the host cannot run", function () {
  this.timeout(60_000);
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        ...LIVE,
        "orphan/plugin.json": { candidateOf: "nosuch", mode: "shadow" },
        "orphan/process_client_phone.js": phoneHook("-orphan"),
        "m-mode/plugin.json": { mode: "shadow" },
        "m-mode/process_client_phone.js": phoneHook("-m"),
        "m-percent/plugin.json": { candidateOf: "phones", mode: "canary" },
        "m-percent/process_client_phone.js": phoneHook("-m"),
        "m-range/plugin.json": { candidateOf: "phones", mode: "canary", percent: 150 },
        "m-range/process_client_phone.js": phoneHook("-m"),
        "m-shadow/plugin.json": { candidateOf: "phones", mode: "shadow", percent: 5 },
        "m-shadow/process_client_phone.js": phoneHook("-m"),
        "m-self/plugin.json": { candidateOf: "m-self", mode: "shadow" },
        "m-self/process_client_phone.js": phoneHook("-m"),
        "m-nomode/plugin.json": { candidateOf: "phones" },
        "m-nomode/process_client_phone.js": phoneHook("-m"),
        "m-name/plugin.json": { candidateOf: "Phones!", mode: "shadow" },
        "m-name/process_client_phone.js": phoneHook("-m"),
      }),
      CONFIG,
    );
  });
  after(() => host.close());

  it("reports bad candidate fields in plugin.json as the folder's error, naming the field", async () => {
    const { plugins } = (await call(host.url, "/v1/tenants/acme/plugins", ADMIN)).body;
    const errorOf = (folder: string) => plugins.find((p: { folder: string }) => p.folder === folder)?.error?.message;
    assert.match(errorOf("m-mode"), /mode: only a candidate has a mode/);
    assert.match(errorOf("m-percent"), /percent: a canary needs the percent/);
    assert.match(errorOf("m-range"), /percent: .*100/);
    assert.match(errorOf("m-shadow"), /percent: a shadow runs on every call/);
    assert.match(errorOf("m-self"), /candidateOf: "m-self" is this plugin itself/);
    assert.match(errorOf("m-nomode"), /mode: a candidate needs a mode/);
    assert.match(errorOf("m-name"), /candidateOf: must match/);
    assert.equal(await phoneOf(host, "3.1"), "+79217770205-live", "the live plugin is untouched");
  });

  it("shows a candidate of a plugin that is not loaded as waiting, and will not promote it", async () => {
    const orphan = await statusOf(host.url, "acme", "orphan");
    assert.equal(orphan.state, "ok");
    assert.deepEqual(orphan.candidate, { of: "nosuch", mode: "shadow", state: "waiting", shadow: { compared: 0, differences: 0, skipped: 0 } });
    const refused = await call(host.url, "/v1/admin/plugins/orphan/promote", ADMIN, {});
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "no_live_plugin");
    const reply = await host.post("acme", "process_client_phone", phoneInput("3.2"), ACME);
    assert.deepEqual(reply.trace.map((t) => t.split(";")[0]), ["phones"], "a candidate never answers as itself");
    const overview = await call(host.url, "/v1/admin/overview", ADMIN);
    assert.deepEqual(overview.body.candidates.map((c: { name: string; state: string }) => [c.name, c.state]), [["orphan", "waiting"]]);
  });
});
