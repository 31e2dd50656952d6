// ctx.records, ctx.http and ctx.store end to end: real host over HTTP, the connector's fixtures,
// the two example plugins (examples/plugins/record-to-mp3, examples/plugins/bitrix-comment) copied into temp plugin
// folders, a real encoder, a fake Bitrix24 portal and a real redis-server.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { startRedis, type RedisServer } from "./redis.js";
import { loadPlugin } from "../core/discovery.js";
import { eventually, fixture, pluginsDir, ROOT, startTestHost, statuses, type TestHost } from "./support.js";
import { callLikeWav, writeSilentWav } from "./wav.js";

const EXAMPLES = path.join(ROOT, "examples", "plugins");

/** Plugin files for pluginsDir(): an example folder copied as shipped, plugin.json fields replaced by `manifest`. */
function example(name: string, manifest: Record<string, unknown>, folder = name): Record<string, string | object> {
  const src = path.join(EXAMPLES, name);
  const files: Record<string, string | object> = {};
  for (const file of fs.readdirSync(src)) files[`${folder}/${file}`] = fs.readFileSync(path.join(src, file), "utf8");
  files[`${folder}/plugin.json`] = { ...JSON.parse(fs.readFileSync(path.join(src, "plugin.json"), "utf8")), ...manifest };
  return files;
}

/** A plugin answering customize_activity with what its ctx holds: no grant, no capability. */
const PLAIN = {
  "plain/plugin.json": {},
  "plain/customize_activity.js": `export default (input, ctx) => ({
    plain_records: typeof ctx.records, plain_http: typeof ctx.http, plain_store: typeof ctx.store });`,
};

