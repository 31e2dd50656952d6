import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULT_TENANT, loadSettings } from "../core/config.js";
import { built } from "./dist.js";
import { ROOT } from "./support.js";

describe("host config and environment (CONTRACT §1, §2)", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "hookhost-config-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.problems;
    }
    assert.fail("expected a ConfigError");
  };

  it("without a config file: the contract's defaults and one token-less tenant, default", () => {
    const s = loadSettings({}, dir);
    assert.equal(s.port, 8080);
    assert.equal(s.host, "127.0.0.1");
    assert.equal(s.pluginsDir, join(dir, "plugins"));
    assert.equal(s.configFile, undefined);
    assert.equal(s.logLevel, "info");
    assert.deepEqual(Object.keys(s.config.tenants), [DEFAULT_TENANT]);
    assert.equal(s.config.memoryMb, 64);
    assert.equal(s.config.bodyLimitKb, 1024);
  });

  it("reads ./hookhost.json when present, and HOOKHOST_CONFIG over it", () => {
    writeFileSync(join(dir, "hookhost.json"), JSON.stringify({ tenants: { acme: { token: "t" } } }));
    writeFileSync(join(dir, "other.json"), JSON.stringify({ tenants: { globex: { token: "g" } }, memoryMb: 32 }));
    assert.deepEqual(Object.keys(loadSettings({}, dir).config.tenants), ["acme"]);
    const other = loadSettings({ HOOKHOST_CONFIG: "other.json" }, dir);
    assert.deepEqual(Object.keys(other.config.tenants), ["globex"]);
    assert.equal(other.config.memoryMb, 32);
  });

  it("a bad file lists every problem with its path", () => {
    writeFileSync(
      join(dir, "hookhost.json"),
      JSON.stringify({ tenants: { "Bad Id": { token: "x" }, ok: { token: "a", tokenSha256: "xyz" } }, memoryMb: 2, timeouts: { need_registraton: 5 }, extra: 1 }),
    );
    const problems = problemsOf(() => loadSettings({}, dir));
    const joined = problems.join("\n");
    assert.match(joined, /^tenants\.Bad Id: .*\^\[a-z0-9\]/m);
    assert.match(joined, /^tenants\.ok\.tokenSha256: must be 64 hex characters/m);
    assert.match(joined, /^tenants\.ok: give one of token, tokenSha256 and tokenFile, not two$/m);
    assert.match(joined, /^memoryMb: /m);
    assert.match(joined, /^timeouts: .*need_registraton/m);
    assert.match(joined, /^\(root\): .*extra/m);
    assert.equal(problems.length, 6, joined);
  });

  it("a file that is not JSON, or missing, is one clear problem", () => {
    writeFileSync(join(dir, "hookhost.json"), "{ tenants: ");
    assert.match(problemsOf(() => loadSettings({}, dir))[0], /is not JSON/);
    assert.match(problemsOf(() => loadSettings({ HOOKHOST_CONFIG: "nope.json" }, dir))[0], /cannot be read/);
  });

  it("bad environment values are named", () => {
    const problems = problemsOf(() => loadSettings({ PORT: "eighty", LOG_LEVEL: "verbose" }, dir)).join("\n");
    assert.match(problems, /^PORT: /m);
    assert.match(problems, /^LOG_LEVEL: /m);
  });

  it("a token-less tenant may only be served on loopback", () => {
    assert.match(problemsOf(() => loadSettings({ HOST: "0.0.0.0" }, dir))[0], /not a loopback address/);
    assert.equal(loadSettings({ HOST: "::1" }, dir).host, "::1");
    writeFileSync(join(dir, "hookhost.json"), JSON.stringify({ tenants: { acme: { token: "t" } } }));
    assert.equal(loadSettings({ HOST: "0.0.0.0" }, dir).host, "0.0.0.0");
    writeFileSync(join(dir, "hookhost.json"), JSON.stringify({ tenants: { acme: { token: "t" }, open: {} } }));
    assert.match(problemsOf(() => loadSettings({ HOST: "0.0.0.0" }, dir))[0], /not a loopback address/);
  });

  it("npm start with a bad config logs every problem and exits 1", () => {
    writeFileSync(join(dir, "hookhost.json"), JSON.stringify({ tenants: { acme: { tokn: "x" } }, bodyLimitKb: 0 }));
    const run = spawnSync(process.execPath, ["--no-node-snapshot", built("core/main.js")], { cwd: ROOT, env: { ...process.env, PORT: "0", HOOKHOST_PLUGINS: dir, HOOKHOST_CONFIG: join(dir, "hookhost.json") }, encoding: "utf8", timeout: 20_000 });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /tenants\.acme: .*tokn/);
    assert.match(run.stdout, /bodyLimitKb: /);
  });
});
