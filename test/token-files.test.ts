// Tokens from files (issue 13: "tokens from a Secret"): `tenants.<id>.tokenFile` and `adminTokenFile`
// name files read at every config load, so a Kubernetes Secret or a systemd credential holds the
// tokens while hookhost.json stays in a ConfigMap. A Secret's update (the `..data` swap) reloads.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadSettings, readConfigFile } from "../core/config.js";
import type { RunningHost } from "../core/front/server.js";
import { KubeVolume } from "./kube-volume.js";
import { eventually, fixture, keepingLogger, pluginsDir, postHook, startHost, type LogLine } from "./support.js";

const HOOK = "process_client_phone";

function configProblems(file: string): string[] {
  try {
    readConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  assert.fail(`${file} was accepted`);
}

describe("tokens from files (Secrets, credentials)", function () {
  this.timeout(30_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), "hookhost-token-files-"));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it("reads a token file relative to the config's folder, trimmed of the newline `echo` leaves", () => {
    mkdirSync(join(work, "secrets"));
    writeFileSync(join(work, "secrets", "acme"), "s3cret-acme\n");
    writeFileSync(join(work, "hookhost.json"), JSON.stringify({ tenants: { acme: { tokenFile: "secrets/acme" } }, adminTokenFile: join(work, "secrets", "acme") }));
    const config = readConfigFile(join(work, "hookhost.json"));
    assert.equal(config.tenants.acme!.token, "s3cret-acme");
    assert.equal(config.adminToken, "s3cret-acme");
  });

  const bad: { why: string; setup: (dir: string) => object; says: RegExp }[] = [
    { why: "a missing file", setup: () => ({ tenants: { acme: { tokenFile: "nope" } } }), says: /tenants\.acme\.tokenFile: .*nope cannot be used: .*ENOENT/ },
    { why: "an empty file", setup: (d) => (writeFileSync(join(d, "t"), " \n"), { tenants: { acme: { tokenFile: "t" } } }), says: /tenants\.acme\.tokenFile: .*t cannot be used: it is empty/ },
    { why: "two lines", setup: (d) => (writeFileSync(join(d, "t"), "one\ntwo\n"), { tenants: { acme: { tokenFile: "t" } } }), says: /one line with no spaces/ },
    { why: "a folder", setup: (d) => (mkdirSync(join(d, "t")), { adminTokenFile: "t" }), says: /adminTokenFile: .*not a regular file/ },
    { why: "a file larger than a token", setup: (d) => (writeFileSync(join(d, "t"), "x".repeat(10_000)), { adminTokenFile: "t" }), says: /larger than 4096 bytes/ },
    { why: "token and tokenFile both", setup: (d) => (writeFileSync(join(d, "t"), "x"), { tenants: { acme: { token: "a", tokenFile: "t" } } }), says: /one of token, tokenSha256 and tokenFile/ },
    { why: "adminToken and adminTokenFile both", setup: (d) => (writeFileSync(join(d, "t"), "x"), { adminToken: "a", adminTokenFile: "t" }), says: /adminToken or adminTokenFile, not both/ },
  ];
  for (const { why, setup, says } of bad) {
    it(`refuses ${why}, naming the key and the file`, () => {
      writeFileSync(join(work, "hookhost.json"), JSON.stringify(setup(work)));
      const problems = configProblems(join(work, "hookhost.json"));
      assert.ok(problems.some((p) => says.test(p)), problems.join("\n"));
    });
  }

  it("start-up fails with the file named when a token file cannot be read", () => {
    writeFileSync(join(work, "hookhost.json"), JSON.stringify({ tenants: { acme: { tokenFile: "/nonexistent/acme" } } }));
    assert.throws(() => loadSettings({ HOOKHOST_CONFIG: join(work, "hookhost.json"), PORT: "0" }, work), (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.includes("/nonexistent/acme")));
  });

  it("serves with tokens from a Secret volume; a swapped Secret rotates them, and one swapped to nothing keeps the last good tokens", async () => {
    const secret = new KubeVolume(join(work, "tokens"));
    secret.publish({ acme: "acme-1", admin: "admin-1" });
    const configFile = join(work, "hookhost.json");
    writeFileSync(configFile, JSON.stringify({ tenants: { acme: { tokenFile: "tokens/acme" }, other: { token: "other" } }, adminTokenFile: "tokens/admin" }));
    const kept = keepingLogger("info");
    const lines: LogLine[] = kept.lines;
    const dir = pluginsDir({ "tag/plugin.json": {}, [`tag/${HOOK}.js`]: `export default (input, ctx) => ({ phone: ctx.tenant + ":" + input.phone });` });
    const settings = loadSettings({ HOOKHOST_CONFIG: configFile, HOOKHOST_PLUGINS: dir, PORT: "0", HOST: "127.0.0.1" }, work);
    let host: RunningHost | undefined;
    try {
      host = await startHost(settings, kept.logger);
      const base = `http://127.0.0.1:${host.port}`;
      const call = (token: string) => postHook(base, "acme", HOOK, fixture(HOOK), { authorization: `Bearer ${token}` });
      const admin = async (token: string) => (await fetch(`${base}/v1/tenants/other/plugins`, { headers: { authorization: `Bearer ${token}` } })).status;
      assert.equal((await call("acme-1")).status, 200);
      assert.equal((await call("wrong")).status, 401);
      assert.equal(await admin("admin-1"), 200);

      secret.publish({ acme: "acme-2", admin: "admin-2" });
      await eventually(async () => assert.equal((await call("acme-2")).status, 200));
      assert.equal((await call("acme-1")).status, 401);
      await eventually(async () => assert.equal(await admin("admin-2"), 200));
      assert.equal(await admin("admin-1"), 401);

      const refusals = () => lines.filter((l) => l.message === "config reload failed; the last good config stays in force").length;
      const before = refusals();
      secret.publish({ acme: "", admin: "admin-2" });
      await eventually(async () => assert.ok(refusals() > before, "the emptied Secret was not noticed"));
      const refusal = lines.filter((l) => l.message === "config reload failed; the last good config stays in force").at(-1)!;
      assert.match(JSON.stringify(refusal.problems), /tenants\.acme\.tokenFile: .*cannot be used: it is empty/);
      assert.equal((await call("acme-2")).status, 200, "the last good token still serves");
      assert.ok(!JSON.stringify(lines).includes("acme-2"), "a token never reaches the log");
    } finally {
      await host?.close(1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });

});
