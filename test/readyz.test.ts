// /readyz says whether the host should get traffic now; /healthz only that the process is alive
// (issue 13, item 6). A probe never waits on anything: every input is a flag kept up to date.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { hostConfigSchema } from "../core/config.js";
import { listen } from "../core/front/listener.js";
import { startHost } from "../core/front/server.js";
import { silentLogger } from "../core/log.js";
import { freePort } from "./redis.js";
import { eventually, fixture, pluginsDir, postHook, startTestHost } from "./support.js";

async function probe(url: string, path: "/readyz" | "/healthz"): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.json() };
}

const ALIVE = { status: 200, body: { status: "ok" } };
const READY = { status: 200, body: { status: "ready" } };
const notReady = (...reasons: string[]) => ({ status: 503, body: { status: "not_ready", reasons } });
const answer = ({ status, body }: { status: number; body: unknown }) => ({ status, body });

describe("/readyz and /healthz", function () {
  this.timeout(30_000);

  it("a host that has loaded its plugins and listens is ready; both probes answer GET only", async () => {
    const host = await startTestHost(pluginsDir({ "p/plugin.json": {}, "p/need_registration.js": "export default () => ({ result: false });" }));
    try {
      assert.deepEqual(answer(await probe(host.url, "/readyz")), READY);
      assert.deepEqual(answer(await probe(host.url, "/healthz")), ALIVE);
      for (const path of ["/readyz", "/healthz"]) assert.equal((await fetch(`${host.url}${path}`, { method: "POST" })).status, 405);
    } finally {
      await host.close();
    }
  });

  it("while the plugins load, /readyz answers 503 and /healthz 200 at once; hook requests wait for the host", async () => {
    const dir = pluginsDir({ "p/plugin.json": {}, "p/need_registration.js": "export default () => ({ result: false });" });
    const listener = await listen(0, "127.0.0.1");
    const url = `http://127.0.0.1:${(listener.server.address() as { port: number }).port}`;
    try {
      assert.deepEqual(answer(await probe(url, "/readyz")), notReady("loading"));
      assert.deepEqual(answer(await probe(url, "/healthz")), ALIVE);
      let answered = false;
      const waiting = postHook(url, "default", "need_registration", fixture("need_registration")).finally(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(answered, false, "a hook request is held until the host serves");
      const config = hostConfigSchema.parse({ tenants: { default: {} } });
      const host = await startHost({ port: 0, host: "127.0.0.1", pluginsDir: dir, logLevel: "error", config }, silentLogger(), listener);
      try {
        assert.deepEqual((await waiting).body, { state: "success", data: { result: false } });
        assert.deepEqual(answer(await probe(url, "/readyz")), READY);
      } finally {
        await host.close(1000);
      }
    } finally {
      listener.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("draining (after SIGTERM, for drainMs): /readyz answers 503 while hooks are still answered, then the port closes", async () => {
    const host = await startTestHost(pluginsDir(), { tenants: { default: {} }, drainMs: 1500 });
    const closed = host.close();
    let done = false;
    void closed.then(() => (done = true));
    assert.deepEqual(answer(await probe(host.url, "/readyz")), notReady("draining"));
    assert.deepEqual(answer(await probe(host.url, "/healthz")), ALIVE);
    assert.equal((await host.post("default", "need_registration", fixture("need_registration"))).status, 200);
    assert.equal(done, false);
    await closed;
    await assert.rejects(fetch(`${host.url}/readyz`));
  });

  describe("with Redis configured (HOOKHOST_REDIS_URL)", () => {
    let redis: { child: ChildProcess; dir: string } | undefined;
    let port: number;
    const startRedisOn = async () => {
      const dir = mkdtempSync(join(tmpdir(), "hookhost-redis-"));
      const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: ["ignore", "pipe", "ignore"] });
      await new Promise<void>((resolve, reject) => {
        let output = "";
        child.once("error", reject).once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
        child.stdout!.on("data", (chunk) => (output += chunk) && output.includes("Ready to accept connections") && resolve());
      });
      redis = { child, dir };
    };
    const stopRedis = async () => {
      if (!redis) return;
      const { child, dir } = redis;
      redis = undefined;
      child.removeAllListeners("exit");
      child.kill("SIGCONT");
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    };

    beforeEach(async () => {
      port = await freePort();
      process.env.HOOKHOST_REDIS_URL = `redis://127.0.0.1:${port}`;
    });
    afterEach(async () => {
      delete process.env.HOOKHOST_REDIS_URL;
      await stopRedis();
    });

    it("503 while Redis is unreachable, ready once it answers, 503 again when it goes away; /healthz says ok throughout", async () => {
      const host = await startTestHost(pluginsDir());
      try {
        assert.deepEqual(answer(await probe(host.url, "/readyz")), notReady("store_unreachable"));
        assert.deepEqual(answer(await probe(host.url, "/healthz")), ALIVE);
        await startRedisOn();
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), READY), 5000);
        await stopRedis();
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), notReady("store_unreachable")), 5000);
        assert.deepEqual(answer(await probe(host.url, "/healthz")), ALIVE);
      } finally {
        await host.close();
      }
    });

    it("probes do not reach Redis: pings come at their own pace, however often the host is probed", async () => {
      await startRedisOn();
      const host = await startTestHost(pluginsDir());
      const observer = new Redis(port, "127.0.0.1");
      const pings = async () => Number(/cmdstat_ping:calls=(\d+)/.exec(await observer.info("commandstats"))?.[1] ?? 0);
      try {
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), READY), 5000);
        const [before, started] = [await pings(), performance.now()];
        for (let i = 0; i < 50; i++) assert.deepEqual(answer(await probe(host.url, "/readyz")), READY);
        const seconds = (performance.now() - started) / 1000;
        const made = (await pings()) - before;
        assert.ok(made <= Math.ceil(seconds) + 1, `${made} pings in ${seconds.toFixed(1)} s of 50 probes`);
      } finally {
        observer.disconnect();
        await host.close();
      }
    });

    it("a Redis that stops answering on an open connection turns the host unready; probes keep answering meanwhile", async () => {
      await startRedisOn();
      const host = await startTestHost(pluginsDir());
      try {
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), READY), 5000);
        redis!.child.kill("SIGSTOP"); // the connection stays open; nothing answers on it
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), notReady("store_unreachable")), 8000);
        redis!.child.kill("SIGCONT");
        await eventually(async () => assert.deepEqual(answer(await probe(host.url, "/readyz")), READY), 5000);
      } finally {
        await host.close();
      }
    });
  });
});