/** Which capabilities a probe's ctx holds, as a field of its answer. */
const GRANTS = `["records", "http", "store"].filter((name) => name in ctx).join(",")`;

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hookhost-${prefix}-`));
}

/** The fixture with the call's uniqueid replaced, so each test has a call of its own. */
function callInput(hook: string, channelId: string, extra: Record<string, unknown> = {}): Record<string, any> {
  const input = fixture(hook);
  input.call_full.channel.id = channelId;
  return { ...input, ...extra };
}

async function healthy(host: TestHost): Promise<void> {
  const response = await fetch(`${host.url}/healthz`);
  assert.equal(response.status, 200);
}


describe("capabilities through the host", function () {
  this.timeout(15_000);

  describe("the example plugins as shipped", () => {
    it("record-to-mp3 loads (probe included) with the records grant only", async () => {
      const plugin = await loadPlugin(path.join(EXAMPLES, "record-to-mp3"), { memoryMb: () => 64 });
      assert.deepEqual(plugin.hooks, ["process_record_file_path"]);
      assert.equal(plugin.manifest.records, true);
      assert.deepEqual([plugin.manifest.allowHosts, plugin.manifest.store], [[], false]);
    });

    it("bitrix-comment loads disabled, with a placeholder portal for the integrator to replace", async () => {
      const plugin = await loadPlugin(path.join(EXAMPLES, "bitrix-comment"), { memoryMb: () => 64 });
      assert.deepEqual(plugin.hooks, ["post_registration"]);
      assert.equal(plugin.manifest.enabled, false);
      assert.deepEqual(plugin.manifest.allowHosts, ["example.bitrix24.ru"]);
      assert.equal(plugin.manifest.store, true);
      assert.equal(plugin.manifest.config.webhookUrl, "https://example.bitrix24.ru/rest/1/xxxxxxxx/");
    });
  });

  describe("ctx.records", () => {
    let host: TestHost;
    let recordsDir: string;
    let outsideDir: string;
    let longDir: string;
    let wav: Buffer;

    before(async () => {
      recordsDir = tempDir("records");
      outsideDir = tempDir("outside");
      longDir = tempDir("records-long");
      wav = callLikeWav(60);
      fs.writeFileSync(path.join(recordsDir, "call.wav"), wav);
      fs.writeFileSync(path.join(recordsDir, "second.wav"), callLikeWav(5));
      fs.writeFileSync(path.join(outsideDir, "secret.wav"), callLikeWav(1));
      fs.symlinkSync(path.join(outsideDir, "secret.wav"), path.join(recordsDir, "link.wav"));
      writeSilentWav(path.join(longDir, "long.wav"), 2 * 3600);
      const dir = pluginsDir({
        ...example("record-to-mp3", { tenants: ["acme"] }),
        // The same plugin with a limit no encoder meets on a two-hour recording.
        ...example("record-to-mp3", { tenants: ["long"], timeouts: { process_record_file_path: 300 } }, "record-to-mp3-short"),
        "records-probe/plugin.json": { records: true, tenants: ["acme"] },
        "records-probe/customize_activity.js": `export default async (input, ctx) => {
          try { return { grants: ${GRANTS}, converted: await ctx.records.convert(input.probe_path, { format: "mp3" }) }; }
          catch (e) { return { grants: ${GRANTS}, error: e.message }; }
        };`,
        ...PLAIN,
      });
      host = await startTestHost(dir, {
        // the plugin's own conversion is under test here, not the host's stock one (test/record-stock.test.ts)
        tenants: { acme: { recordsDir, convertRecords: false }, long: { recordsDir: longDir, convertRecords: false } },
      });
    });

    after(async () => {
      await host?.close();
      for (const dir of [recordsDir, outsideDir, longDir]) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("record-to-mp3 answers the mp3 beside the wav: complete, smaller, the wav untouched", async () => {
      const source = path.join(recordsDir, "call.wav");
      const answer = await host.post("acme", "process_record_file_path", { ...fixture("process_record_file_path"), file_path: source });
      assert.equal(answer.status, 200);
      assert.deepEqual(statuses(answer.trace), ["record-to-mp3;status=ok"]);
      const mp3 = path.join(recordsDir, "call.mp3");
      assert.deepEqual(answer.body, { state: "success", data: { file_path: mp3 } });
      const written = fs.readFileSync(mp3);
      assert.ok(written.length > 0 && written.length < wav.length / 2, `mp3 of ${written.length} bytes from a ${wav.length}-byte wav`);
      assert.ok(written[0] === 0xff || written.subarray(0, 3).toString("latin1") === "ID3", "not an mp3 stream");
      assert.ok(fs.readFileSync(source).equals(wav), "the wav was changed");
      assert.deepEqual(fs.readdirSync(recordsDir).filter((f) => f.startsWith(".")), [], "a temporary file was left behind");
    });

    it("record-to-mp3 converts every .wav root key it may; the answer holds the path, not the input's other fields", async () => {
      const outside = path.join(outsideDir, "secret.wav");
      const input = {
        ...fixture("process_record_file_path"),
        file_path: path.join(recordsDir, "second.wav"),
        file_path_out: outside,
        note: "not a recording",
      };
      const answer = await host.post("acme", "process_record_file_path", input);
      assert.deepEqual(statuses(answer.trace), ["record-to-mp3;status=ok"]);
      // file_path_out is outside recordsDir: not converted, and like note not echoed (docs/hooks.md)
      assert.deepEqual(answer.body.data, { file_path: path.join(recordsDir, "second.mp3") });
      assert.deepEqual(fs.readdirSync(outsideDir), ["secret.wav"]);
    });

    for (const [what, requested] of [
      ["a ../ path", () => "../" + path.basename(outsideDir) + "/secret.wav"],
      ["an absolute path elsewhere", () => path.join(outsideDir, "secret.wav")],
      ["a symlink out of recordsDir", () => path.join(recordsDir, "link.wav")],
    ] as const) {
      it(`${what} is refused with a clear error the plugin can catch; the host keeps serving`, async () => {
        const probePath = requested();
        const answer = await host.post("acme", "customize_activity", { ...fixture("customize_activity"), probe_path: probePath });
        assert.equal(answer.status, 200);
        assert.deepEqual(statuses(answer.trace), ["plain;status=ok", "records-probe;status=ok"]);
        assert.equal(answer.body.data.error, `ctx.records.convert: "${probePath}" is outside the tenant's recordsDir`);
        assert.deepEqual(fs.readdirSync(outsideDir), ["secret.wav"]);
        await healthy(host);
      });
    }

    it("is in ctx only with \"records\": true", async () => {
      const answer = await host.post("acme", "customize_activity", { ...fixture("customize_activity"), probe_path: "call.wav" });
      assert.equal(answer.body.data.grants, "records");
      assert.equal(answer.body.data.plain_records, "undefined");
    });

    it("an encoder that cannot finish in the plugin's limit: the original path within ~1 s, no partial file", async () => {
      const source = path.join(longDir, "long.wav");
      const started = Date.now();
      const answer = await host.post("long", "process_record_file_path", { ...fixture("process_record_file_path"), file_path: source });
      const ms = Date.now() - started;
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { state: "success", data: { file_path: source } });
      assert.match(statuses(answer.trace).join(), /^record-to-mp3-short;status=(skip|timeout)$/);
      assert.ok(ms < 1000, `answered after ${ms} ms`);
      // The encoder is killed by the deadline; removing its output may finish just after the answer.
      await eventually(async () => assert.deepEqual(fs.readdirSync(longDir), ["long.wav"]), 1000);
      await healthy(host);
    });
  });

  describe("ctx.http", () => {
    const PROBE_LIMIT_MS = 600;
    let host: TestHost;
    let bitrix: FakeBitrix;

    before(async () => {
      bitrix = await startFakeBitrix();
      const dir = pluginsDir({
        ...example("bitrix-comment", {
          enabled: true,
          allowHosts: ["127.0.0.1"],
          config: { webhookUrl: `${bitrix.origin}/rest/1/secret/` },
        }),
        "http-probe/plugin.json": { allowHosts: ["127.0.0.1"], timeouts: { customize_activity: PROBE_LIMIT_MS } },
        "http-probe/customize_activity.js": `export default async (input, ctx) => {
          try { const r = await ctx.http.fetch(input.probe_url); return { grants: ${GRANTS}, status: r.status, json: r.json }; }
          catch (e) { return { grants: ${GRANTS}, error: e.message }; }
        };`,
        ...PLAIN,
      });
      host = await startTestHost(dir, {
        tenants: {
          acme: {},
          revoked: { config: { "bitrix-comment": { webhookUrl: `${bitrix.origin}/rest/1/revoked/` } } },
        },
      });
    });

    after(async () => {
      await host?.close();
      await bitrix?.close();
    });

    const probe = (url: string) => host.post("acme", "customize_activity", { ...fixture("customize_activity"), probe_url: url });

    it("bitrix-comment posts the comment on the registered entity once per call", async () => {
      const input = fixture("post_registration");
      const answer = await host.post("acme", "post_registration", input);
      assert.equal(answer.status, 200);
      assert.deepEqual(statuses(answer.trace), ["bitrix-comment;status=skip"]);
      assert.deepEqual(bitrix.comments, [
        { path: "/rest/1/secret/crm.timeline.comment.add.json", body: { fields: { ENTITY_ID: 5012, ENTITY_TYPE: "contact", COMMENT: "Звонок через неизвестную линию" } } },
      ]);
      const again = await host.post("acme", "post_registration", { ...input, call_stage: "conversation_accepted" });
      assert.deepEqual(statuses(again.trace), ["bitrix-comment;status=skip"]);
      assert.equal(bitrix.comments.length, 1, "the same call was commented twice");
    });

    it("bitrix-comment names the trunk when the call has one", async () => {
      const input = callInput("post_registration", "1750170000.4000");
      input.call_full.channel.trunk = { number: "78123097700", name: "СПб, основной" };
      input.call_full.registration.CRM_ENTITY_TYPE = "LEAD";
      input.call_full.registration.CRM_ENTITY_ID = 9177;
      bitrix.comments.length = 0;
      await host.post("acme", "post_registration", input);
      assert.deepEqual(bitrix.comments.map((c) => c.body), [
        { fields: { ENTITY_ID: 9177, ENTITY_TYPE: "lead", COMMENT: "Звонок через СПб, основной (78123097700)" } },
      ]);
    });

    it("bitrix-comment: a portal refusing the webhook is traced error, and nothing is remembered", async () => {
      const input = callInput("post_registration", "1750170000.4001");
      for (let attempt = 0; attempt < 2; attempt++) {
        const answer = await host.post("revoked", "post_registration", input);
        assert.deepEqual(answer.body, { state: "success", data: {} });
        assert.deepEqual(statuses(answer.trace), ["bitrix-comment;status=error"]);
      }
      assert.equal(bitrix.refused, 2, "a failed comment was remembered as done");
    });

    it("reaches a listed host, and only ctx.http is granted by allowHosts", async () => {
      const answer = await probe(`${bitrix.origin}/ok`);
      assert.deepEqual(statuses(answer.trace), ["http-probe;status=ok", "plain;status=ok"]);
      assert.equal(answer.body.data.grants, "http");
      assert.equal(answer.body.data.status, 200);
      assert.deepEqual(answer.body.data.json, { ok: true });
    });

    const refusals: [string, () => string, RegExp][] = [
      ["an unlisted host", () => "https://example.com/", /^ctx\.http\.fetch: host example\.com is not in allowHosts$/],
      ["loopback by another name", () => `http://localhost:${bitrix.port}/ok`, /^ctx\.http\.fetch: host localhost is not in allowHosts$/],
      ["a redirect off the list", () => `${bitrix.origin}/moved`, /^ctx\.http\.fetch: redirect to localhost is not in allowHosts$/],
      ["a body over 1 MiB", () => `${bitrix.origin}/huge`, /^ctx\.http\.fetch: response from 127\.0\.0\.1 is over the 1048576-byte limit$/],
    ];
    for (const [what, url, message] of refusals) {
      it(`refuses ${what}; the plugin catches the error`, async () => {
        const answer = await probe(url());
        assert.deepEqual(statuses(answer.trace), ["http-probe;status=ok", "plain;status=ok"]);
        assert.match(answer.body.data.error, message);
      });
    }

    it("a server that does not answer is cut at the plugin's time limit", async () => {
      const started = Date.now();
      const answer = await probe(`${bitrix.origin}/slow`);
      const ms = Date.now() - started;
      assert.equal(answer.status, 200);
      assert.ok(ms < PROBE_LIMIT_MS + 1000, `answered after ${ms} ms`);
      const [probeStatus] = statuses(answer.trace);
      if (probeStatus === "http-probe;status=ok") {
        assert.equal(answer.body.data.error, "ctx.http.fetch: request to 127.0.0.1 did not finish within the hook's time limit");
      } else {
        assert.equal(probeStatus, "http-probe;status=timeout");
      }
      assert.ok(bitrix.slowRequests >= 1, "the slow request never reached the server");
      await healthy(host);
    });

    it("is not in ctx without allowHosts", async () => {
      const answer = await probe(`${bitrix.origin}/ok`);
      assert.equal(answer.body.data.plain_http, "undefined");
    });
  });

  describe("ctx.store, embedded", () => {
    let host: TestHost;
    before(async () => {
      host = await startTestHost(pluginsDir(storePlugins()), { tenants: { acme: {}, globex: {} } });
    });
    after(() => host?.close());

    storeFlow(() => host);
  });

  it("capability answers do not pile up outside the sandbox's heap (they come back in pieces under 1 KB)", async function () {
    this.timeout(60_000);
    const value = "ж".repeat(30 * 1024);
    const host = await startTestHost(
      pluginsDir({
        "reader/plugin.json": { store: true },
        "reader/customize_activity.js": `export default async (input, ctx) => {
          let v = await ctx.store.get("v");
          if (v === undefined) { await ctx.store.set("v", ${JSON.stringify(value)}); v = await ctx.store.get("v"); }
          return { same: v === ${JSON.stringify(value)} };
        };`,
      }),
    );
    try {
      for (let i = 0; i < 200; i++) {
        const answer = await host.post("default", "customize_activity", fixture("customize_activity"));
        assert.equal(answer.body.data.same, true, answer.trace.join(","));
      }
      const text = await (await fetch(`${host.url}/metrics`)).text();
      const external = Number(/hookhost_sandbox_memory_bytes\{kind="external"\} (\d+)/.exec(text)?.[1]);
      // 200 answers × 60 KB would be 12 MB if they stayed
      assert.ok(external < 1_000_000, `external ${external}`);
    } finally {
      await host.close();
    }
  });

  describe("ctx.store, in Redis", () => {
    let host: TestHost;
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
      process.env.HOOKHOST_REDIS_URL = redis.url;
      try {
        host = await startTestHost(pluginsDir(storePlugins()), { tenants: { acme: {}, globex: {} } });
      } finally {
        delete process.env.HOOKHOST_REDIS_URL;
      }
    });
    after(async () => {
      await host?.close();
      await redis?.stop();
    });

    storeFlow(() => host);

    it("the values are in Redis, where another host would see them", async () => {
      await host.post("acme", "need_registration", callInput("need_registration", "1750180000.6000"));
      const keys = await redisKeys(redis.url);
      assert.ok(keys.includes("hookhost:acme:memo:line%3A1750180000.6000"), `keys: ${keys.join(" ")}`);
    });

    it("Redis stopped mid-run: hooks answer their default quickly, the host serves, and it all works once Redis is back", async () => {
      const id = "1750180000.6001";
      await redis.stop();
      for (const [hook, fallback] of [
        ["need_registration", { result: true }],
        ["customize_activity", { plain_records: "undefined", plain_http: "undefined", plain_store: "undefined" }],
      ] as const) {
        const started = Date.now();
        const answer = await host.post("acme", hook, callInput(hook, id));
        const ms = Date.now() - started;
        assert.deepEqual(answer.body, { state: "success", data: fallback });
        assert.ok(statuses(answer.trace).includes("memo;status=error"), `trace: ${answer.trace.join()}`);
        assert.ok(ms < 1000, `${hook} answered after ${ms} ms`);
      }
      await healthy(host);

      redis = await startRedis(redis.port);
      await eventually(async () => {
        const answer = await host.post("acme", "need_registration", callInput("need_registration", id));
        assert.deepEqual(statuses(answer.trace), ["memo;status=ok"]);
      }, 5000);
      const read = await host.post("acme", "customize_activity", callInput("customize_activity", id));
      assert.equal(read.body.data.remembered, "СПб, основной");
    });
  });
});

