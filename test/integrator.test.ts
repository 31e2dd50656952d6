// An integrator's own folder outside this repository, set up as the README says ("In a folder of
// your own"): hookhost installed from the clone, `npx hookhost` run there on a machine whose own
// Node may be older than 24, and the README's tsconfig.json giving editor types.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { ROOT, writePlugins } from "./support.js";

const run = promisify(execFile);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in `cwd` with this repository's node_modules/.bin off PATH: only the machine's own Node and npm. */
async function sh(cwd: string, command: string, args: string[]): Promise<Ran> {
  const ownBin = join(ROOT, "node_modules", ".bin");
  const path = (process.env.PATH ?? "").split(delimiter).filter((p) => !p.startsWith(ownBin)).join(delimiter);
  try {
    const { stdout, stderr } = await run(command, args, { cwd, env: { ...process.env, PATH: path }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** The tsconfig.json the README gives integrators, taken from the README itself. */
function readmeTsconfig(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf("For types in your editor");
  assert.ok(at > 0, "the README no longer has its editor-types paragraph");
  const block = /```json\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, "no tsconfig.json block after the editor-types paragraph");
  return block[1];
}

describe("an integrator's own folder, outside this repository", function () {
  this.timeout(240_000);
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hookhost-integrator-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "acme-plugins", private: true, type: "module" }));
    // from the clone: a link, nothing to download
    const installed = await sh(dir, "npm", ["install", "--offline", "--no-audit", "--no-fund", ROOT]);
    assert.equal(installed.code, 0, installed.stderr);
    writeFileSync(join(dir, "tsconfig.json"), readmeTsconfig());
    writePlugins(join(dir, "plugins"), {
      "trunks/plugin.json": { priority: 50 },
      "trunks/process_registration_params.ts":
        'export default defineHook("process_registration_params", (input) => {\n  if (input.call_full.channel.trunk.number !== "88005553311") return;\n  return { CRM_CREATE: 0 };\n});\n',
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("npx hookhost runs on Node 24 there, whatever Node started npx", async () => {
    const ran = await sh(dir, "npx", ["--no-install", "hookhost", "--version"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^hookhost \d+\.\d+\.\d+ \(node v24\./);
  });

  it("npx hookhost check and run work on the folder's plugins", async () => {
    const checked = await sh(dir, "npx", ["--no-install", "hookhost", "check", "plugins"]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /^ok\s+trunks: priority 50; tenants \*; hooks process_registration_params$/m);
    const input = join(dir, "node_modules", "hookhost", "examples", "inputs", "process_registration_params.input.json");
    const ran = await sh(dir, "npx", ["--no-install", "hookhost", "run", "process_registration_params", "--plugins", "plugins", "--input", input]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(JSON.parse(ran.stdout).state, "success");
    assert.match(ran.stderr, /x-hook-trace: trunks;status=(ok|skip);ms=\d+/);
  });

  it("the README's tsconfig.json type-checks the hooks against plugins.d.ts, as an editor does", async () => {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const clean = await sh(dir, process.execPath, [tsc, "-p", "."]);
    assert.equal(clean.code, 0, clean.stdout);
    writePlugins(join(dir, "plugins"), {
      "typo/plugin.json": {},
      "typo/process_client_phone.ts": 'export default defineHook("process_client_phone", (input) => ({ phone: input.phone.lenght }));\n',
    });
    try {
      const typo = await sh(dir, process.execPath, [tsc, "-p", "."]);
      assert.notEqual(typo.code, 0);
      assert.match(typo.stdout, /plugins\/typo\/process_client_phone\.ts\(1,\d+\): error TS2551: Property 'lenght' does not exist on type 'string'/);
    } finally {
      rmSync(join(dir, "plugins", "typo"), { recursive: true, force: true });
    }
  });
});

describe("the tarball `npm pack` makes", function () {
  this.timeout(60_000);

  it("holds the compiled host and CLI, the bin, plugins.d.ts and the examples, and none of the TypeScript source or tests", async () => {
    // --ignore-scripts: the listing only, without the build `npm pack` runs first (prepare)
    const packed = await sh(ROOT, "npm", ["pack", "--dry-run", "--json", "--ignore-scripts"]);
    assert.equal(packed.code, 0, packed.stderr);
    const files = new Set((JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
    for (const file of ["dist/core/main.js", "dist/cli/main.js", "dist/sandbox/sandbox.js", "bin/hookhost.js", "plugins.d.ts", "console/index.html", "console/console.js", "package.json", "examples/inputs/process_registration_params.input.json"]) {
      assert.ok(files.has(file), `${file} is not in the tarball`);
    }
    const stray = [...files].filter((f) => /^(core|sandbox|capabilities|cli|test|bench|scripts)\//.test(f) || f.endsWith(".tsbuildinfo"));
    assert.deepEqual(stray, []);
  });
});
