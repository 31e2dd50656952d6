// Versions and rollback through the real host: the version id in status and trace, the kept
// versions, rollback by API and by `hookhost rollback`, and what the folder's next change does.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { versionId } from "../core/versions.js";
import { eventually, pluginsDir, startTestHost, writePlugins, type TestHost } from "./support.js";
import { ADMIN, call, CONFIG, hookhost, phoneHook, phoneInput, statusOf } from "./rollout-support.js";

const MANIFEST = JSON.stringify({ priority: 10 });
const version = (code: string) => versionId(MANIFEST, new Map([["process_client_phone.js", code]]));

/** Writes a new version of the phones plugin and waits until the host answers with it. */
async function edit(host: TestHost, tag: string): Promise<void> {
  writePlugins(host.dir, { "phones/process_client_phone.js": phoneHook(tag) });
  await eventually(async () => assert.equal((await host.post("acme", "process_client_phone", phoneInput("1.1"), { authorization: "Bearer acme-secret" })).body.data.phone, `+79217770205${tag}`));
}

async function answer(host: TestHost): Promise<{ phone: string; trace: string[] }> {
  const reply = await host.post("acme", "process_client_phone", phoneInput("1.1"), { authorization: "Bearer acme-secret" });
  return { phone: reply.body.data.phone, trace: reply.trace };
}

describe("versions and rollback", function () {
  this.timeout(60_000);
  let host: TestHost;

  beforeEach(async () => {
    host = await startTestHost(pluginsDir({ "phones/plugin.json": MANIFEST, "phones/process_client_phone.js": phoneHook("-v1") }), { ...CONFIG, keepVersions: 3 });
  });
  afterEach(() => host.close());

  it("names the served version (the content hash of the folder) in the status and the trace header", async () => {
    const v1 = version(phoneHook("-v1"));
    assert.match(v1, /^[0-9a-f]{12}$/);
    const status = await statusOf(host.url, "acme", "phones");
    assert.equal(status.version, v1);
    assert.deepEqual(status.served, { version: v1, reason: "latest" });
    assert.deepEqual(status.versions.map((v: { version: string }) => v.version), [v1]);
    assert.deepEqual((await answer(host)).trace.map((t) => t.replace(/;ms=\d+/, "")), [`phones;status=ok;v=${v1}`]);
  });

  it("rolls a bad edit back to the previous version without touching the folder; the folder's next change replaces it", async () => {
    const [v1, bad] = [version(phoneHook("-v1")), version("export default () => { throw new Error('bad edit'); };\n")];
    writePlugins(host.dir, { "phones/process_client_phone.js": "export default () => { throw new Error('bad edit'); };\n" });
    await eventually(async () => assert.match((await answer(host)).trace[0], /status=error/));
    assert.deepEqual((await statusOf(host.url, "acme", "phones")).versions.map((v: { version: string }) => v.version), [bad, v1]);

    const rolled = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, {});
    assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
    assert.deepEqual(rolled.body, { plugin: "phones", version: v1, previous: bad });
    const now = await answer(host);
    assert.equal(now.phone, "+79217770205-v1");
    assert.match(now.trace[0], new RegExp(`status=ok;ms=\\d+;v=${v1}$`));
    const status = await statusOf(host.url, "acme", "phones");
    assert.equal(status.state, "ok");
    assert.deepEqual(status.served, { version: v1, reason: "rollback" });

    // Nothing older than v1 is kept.
    const none = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, {});
    assert.equal(none.status, 409);
    assert.equal(none.body.error.code, "no_older_version");

    await edit(host, "-v3");
    assert.deepEqual((await statusOf(host.url, "acme", "phones")).served, { version: version(phoneHook("-v3")), reason: "latest" });
  });

  it("rolls back to a named kept version, keeps only keepVersions of them, and refuses an unknown one", async () => {
    for (const tag of ["-v2", "-v3", "-v4"]) await edit(host, tag);
    const kept = (await statusOf(host.url, "acme", "phones")).versions.map((v: { version: string }) => v.version);
    assert.deepEqual(kept, ["-v4", "-v3", "-v2"].map((t) => version(phoneHook(t))), "three kept (keepVersions 3), newest first");

    const named = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, { version: kept[2] });
    assert.equal(named.status, 200);
    assert.equal((await answer(host)).phone, "+79217770205-v2");
    // Forward again, to a newer kept version: a rollback names any kept one.
    assert.equal((await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, { version: kept[1] })).status, 200);
    assert.equal((await answer(host)).phone, "+79217770205-v3");

    const gone = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, { version: version(phoneHook("-v1")) });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, "unknown_version");
    const malformed = await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, { version: "v1" });
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.error.message, /12 hex/);
    assert.equal((await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, "{not json")).status, 400);
  });

  it("refuses rollback without the admin token (a tenant's token included) and for an unknown plugin", async () => {
    await edit(host, "-v2");
    for (const token of [undefined, "acme-secret", "wrong"]) {
      const refused = await call(host.url, "/v1/admin/plugins/phones/rollback", token, {});
      assert.equal(refused.status, 401, String(token));
      assert.equal(refused.body.error.code, "unauthorized");
    }
    assert.equal((await answer(host)).phone, "+79217770205-v2", "nothing changed");
    const unknown = await call(host.url, "/v1/admin/plugins/nosuch/rollback", ADMIN, {});
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "unknown_plugin");
    assert.equal((await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN)).status, 405, "GET is not a rollback");
  });

  it("keeps serving the rolled-back version when the folder's next change is broken (stale)", async () => {
    await edit(host, "-v2");
    assert.equal((await call(host.url, "/v1/admin/plugins/phones/rollback", ADMIN, {})).status, 200);
    writePlugins(host.dir, { "phones/process_client_phone.js": "export default (input) => { return { phone: ; };\n" });
    await eventually(async () => assert.equal((await statusOf(host.url, "acme", "phones")).state, "stale"));
    assert.equal((await answer(host)).phone, "+79217770205-v1");
    assert.equal((await statusOf(host.url, "acme", "phones")).served.reason, "rollback");
  });
});