/**
 * Plugins that carry the call's line from need_registration (conversation_requested) to
 * customize_activity (call_ended): `memo` writes and reads it, `memo-other` looks for it under the
 * same key, `plain` has no grant.
 */
function storePlugins(): Record<string, string | object> {
  return {
    "memo/plugin.json": { store: true },
    "memo/need_registration.js": `export default async (input, ctx) => {
      if (input.call_stage !== "conversation_requested") return undefined;
      // Passed even when undefined: an optional argument given as undefined counts as omitted.
      const options = typeof input.ttl_sec === "number" ? { ttlSec: input.ttl_sec } : undefined;
      await ctx.store.set("line:" + input.call_full.channel.id, input.call_full.channel.trunk.name, options);
      return { result: true };
    };`,
    "memo/customize_activity.js": `export default async (input, ctx) => {
      if (input.big_value) {
        try { await ctx.store.set("big", "x".repeat(64 * 1024)); return { store_error: "none" }; }
        catch (e) { return { store_error: e.message }; }
      }
      const line = await ctx.store.get("line:" + input.call_full.channel.id);
      return { grants: ${GRANTS}, remembered: line === undefined ? "nothing" : line };
    };`,
    "memo-other/plugin.json": { store: true },
    "memo-other/customize_activity.js": `export default async (input, ctx) => {
      const line = await ctx.store.get("line:" + input.call_full.channel.id);
      return { other_remembered: line === undefined ? "nothing" : line };
    };`,
    ...PLAIN,
  };
}

