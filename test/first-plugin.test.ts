// `npm start` customizes nobody's calls by surprise: plugins/ ships no plugin, and the README's
// first-plugin walk runs exactly as written, in a folder laid out like a fresh clone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadSettings } from "../core/config.js";
import { listFolders } from "../core/discovery.js";
import { HOOK_NAMES } from "../core/hooks.js";
import { silentLogger } from "../core/log.js";
import { startHost } from "../core/front/server.js";
import { STOCK_MP3 } from "../core/stock-record.js";
import { fixture, postHook, ROOT, statuses, withTestLanesSettings } from "./support.js";

/** The README's "Your first plugin" section: its shell block, its TypeScript file, its numbered commands. */
function firstPluginWalk(): { shell: string[]; file: { path: string; text: string }; commands: string[] } {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = /^## Your first plugin[^\n]*\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section, "README.md has no \"Your first plugin\" section");
  const shell = /```sh\n([\s\S]*?)```/.exec(section)![1]!.trim().split("\n");
  const ts = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const file = /^\/\/ (\S+)\n/.exec(ts)![1]!;
  const commands = [...section.matchAll(/^\d+\. `(npx hookhost [^`]+)`/gm)].map((m) => m[1]!);
  return { shell, file: { path: file, text: ts }, commands };
}

function sh(command: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", command], { cwd, env: process.env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("plugins/ and the README's first plugin", function () {
  this.timeout(120_000);

  it("plugins/ ships no plugin", async () => {
    assert.deepEqual(await listFolders(path.join(ROOT, "plugins")), []);
  });

  it("the host as npm start runs it answers every hook's default: no plugin runs, only the stock conversion", async () => {
    const records = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-start-"));
    const host = await startHost(withTestLanesSettings(loadSettings({ HOST: "127.0.0.1", PORT: "0", HOOKHOST_RECORDS_DIR: records }, ROOT)), silentLogger());
    try {
      for (const hook of HOOK_NAMES) {
        const answer = await postHook(host.url, "default", hook, fixture(hook));
        assert.equal(answer.status, 200, hook);
        // the fixture's recording is not on this machine: the stock step fails, the original path is answered
        assert.deepEqual(statuses(answer.trace), hook === "process_record_file_path" ? [`${STOCK_MP3};status=error`] : [], hook);
      }
      const phone = await postHook(host.url, "default", "process_client_phone", fixture("process_client_phone"));
      assert.deepEqual(phone.body.data, { phone: "89213451807" }, "the client's number is the connector's, not rewritten");
    } finally {
      await host.close(1000);
      fs.rmSync(records, { recursive: true, force: true });
    }
  });

  it("the walk's commands run as written in a fresh clone's layout", async () => {
    const walk = firstPluginWalk();
    assert.equal(walk.shell.length, 2);
    assert.equal(walk.commands.length, 3);
    const clone = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-clone-"));
    try {
      fs.copyFileSync(path.join(ROOT, "package.json"), path.join(clone, "package.json"));
      fs.cpSync(path.join(ROOT, "plugins"), path.join(clone, "plugins"), { recursive: true });
      for (const linked of ["node_modules", "bin", "examples"]) fs.symlinkSync(path.join(ROOT, linked), path.join(clone, linked));

      for (const line of walk.shell) assert.equal((await sh(line, clone)).code, 0, line);
      fs.writeFileSync(path.join(clone, walk.file.path), walk.file.text);

      const [check, run, simulate] = walk.commands as [string, string, string];
      const checked = await sh(check, clone);
      assert.equal(checked.code, 0, checked.stdout + checked.stderr);
      assert.match(checked.stdout, /acme-trunks/);
      const ran = await sh(run, clone);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stderr, /acme-trunks;status=skip/, "the recorded call came through another trunk");
      const simulated = await sh(simulate, clone);
      assert.equal(simulated.code, 0, simulated.stderr);
      assert.match(simulated.stdout, /process_registration_params\s+acme-trunks ok/, "the 8-800 call: no lead");
      assert.match(simulated.stderr + simulated.stdout, /partner trunk: no lead/);
    } finally {
      fs.rmSync(clone, { recursive: true, force: true });
    }
  });
});