describe("hookhost rollback", function () {
  this.timeout(90_000);
  let host: TestHost;
  let tokenDir: string;

  before(async () => {
    host = await startTestHost(pluginsDir({ "phones/plugin.json": MANIFEST, "phones/process_client_phone.js": phoneHook("-v1") }), CONFIG);
    await edit(host, "-v2");
    tokenDir = mkdtempSync(join(tmpdir(), "hookhost-token-"));
  });
  after(async () => {
    await host.close();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  it("puts back the previous version with the token from HOOKHOST_ADMIN_TOKEN, and a named one with --token-file", async () => {
    const [v1, v2] = [version(phoneHook("-v1")), version(phoneHook("-v2"))];
    const ran = await hookhost(["rollback", "phones", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), `phones: serving ${v1} (was ${v2}) until its folder changes`);
    assert.equal((await answer(host)).phone, "+79217770205-v1");

    const file = join(tokenDir, "admin-token");
    writeFileSync(file, `${ADMIN}\n`);
    const named = await hookhost(["rollback", "phones", "--version", v2, "--url", host.url, "--token-file", file]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal((await answer(host)).phone, "+79217770205-v2");
  });

  it("exits 1 saying why: no token, a refused token, an unknown plugin or version, no host, no plugin named", async () => {
    const noToken = await hookhost(["rollback", "phones", "--url", host.url]);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /no admin token: set HOOKHOST_ADMIN_TOKEN or give --token-file/);
    const refused = await hookhost(["rollback", "phones", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: "acme-secret" });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /401 unauthorized: .*refused the admin token/);
    const unknown = await hookhost(["rollback", "nosuch", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404 unknown_plugin: no plugin named nosuch/);
    const unknownVersion = await hookhost(["rollback", "phones", "--version", "000000000000", "--url", host.url], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(unknownVersion.code, 1);
    assert.match(unknownVersion.stderr, /404 unknown_version/);
    const closed = await hookhost(["rollback", "phones", "--url", "http://127.0.0.1:1"], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /cannot reach the host at http:\/\/127\.0\.0\.1:1/);
    const usage = await hookhost(["rollback"], { HOOKHOST_ADMIN_TOKEN: ADMIN });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing <plugin>[\s\S]*Usage: hookhost rollback <plugin>/);
  });
});
