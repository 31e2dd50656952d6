// Kubernetes updates a mounted ConfigMap or Secret by writing a new timestamped folder and swapping
// one symbolic link (`..data`) to it; git-sync publishes a new checkout the same way. The files
// themselves never change, so a watch on them sees nothing (issue 13, item 5). These tests make
// exactly that swap and expect the host to follow it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { resolutionFolders } from "../core/watcher.js";
import { exists, KubeVolume } from "./kube-volume.js";
import { eventually, fixture, startTestHost, statuses, type TestHost } from "./support.js";

const phone = fixture("process_client_phone");

/** git-sync's layout: `link` → `.worktrees/<n>`, swapped to each new checkout, the old one deleted. */
class GitSync {
  private version = 0;
  constructor(readonly root: string, readonly link = "current") {
    mkdirSync(join(root, ".worktrees"), { recursive: true });
  }

  get path(): string {
    return join(this.root, this.link);
  }

  publish(files: Record<string, string | object>): void {
    const tree = join(".worktrees", `commit-${++this.version}`);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.root, tree, path)), { recursive: true });
      writeFileSync(join(this.root, tree, path), typeof content === "string" ? content : JSON.stringify(content));
    }
    const old = exists(this.path) ? readlinkSync(this.path) : undefined;
    symlinkSync(tree, join(this.root, `${this.link}.tmp`));
    renameSync(join(this.root, `${this.link}.tmp`), this.path);
    if (old) rmSync(join(this.root, old), { recursive: true });
  }
}


const tagger = (tag: string) => `export default (input) => ({ phone: "${tag}:" + input.phone });`;
const call = (host: TestHost, tenant: string, token: string) => host.post(tenant, "process_client_phone", phone, { authorization: `Bearer ${token}` });