/** The store's behaviour through the host, whichever backend holds the values. */
function storeFlow(getHost: () => TestHost): void {
  it("a value set at need_registration is read at customize_activity of the same call", async () => {
    const host = getHost();
    const id = "1750180000.5000";
    const set = await host.post("acme", "need_registration", callInput("need_registration", id));
    assert.deepEqual(statuses(set.trace), ["memo;status=ok"]);
    const read = await host.post("acme", "customize_activity", callInput("customize_activity", id));
    assert.deepEqual(statuses(read.trace), ["memo;status=ok", "memo-other;status=ok", "plain;status=ok"]);
    assert.equal(read.body.data.remembered, "СПб, основной");
    assert.equal(read.body.data.grants, "store");
  });

  it("is invisible to another tenant and to another plugin", async () => {
    const host = getHost();
    const id = "1750180000.5001";
    await host.post("acme", "need_registration", callInput("need_registration", id));
    const own = await host.post("acme", "customize_activity", callInput("customize_activity", id));
    assert.equal(own.body.data.remembered, "СПб, основной");
    assert.equal(own.body.data.other_remembered, "nothing");
    const otherTenant = await host.post("globex", "customize_activity", callInput("customize_activity", id));
    assert.equal(otherTenant.body.data.remembered, "nothing");
  });

  it("a value expires after its ttlSec", async () => {
    const host = getHost();
    const id = "1750180000.5002";
    await host.post("acme", "need_registration", callInput("need_registration", id, { ttl_sec: 1 }));
    const fresh = await host.post("acme", "customize_activity", callInput("customize_activity", id));
    assert.equal(fresh.body.data.remembered, "СПб, основной");
    await sleep(1200);
    const expired = await host.post("acme", "customize_activity", callInput("customize_activity", id));
    assert.equal(expired.body.data.remembered, "nothing");
  });

  it("a value over 64 KiB is refused with a clear error", async () => {
    const answer = await getHost().post("acme", "customize_activity", { ...fixture("customize_activity"), big_value: true });
    assert.equal(answer.body.data.store_error, "ctx.store.set: store value is 65538 bytes as JSON; the limit is 65536");
  });

  it("is not in ctx without \"store\": true", async () => {
    const answer = await getHost().post("acme", "customize_activity", fixture("customize_activity"));
    assert.equal(answer.body.data.plain_store, "undefined");
  });
}

