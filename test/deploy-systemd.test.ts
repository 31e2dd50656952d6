// deploy/systemd/hookhost.service: systemd-analyze verifies it (in a root of its own, where the
// ExecStart binary exists) and rates its sandboxing; its hardening leaves writable only the
// records folder; and its ExecStart, with its Environment, serves hooks when run here on this
// checkout (/opt/hookhost mapped to it, /etc/hookhost to a temp folder) and stops on SIGTERM with 0.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DEFAULT_RECORDS_DIR } from "../core/config.js";
import { listening, run, TOKEN, volumes, type Service } from "./deploy-support.js";
import { fixture, postHook, ROOT } from "./support.js";

const UNIT = join(ROOT, "deploy", "systemd", "hookhost.service");
const text = readFileSync(UNIT, "utf8");

/** Every `Key=value` of the unit, in order (a key may repeat). */
function keys(): [string, string][] {
  return text
    .split("\n")
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}
const one = (key: string) => {
  const found = keys().filter(([k]) => k === key);
  assert.equal(found.length, 1, `one ${key}=`);
  return found[0][1];
};

/** `systemd-analyze verify` of `unit` in a root that has the distribution's units and an ExecStart binary. */
function verify(unit: string): { status: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), "hookhost-unit-"));
  try {
    cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true });
    const exec = one("ExecStart").split(" ")[0];
    mkdirSync(join(root, dirname(exec)), { recursive: true });
    writeFileSync(join(root, exec), "#!/bin/sh\n");
    chmodSync(join(root, exec), 0o755);
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    writeFileSync(join(root, "etc/systemd/system/hookhost.service"), unit);
    const r = spawnSync("systemd-analyze", ["verify", `--root=${root}`, "/etc/systemd/system/hookhost.service"], { encoding: "utf8" });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe("systemd unit (deploy/systemd/hookhost.service)", function () {
  this.timeout(60_000);

  it("systemd-analyze verify finds nothing to say, and does flag a wrong value", () => {
    assert.deepEqual(verify(text), { status: 0, output: "" });
    assert.match(verify(text.replace("KillMode=mixed", "KillMode=mixd")).output, /KillMode|kill mode/i);
  });

  it("systemd-analyze security rates its exposure 2.0 or lower (OK)", () => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", UNIT], { encoding: "utf8" });
    const level = /Overall exposure level for hookhost\.service: ([\d.]+)/.exec(r.stdout);
    assert.ok(level, r.stdout + r.stderr);
    assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]}`);
  });

  it("hardened: a service user, read-only system, writable only the records folder, no new privileges; restarts on failure", () => {
    assert.ok(one("User") !== "root" || one("DynamicUser") === "yes");
    assert.equal(one("ProtectSystem"), "strict");
    assert.equal(one("ReadWritePaths"), DEFAULT_RECORDS_DIR);
    assert.equal(one("NoNewPrivileges"), "yes");
    assert.equal(one("CapabilityBoundingSet"), "");
    assert.equal(one("Restart"), "on-failure");
    // V8 writes the code it compiles: a unit that denies W^X memory would kill the host at its first hook.
    assert.ok(!keys().some(([k, v]) => k === "MemoryDenyWriteExecute" && v === "yes"));
    // The host has no SIGHUP handler (Node would exit): no ExecReload sends it one.
    assert.ok(!keys().some(([k]) => k === "ExecReload"));
  });

  describe("ExecStart with the unit's Environment, run here", () => {
    let dirs: ReturnType<typeof volumes>;
    let service: Service | undefined;
    beforeEach(() => {
      dirs = volumes();
    });
    afterEach(() => {
      service?.child.kill("SIGKILL");
      service = undefined;
      rmSync(dirs.root, { recursive: true, force: true });
    });

    it("serves hooks with /etc/hookhost's config and plugins, and stops on SIGTERM with code 0", async () => {
      const local = (s: string) => s.replaceAll("/opt/hookhost", ROOT).replaceAll("/etc/hookhost/hookhost.json", dirs.configFile).replaceAll("/etc/hookhost/plugins", dirs.plugins);
      const argv = local(one("ExecStart")).split(" ");
      const env = Object.fromEntries(
        one("Environment")
          .split(" ")
          .map((pair) => local(pair).split("=") as [string, string]),
      );
      assert.equal(env.HOST, "127.0.0.1", "loopback: a proxy or the connector's machine in front");
      service = run(argv, { ...env, PORT: "0" }, local(one("WorkingDirectory")));
      const url = await listening(service);
      const answer = await postHook(url, "acme", "process_client_phone", fixture("process_client_phone"), { authorization: `Bearer ${TOKEN}` });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.data.phone, "+89213451807");
      service.child.kill("SIGTERM");
      assert.deepEqual(await service.ended, { code: 0, signal: null }, service.lines.join("\n"));
    });
  });
});
