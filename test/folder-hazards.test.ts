// A plugin folder is written by whoever deploys a plugin. What it holds must never block the host,
// make discovery walk for good, or hand anyone a file from outside the folder (issue 11, #5 #8 #9).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { lookup } from "node:dns/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, fixture, pluginsDir, startTestHost, statuses, writePlugins, type TestHost } from "./support.js";

const phone = fixture("process_client_phone");
const GOOD = {
  "good/plugin.json": {},
  "good/process_client_phone.js": `export default (input) => ({ phone: "good:" + input.phone });`,
};
const HOOK = `export default (input, ctx) => ({ phone: JSON.stringify(ctx.config) });`;

/** The status the admin token sees: every folder, broken or not. */
async function adminStatus(host: TestHost): Promise<{ text: string; byFolder: Map<string, any> }> {
  const response = await fetch(`${host.url}/v1/tenants/default/plugins`, { headers: { authorization: "Bearer admin" } });
  const text = await response.text();
  return { text, byFolder: new Map(JSON.parse(text).plugins.map((p: any) => [p.folder, p])) };
}

const CONFIG = { tenants: { default: {} }, adminToken: "admin" };

function problemOf(host: TestHost, dir: string) {
  const broken = host.registry.broken.find((b) => b.dir === dir);
  assert.ok(broken, `${dir} is not reported broken (broken: ${host.registry.broken.map((b) => b.dir).join(", ") || "none"})`);
  return broken.problem;
}

/** A promise that fails after `ms`: for work that must not wait on a blocked thread pool. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

const mkfifo = (path: string) => execFileSync("mkfifo", [path]);

/** Builds plugin folder `name` aside (a dot-folder the host ignores), then moves it in whole, as a deploy would. */
function deploy(pluginsDir: string, name: string, files: Record<string, string | object>, build: (folder: string) => void): void {
  const staging = join(pluginsDir, `.staging-${name}`);
  mkdirSync(staging);
  writePlugins(staging, files);
  build(staging);
  renameSync(staging, join(pluginsDir, name));
}