interface FakeBitrix {
  port: number;
  origin: string;
  /** the comments crm.timeline.comment.add accepted */
  comments: { path: string; body: unknown }[];
  /** requests refused for a revoked webhook */
  refused: number;
  slowRequests: number;
  close(): Promise<void>;
}

/** A Bitrix24 portal's REST endpoint on 127.0.0.1, and the misbehaviours the capability must contain. */
async function startFakeBitrix(): Promise<FakeBitrix> {
  const fake: FakeBitrix = { port: 0, origin: "", comments: [], refused: 0, slowRequests: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      switch (req.url) {
        case "/rest/1/secret/crm.timeline.comment.add.json":
          fake.comments.push({ path: req.url, body: JSON.parse(body) });
          return void res.end(JSON.stringify({ result: 700 + fake.comments.length }));
        case "/rest/1/revoked/crm.timeline.comment.add.json":
          fake.refused++;
          res.statusCode = 401;
          return void res.end(JSON.stringify({ error: "invalid_token", error_description: "The access token provided is invalid." }));
        case "/ok":
          return void res.end(JSON.stringify({ ok: true }));
        case "/moved":
          res.writeHead(302, { location: `http://localhost:${fake.port}/ok` });
          return void res.end();
        case "/huge": {
          // Streamed without a length, so the limit is met while reading, not from a header.
          res.on("error", () => {});
          const chunk = Buffer.alloc(64 * 1024, "x");
          for (let i = 0; i < 20; i++) res.write(chunk);
          return void res.end();
        }
        case "/slow":
          fake.slowRequests++;
          return; // never answers; closed with the server
        default:
          res.statusCode = 404;
          res.end(JSON.stringify({ error: "NOT_FOUND" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.port = (server.address() as net.AddressInfo).port;
  fake.origin = `http://127.0.0.1:${fake.port}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return fake;
}

/** Every key in the Redis at `url`, through a client of the test's own (as another host would see them). */
async function redisKeys(url: string): Promise<string[]> {
  const client = new Redis(url);
  try {
    return await client.keys("*");
  } finally {
    client.disconnect();
  }
}