describe("reload through swapped symbolic links", function () {
  this.timeout(30_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), "hookhost-links-"));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** A host whose plugins folder is `plugins` (made here when missing), with the config file at `configFile`. */
  async function host(plugins: string, configFile?: string, config: object = { tenants: { default: {} } }): Promise<TestHost> {
    mkdirSync(plugins, { recursive: true });
    const started = await startTestHost(plugins, config, configFile);
    // startTestHost removes its folder at close; these live under `work`, removed after each test
    return { ...started, close: () => started.close() };
  }

  for (const removeOld of [true, false]) {
    it(`a config file in a ConfigMap/Secret volume, the old version removed ${removeOld ? "at once" : "later"}: a changed token takes effect at the swap, the old one is refused; later swaps too`, async () => {
      const volume = new KubeVolume(join(work, "config"), removeOld);
      volume.publish({ "hookhost.json": { tenants: { acme: { token: "token-1" } } } });
      const configFile = join(volume.dir, "hookhost.json");
      const h = await host(join(work, "plugins"), configFile, { tenants: { acme: { token: "token-1" } } });
      try {
        assert.equal((await call(h, "acme", "token-1")).status, 200);
        for (const token of ["token-2", "token-3"]) {
          volume.publish({ "hookhost.json": { tenants: { acme: { token } } } });
          await eventually(async () => assert.equal((await call(h, "acme", token)).status, 200));
          assert.equal((await call(h, "acme", "token-1")).status, 401);
        }
      } finally {
        await h.close();
      }
    });
  }

  it("a config file reached through a chain of links into such a volume (HOOKHOST_CONFIG=/etc/hookhost/hookhost.json → the mount)", async () => {
    const volume = new KubeVolume(join(work, "mnt", "secret"), false);
    volume.publish({ "hookhost.json": { tenants: { acme: { token: "old" } } } });
    mkdirSync(join(work, "etc"));
    symlinkSync(join(work, "mnt"), join(work, "etc", "mounts"));
    symlinkSync("mounts/secret/hookhost.json", join(work, "etc", "hookhost.json"));
    const h = await host(join(work, "plugins"), join(work, "etc", "hookhost.json"), { tenants: { acme: { token: "old" } } });
    try {
      volume.publish({ "hookhost.json": { tenants: { acme: { token: "new" } } } });
      await eventually(async () => assert.equal((await call(h, "acme", "new")).status, 200));
      assert.equal((await call(h, "acme", "old")).status, 401);
    } finally {
      await h.close();
    }
  });

  it("a config swap to a broken file keeps the last good config; the next good swap is taken", async () => {
    const volume = new KubeVolume(join(work, "config"));
    volume.publish({ "hookhost.json": { tenants: { acme: { token: "good-1" } } } });
    const h = await host(join(work, "plugins"), join(volume.dir, "hookhost.json"), { tenants: { acme: { token: "good-1" } } });
    try {
      volume.publish({ "hookhost.json": { tenants: { acme: { token: "bad", tokn: 1 } } } });
      await eventually(async () => assert.match(await (await fetch(`${h.url}/metrics`)).text(), /hookhost_reload_failures_total\{kind="config"\} 1/));
      assert.equal((await call(h, "acme", "good-1")).status, 200);
      volume.publish({ "hookhost.json": { tenants: { acme: { token: "good-2" } } } });
      await eventually(async () => assert.equal((await call(h, "acme", "good-2")).status, 200));
    } finally {
      await h.close();
    }
  });

  it("a plugins folder published by git-sync (current → .worktrees/<commit>): a changed plugin serves, a removed one stops, an added one starts", async () => {
    const sync = new GitSync(join(work, "git"));
    sync.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a1"), "b/plugin.json": { priority: 2 }, "b/process_client_phone.js": tagger("b") });
    const h = await host(sync.path);
    try {
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "b:a1:89213451807");
      sync.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a2"), "c/plugin.json": { priority: 3 }, "c/process_client_phone.js": tagger("c") });
      await eventually(async () => assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "c:a2:89213451807"));
      assert.deepEqual(statuses((await h.post("default", "process_client_phone", phone)).trace), ["a;status=ok", "c;status=ok"]);
      // and the next commit: the watch moved to the new checkout
      sync.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a3") });
      await eventually(async () => assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "a3:89213451807"));
    } finally {
      await h.close();
    }
  });

  it("a plugins folder replaced whole by another folder (removed, then a new one renamed into its place) is followed", async () => {
    const plugins = join(work, "plugins");
    mkdirSync(join(plugins, "a"), { recursive: true });
    writeFileSync(join(plugins, "a", "plugin.json"), "{}");
    writeFileSync(join(plugins, "a", "process_client_phone.js"), tagger("old"));
    const h = await host(plugins);
    try {
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "old:89213451807");
      const next = join(work, "plugins.next");
      mkdirSync(join(next, "b"), { recursive: true });
      writeFileSync(join(next, "b", "plugin.json"), "{}");
      writeFileSync(join(next, "b", "process_client_phone.js"), tagger("new"));
      rmSync(plugins, { recursive: true });
      renameSync(next, plugins);
      await eventually(async () => assert.deepEqual(statuses((await h.post("default", "process_client_phone", phone)).trace), ["b;status=ok"]));
      writeFileSync(join(plugins, "b", "process_client_phone.js"), tagger("newer"));
      await eventually(async () => assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "newer:89213451807"));
    } finally {
      await h.close();
    }
  });

  it("a plugin folder that is a ConfigMap volume (plugin.json and scripts are links into ..data): a changed plugin serves", async () => {
    const plugins = join(work, "plugins");
    const volume = new KubeVolume(join(plugins, "acme"));
    volume.publish({ "plugin.json": {}, "process_client_phone.js": tagger("v1") });
    const h = await host(plugins);
    try {
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "v1:89213451807");
      volume.publish({ "plugin.json": {}, "process_client_phone.js": tagger("v2") });
      await eventually(async () => assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "v2:89213451807"));
    } finally {
      await h.close();
    }
  });

  it("a plugins folder that is one ConfigMap volume (acme -> ..data/acme): changed, removed and added plugins follow each swap", async () => {
    const volume = new KubeVolume(join(work, "plugins"));
    volume.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a1"), "b/plugin.json": { priority: 2 }, "b/process_client_phone.js": tagger("b") });
    const h = await host(volume.dir);
    try {
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "b:a1:89213451807");
      assert.deepEqual(h.registry.broken, [], "..data and the timestamped folders are not plugin folders");
      volume.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a2"), "c/plugin.json": { priority: 3 }, "c/process_client_phone.js": tagger("c") });
      await eventually(async () => assert.deepEqual(statuses((await h.post("default", "process_client_phone", phone)).trace), ["a;status=ok", "c;status=ok"]));
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "c:a2:89213451807");
      volume.publish({ "a/plugin.json": { priority: 1 }, "a/process_client_phone.js": tagger("a3"), "c/plugin.json": { priority: 3 }, "c/process_client_phone.js": tagger("c") });
      await eventually(async () => assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "c:a3:89213451807"));
    } finally {
      await h.close();
    }
  });

  it("a plugin folder linked from the plugins folder must lead inside it; the links inside keep the folder-hazard rules", async () => {
    const outside = join(work, "outside");
    mkdirSync(join(outside, "stolen"), { recursive: true });
    writeFileSync(join(outside, "stolen", "plugin.json"), "{}");
    writeFileSync(join(outside, "stolen", "process_client_phone.js"), tagger("stolen"));
    writeFileSync(join(outside, "secret.js"), tagger("secret"));
    const volume = new KubeVolume(join(work, "plugins"));
    volume.publish({ "good/plugin.json": {}, "good/process_client_phone.js": tagger("good"), "leaky/plugin.json": {} });
    symlinkSync(join(outside, "secret.js"), join(volume.dir, "..data", "leaky", "process_client_phone.js"));
    symlinkSync(join(outside, "stolen"), join(volume.dir, "stolen"));
    symlinkSync("/", join(volume.dir, "root"));
    symlinkSync("nowhere", join(volume.dir, "dangling"));
    const h = await host(volume.dir);
    try {
      assert.equal((await h.post("default", "process_client_phone", phone)).body.data.phone, "good:89213451807");
      const problems = Object.fromEntries(h.registry.broken.map((b) => [b.dir, b.problem]));
      assert.deepEqual(Object.keys(problems).sort(), ["leaky", "root", "stolen"]);
      for (const dir of ["root", "stolen"]) assert.match(problems[dir]!.message, /^the plugin folder is a symbolic link that leads outside the plugins folder/);
      assert.deepEqual([problems.leaky!.file, problems.leaky!.message], ["process_client_phone.js", "a symbolic link that leads outside the plugin folder; links may only point inside it"]);
    } finally {
      await h.close();
    }
  });

  it("the entries watched for a path: every link on the way and the file itself, by folder", async () => {
    const volume = new KubeVolume(join(work, "config"));
    volume.publish({ "hookhost.json": "{}" });
    const folders = await resolutionFolders(join(volume.dir, "hookhost.json"));
    const stamp = readlinkSync(join(volume.dir, "..data"));
    assert.deepEqual(
      [...folders].map(([folder, names]) => [folder, [...names].sort()]),
      [
        [volume.dir, ["..data", "hookhost.json"]],
        [join(volume.dir, stamp), ["hookhost.json"]],
      ],
    );
    assert.deepEqual([...(await resolutionFolders(join(work, "missing", "x.json")))], [[work, new Set(["missing"])]]);
  });
});