/** A character device node (the same as /dev/zero) at `path`; false where this process may not make one. */
function mknodZero(path: string): boolean {
  try {
    execFileSync("mknod", [path, "c", "1", "5"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("plugin folders: files that are not regular files (FIFOs, sockets, devices)", () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  it("at start: each is its folder's error naming the file; the host listens and the good plugin serves", async function () {
    this.timeout(20_000);
    const dir = pluginsDir({
      ...GOOD,
      "fifo-hook/plugin.json": {},
      "fifo-lib/plugin.json": {},
      "fifo-lib/process_client_phone.js": `import { x } from "./lib/x.js";\nexport default () => ({ phone: x });`,
      "socket-manifest/process_client_phone.js": HOOK,
      "dir-manifest/plugin.json/keep.txt": "a folder named plugin.json",
      "dir-manifest/process_client_phone.js": HOOK,
      "device-hook/plugin.json": {},
    });
    mkdirSync(join(dir, "fifo-manifest"));
    mkfifo(join(dir, "fifo-manifest/plugin.json"));
    mkfifo(join(dir, "fifo-hook/process_client_phone.js"));
    mkdirSync(join(dir, "fifo-lib/lib"));
    mkfifo(join(dir, "fifo-lib/lib/x.js"));
    const socket = createServer();
    await new Promise<void>((resolve) => socket.listen(join(dir, "socket-manifest/plugin.json"), resolve));
    servers.push(socket);
    const expected: Record<string, [string, RegExp]> = {
      "fifo-manifest": ["plugin.json", /^is not a regular file \(a FIFO\)$/],
      "fifo-hook": ["process_client_phone.js", /^is not a regular file \(a FIFO\)$/],
      "fifo-lib": ["lib/x.js", /^is not a regular file \(a FIFO\)$/],
      "socket-manifest": ["plugin.json", /^is not a regular file \(a socket\)$/],
      "dir-manifest": ["plugin.json", /^is not a regular file \(a folder\)$/],
    };
    if (mknodZero(join(dir, "device-hook/process_client_phone.js"))) expected["device-hook"] = ["process_client_phone.js", /^is not a regular file \(a character device\)$/];
    else rmSync(join(dir, "device-hook"), { recursive: true });
    const host = await startTestHost(dir, CONFIG);
    try {
      for (const [folder, [file, message]] of Object.entries(expected)) {
        const problem = problemOf(host, folder);
        assert.equal(problem.file, file, folder);
        assert.match(problem.message, message, folder);
      }
      assert.deepEqual(host.registry.loaded.map((p) => p.manifest.name), ["good"]);
      const answer = await host.post("default", "process_client_phone", phone);
      assert.deepEqual(statuses(answer.trace), ["good;status=ok"]);
    } finally {
      await host.close();
    }
  });

  it("at run time: FIFO folders dropped into a running host are errors, and the host's file and DNS work goes on", async function () {
    this.timeout(20_000);
    const host = await startTestHost(pluginsDir(GOOD), CONFIG);
    try {
      // more FIFOs than libuv has pool threads (4): a read of any one would hold a thread for good
      const fifos = ["f1/plugin.json", "f2/plugin.json", "f3/plugin.json", "f4/plugin.json", "f5/process_client_phone.js", "f6/lib/x.js"];
      const files = { "f5/plugin.json": {}, "f6/plugin.json": {}, "f6/process_client_phone.js": `import { x } from "./lib/x.js";\nexport default () => ({ phone: x });` };
      for (const path of fifos) {
        const [folder, file] = [path.split("/")[0], path.split("/").slice(1).join("/")];
        const own = Object.fromEntries(Object.entries(files).filter(([p]) => p.startsWith(`${folder}/`)).map(([p, c]) => [p.slice(folder.length + 1), c]));
        deploy(host.dir, folder, own, (staging) => {
          mkdirSync(join(staging, file, ".."), { recursive: true });
          mkfifo(join(staging, file));
        });
      }
      await eventually(async () => {
        for (const path of fifos) assert.match(problemOf(host, path.split("/")[0]).message, /^is not a regular file \(a FIFO\)$/);
      }, 8000);
      await within(2000, "a file read", readFile(join(host.dir, "good/plugin.json")));
      await within(2000, "a DNS lookup", lookup("localhost"));
      writePlugins(host.dir, { "later/plugin.json": { priority: 1 }, "later/process_client_phone.js": `export default (input) => ({ phone: "later:" + input.phone });` });
      await eventually(async () => assert.deepEqual(statuses((await host.post("default", "process_client_phone", phone)).trace), ["later;status=ok", "good;status=ok"]), 8000);
    } finally {
      await host.close();
    }
  });
});

describe("plugin folders: symbolic links", () => {
  const HOST_SECRET = "HOST-SECRET-LINE root:x:0:0";
  const VICTIM_SECRET = "VICTIM-WEBHOOK-SECRET-9f3a";
  let outside: string;
  let host: TestHost;
  let dir: string;

  /** folder → [the file the problem names, its message] */
  const expected: Record<string, [string, RegExp]> = {};
  const OUT = /^a symbolic link that leads outside the plugin folder; links may only point inside it$/;
  const NOWHERE = /^a symbolic link that leads nowhere, or in a circle$/;

  before(async function () {
    this.timeout(20_000);
    outside = mkdtempSync(join(tmpdir(), "hookhost-outside-"));
    writeFileSync(join(outside, "host-secret.txt"), `${HOST_SECRET}\n`);
    writeFileSync(join(outside, "steal.js"), `export default () => ({ phone: "${HOST_SECRET}" });\nexport const x = "${HOST_SECRET}";\n`);
    mkdirSync(join(outside, "lib"));
    writeFileSync(join(outside, "lib/x.js"), `export const x = "${HOST_SECRET}";\n`);
    dir = pluginsDir({
      ...GOOD,
      "victim/plugin.json": { tenants: ["default"], config: { webhook: VICTIM_SECRET } },
      "victim/customize_activity.js": `export default () => ({ victim: "own" });`,
      // links that stay inside the folder, through a chain, to a file, a folder and a hook
      "inside/conf/manifest.json": { config: { mine: "inside" } },
      "inside/impl/phone.js": `export default (input, ctx) => ({ phone: ctx.config.mine + ":" + input.phone });`,
      "inside/impl/helper.js": `export const tag = "helped";`,
      "inside/customize_activity.js": `import { tag } from "./lib/helper.js";\nexport default () => ({ inside: tag });`,
    });
    const link = (target: string, path: string) => {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      symlinkSync(target, join(dir, path));
    };
    link("m.json", "inside/plugin.json");
    link("conf/manifest.json", "inside/m.json");
    link("impl/phone.js", "inside/process_client_phone.js");
    link("impl", "inside/lib");

    const hooked = (folder: string, manifest: object = {}) => writePlugins(dir, { [`${folder}/plugin.json`]: manifest, [`${folder}/process_client_phone.js`]: HOOK });
    const manifestLink = (folder: string, target: string, message = OUT) => {
      writePlugins(dir, { [`${folder}/process_client_phone.js`]: HOOK });
      link(target, `${folder}/plugin.json`);
      expected[folder] = ["plugin.json", message];
    };
    manifestLink("manifest-absolute", join(outside, "host-secret.txt"));
    manifestLink("manifest-relative", join("..", "..", outside.split("/").pop()!, "host-secret.txt"));
    manifestLink("manifest-sibling", "../victim/plugin.json");
    manifestLink("manifest-sibling-absolute", join(dir, "victim/plugin.json"));
    manifestLink("manifest-dev-zero", "/dev/zero");
    manifestLink("manifest-etc", "/etc/passwd");
    // a chain: the first link stays inside, the second leaves
    manifestLink("manifest-chain-out", "alias.json");
    link("../victim/plugin.json", "manifest-chain-out/alias.json");
    manifestLink("manifest-loop", "again.json", NOWHERE);
    link("plugin.json", "manifest-loop/again.json");
    manifestLink("manifest-dangling", "nothing-here.json", NOWHERE);

    writePlugins(dir, { "hook-outside/plugin.json": {} });
    link(join(outside, "steal.js"), "hook-outside/process_client_phone.js");
    expected["hook-outside"] = ["process_client_phone.js", OUT];
    writePlugins(dir, { "lib-file-outside/plugin.json": {}, "lib-file-outside/process_client_phone.js": `import { x } from "./lib/x.js";\nexport default () => ({ phone: x });` });
    link(join("..", "..", "..", outside.split("/").pop()!, "steal.js"), "lib-file-outside/lib/x.js");
    expected["lib-file-outside"] = ["lib/x.js", OUT];
    writePlugins(dir, { "lib-dir-outside/plugin.json": {}, "lib-dir-outside/process_client_phone.js": `import { x } from "./lib/x.js";\nexport default () => ({ phone: x });` });
    link(join(outside, "lib"), "lib-dir-outside/lib");
    expected["lib-dir-outside"] = ["lib", OUT];
    hooked("lib-dev-zero");
    link("/dev/zero", "lib-dev-zero/lib/zero.js");
    expected["lib-dev-zero"] = ["lib/zero.js", OUT];
    hooked("root-link");
    link("/", "root-link/everything");
    expected["root-link"] = ["everything", OUT];

    host = await startTestHost(dir, CONFIG);
  });
  after(async () => {
    await host?.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it("a link that leaves the folder, or leads nowhere, is the folder's error naming the link", () => {
    for (const [folder, [file, message]] of Object.entries(expected)) {
      const problem = problemOf(host, folder);
      assert.equal(problem.file, file, folder);
      assert.match(problem.message, message, folder);
    }
    assert.deepEqual(host.registry.broken.map((b) => b.dir).sort(), Object.keys(expected).sort());
  });

  it("no status, answer or error shows another file's content, another plugin's config, or the host's paths", async () => {
    const { text } = await adminStatus(host);
    for (const secret of [HOST_SECRET, VICTIM_SECRET, outside, dir]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    const answer = await host.post("default", "process_client_phone", phone);
    assert.deepEqual(statuses(answer.trace), ["good;status=ok", "inside;status=ok"]);
    assert.ok(!JSON.stringify(answer.body).includes(VICTIM_SECRET) && !JSON.stringify(answer.body).includes(HOST_SECRET));
  });

  it("links that stay inside the folder (to a file, to a folder, in a chain) load and serve", async () => {
    assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "inside:good:89213451807");
    const activity = await host.post("default", "customize_activity", fixture("customize_activity"));
    assert.deepEqual(activity.body.data, { inside: "helped", victim: "own" });
  });

  it("a link made at run time is refused the same way, and the last good version keeps serving", async function () {
    this.timeout(10_000);
    writePlugins(dir, { "late/plugin.json": { priority: 1 }, "late/process_client_phone.js": `export default (input) => ({ phone: "late:" + input.phone });` });
    await eventually(async () => assert.deepEqual(statuses((await host.post("default", "process_client_phone", phone)).trace), ["late;status=ok", "good;status=ok", "inside;status=ok"]));
    symlinkSync("../victim/plugin.json", join(dir, "late/next.json"));
    renameSync(join(dir, "late/next.json"), join(dir, "late/plugin.json"));
    await eventually(async () => assert.equal((await adminStatus(host)).byFolder.get("late")?.state, "stale"));
    const { byFolder, text } = await adminStatus(host);
    assert.match(byFolder.get("late").error.message, OUT);
    assert.ok(!text.includes(VICTIM_SECRET));
    assert.equal((await host.post("default", "process_client_phone", phone)).body.data.phone, "inside:good:late:89213451807");
  });
});

describe("plugin folders: link cycles, depth and size", () => {
  const nested = (depth: number) => Array.from({ length: depth }, (_, i) => `d${i + 1}`).join("/");
  let host: TestHost;
  let dir: string;
  const LOOP = /^a symbolic link back to a folder that contains it \(a loop\)$/;

  before(async function () {
    this.timeout(20_000);
    dir = pluginsDir({
      ...GOOD,
      "loop-lib/plugin.json": {},
      "loop-lib/process_client_phone.js": HOOK,
      "loop-lib/lib/keep.js": `export const keep = 1;`,
      "loop-root/plugin.json": {},
      "loop-root/process_client_phone.js": HOOK,
      "loop-up/plugin.json": {},
      "loop-up/process_client_phone.js": HOOK,
      "loop-up/lib/a/keep.js": `export const keep = 1;`,
      "loop-absolute/plugin.json": {},
      "loop-absolute/process_client_phone.js": HOOK,
      "deep/plugin.json": {},
      "deep/process_client_phone.js": HOOK,
      [`deep/${nested(12)}/bottom.js`]: `export const bottom = 1;`,
      // eight folders deep is allowed, and a helper there is imported
      "deep-ok/plugin.json": {},
      "deep-ok/customize_activity.js": `import { bottom } from "./${nested(8)}/bottom.js";\nexport default () => ({ bottom });`,
      [`deep-ok/${nested(8)}/bottom.js`]: `export const bottom = "eight deep";`,
      "wide/plugin.json": {},
      "wide/process_client_phone.js": HOOK,
    });
    // two links to "." in a subfolder: walked naively, 2^depth paths
    symlinkSync(".", join(dir, "loop-lib/lib/a"));
    symlinkSync(".", join(dir, "loop-lib/lib/b"));
    symlinkSync(".", join(dir, "loop-root/a"));
    symlinkSync(".", join(dir, "loop-root/b"));
    symlinkSync("..", join(dir, "loop-up/lib/a/up"));
    symlinkSync(join(dir, "loop-absolute"), join(dir, "loop-absolute/again"));
    mkdirSync(join(dir, "wide/data"));
    for (let i = 0; i < 2500; i++) writeFileSync(join(dir, "wide/data", `f${i}.txt`), "");
    mkdirSync(join(dir, "wide-dotted"));
    writePlugins(dir, { "wide-dotted/plugin.json": {}, "wide-dotted/process_client_phone.js": HOOK });
    for (let i = 0; i < 2500; i++) writeFileSync(join(dir, "wide-dotted", `.f${i}`), "");
    host = await startTestHost(dir, CONFIG);
  });
  after(() => host?.close());

  it("link cycles, nesting past 8 folders and more than 2000 entries are each the folder's error; the host listens", () => {
    const expected: Record<string, [RegExp, RegExp]> = {
      "loop-lib": [/^lib\/[ab]$/, LOOP],
      "loop-root": [/^[ab]$/, LOOP],
      "loop-up": [/^lib\/a\/up$/, LOOP],
      "loop-absolute": [/^again$/, LOOP],
      deep: [/^d1\/d2\/d3\/d4\/d5\/d6\/d7\/d8\/d9$/, /^folders nest more than 8 deep in the plugin folder$/],
      wide: [/^data\/f\d+\.txt$/, /^the plugin folder holds more than 2000 files and folders$/],
      "wide-dotted": [/^\.f\d+$/, /^the plugin folder holds more than 2000 files and folders$/],
    };
    for (const [folder, [file, message]] of Object.entries(expected)) {
      const problem = problemOf(host, folder);
      assert.match(problem.file, file, folder);
      assert.match(problem.message, message, folder);
    }
    assert.deepEqual(host.registry.broken.map((b) => b.dir).sort(), Object.keys(expected).sort());
  });

  it("the good plugins serve, the one eight folders deep included", async () => {
    assert.deepEqual(statuses((await host.post("default", "process_client_phone", phone)).trace), ["good;status=ok"]);
    assert.deepEqual((await host.post("default", "customize_activity", fixture("customize_activity"))).body.data, { bottom: "eight deep" });
  });

  it("a cycle made at run time is refused, and the host keeps answering", async function () {
    this.timeout(10_000);
    deploy(dir, "late-loop", { "plugin.json": {}, "process_client_phone.js": HOOK, "lib/keep.js": `export const keep = 1;` }, (staging) => {
      symlinkSync(".", join(staging, "lib/a"));
      symlinkSync(".", join(staging, "lib/b"));
    });
    await eventually(async () => assert.match(problemOf(host, "late-loop").message, LOOP));
    const started = Date.now();
    assert.equal((await host.post("default", "process_client_phone", phone)).status, 200);
    assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
  });
});
