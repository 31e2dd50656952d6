import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { hostConfigSchema } from "../core/config.js";
import { createApp } from "../core/front/http.js";
import { Metrics } from "../core/front/metrics.js";
import { Registry, type HostCapabilities } from "../core/registry.js";
import { Tenants } from "../core/tenants.js";
import { fixture, keepingLogger, pluginsDir, postHook, startTestHost, statuses, type TestHost } from "./support.js";

const TOKEN = "acme-secret-token";
const CONFIG = {
  tenants: {
    acme: { token: TOKEN },
    globex: { tokenSha256: createHash("sha256").update("globex-token").digest("hex") },
  },
  bodyLimitKb: 64,
};
const acme = { authorization: `Bearer ${TOKEN}` };

describe("HTTP API (CONTRACT §4)", () => {
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        "echo/plugin.json": {},
        "echo/process_client_phone.js": `export default (input) => ({ phone: "+" + input.phone.replace(/\\D/g, "") })`,
      }),
      CONFIG,
    );
  });
  after(() => host.close());

  it("answers a hook with the success envelope, a trace header and a request id", async () => {
    const answer = await host.post("acme", "process_client_phone", fixture("process_client_phone"), acme);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { state: "success", data: { phone: "+89213451807" } });
    assert.deepEqual(statuses(answer.trace), ["echo;status=ok"]);
    assert.match(answer.trace[0], /;ms=\d+;v=[0-9a-f]{12}$/);
    assert.match(answer.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  it("echoes the caller's x-request-id", async () => {
    const answer = await host.post("acme", "process_client_phone", fixture("process_client_phone"), { ...acme, "x-request-id": "call-42.1" });
    assert.equal(answer.headers.get("x-request-id"), "call-42.1");
  });

  it("accepts a SHA-256 token", async () => {
    const answer = await host.post("globex", "need_registration", fixture("need_registration"), { authorization: "Bearer globex-token" });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.data, { result: true });
  });

  describe("every auth failure is the same 401", () => {
    const cases: [string, string, Record<string, string>][] = [
      ["unknown tenant", "nobody", acme],
      ["missing token", "acme", {}],
      ["wrong token", "acme", { authorization: "Bearer wrong" }],
      ["another tenant's token", "globex", acme],
      ["not a bearer token", "acme", { authorization: `Basic ${TOKEN}` }],
      ["the digest instead of the token", "globex", { authorization: `Bearer ${CONFIG.tenants.globex.tokenSha256}` }],
    ];
    let first: unknown;
    for (const [name, tenant, headers] of cases) {
      it(name, async () => {
        const answer = await host.post(tenant, "need_registration", fixture("need_registration"), headers);
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error.code, "unauthorized");
        first ??= answer.body;
        assert.deepEqual(answer.body, first);
      });
    }
  });

  it("404 unknown_hook for a hook name that does not exist", async () => {
    const answer = await host.post("acme", "process_clent_phone", {}, acme);
    assert.equal(answer.status, 404);
    assert.equal(answer.body.error.code, "unknown_hook");
    assert.match(answer.body.error.message, /process_clent_phone/);
  });

  it("400 bad_json for a body that is not JSON, and for JSON that is not an object", async () => {
    for (const body of ["{not json", "[1,2]", "42", "null", '"text"', ""]) {
      const answer = await host.post("acme", "need_registration", body, acme);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.state, "error");
      assert.equal(answer.body.error.code, "bad_json");
    }
  });

  it("413 too_large for a body over bodyLimitKb, declared or streamed", async () => {
    const big = JSON.stringify({ ...fixture("need_registration"), padding: "x".repeat(70 * 1024) });
    const answer = await host.post("acme", "need_registration", big, acme);
    assert.equal(answer.status, 413);
    assert.equal(answer.body.error.code, "too_large");
    const chunked = await rawPost(host.url, "/v1/tenants/acme/hooks/need_registration", big, { ...acme, "transfer-encoding": "chunked" });
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.body).error.code, "too_large");
  });

  it("422 invalid_input names every failing path", async () => {
    const input = fixture("process_final_params");
    delete input.CALL_ID;
    input.DURATION = "long";
    const answer = await host.post("acme", "process_final_params", input, acme);
    assert.equal(answer.status, 422);
    assert.equal(answer.body.error.code, "invalid_input");
    const paths = answer.body.error.details.map((d: { path: string }) => d.path);
    assert.ok(paths.includes("CALL_ID"), paths.join());
    assert.ok(paths.includes("DURATION"), paths.join());
    assert.match(answer.body.error.message, /CALL_ID/);
  });

  it("passes unknown input fields through to the scripts", async () => {
    const dir = pluginsDir({
      "peek/plugin.json": {},
      "peek/process_client_phone.js": `export default (input) => ({ phone: input.phone + "|" + input.added_in_4_0.flag })`,
    });
    const other = await startTestHost(dir);
    try {
      const answer = await other.post("default", "process_client_phone", { ...fixture("process_client_phone"), added_in_4_0: { flag: "yes" } });
      assert.equal(answer.body.data.phone, "89213451807|yes");
    } finally {
      await other.close();
    }
  });

  it("survives 10,000-deep nesting and __proto__ keys with a precise answer", async () => {
    const deep = `{"call_full":${"[".repeat(10_000)}${"]".repeat(10_000)},"call_stage":"call_ended"}`;
    const answer = await host.post("acme", "need_registration", deep, acme);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, "bad_json");
    const polluted = `{"__proto__":{"polluted":true},"call_full":{},"call_stage":"call_ended"}`;
    const ok = await host.post("acme", "need_registration", polluted, acme);
    assert.equal(ok.status, 200);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("GET /healthz answers ok", async () => {
    const response = await fetch(`${host.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
  });

  it("unknown routes and methods get a JSON error, not a crash", async () => {
    const notFound = await fetch(`${host.url}/v2/whatever`);
    assert.equal(notFound.status, 404);
    assert.equal(((await notFound.json()) as { state: string }).state, "error");
    const wrongMethod = await fetch(`${host.url}/v1/tenants/acme/hooks/need_registration`, { headers: acme });
    assert.equal(wrongMethod.status, 405);
  });
});

describe("start-up rules (CONTRACT §1)", () => {
  it("without a config there is one token-less tenant, default", async () => {
    const host = await startTestHost(pluginsDir());
    try {
      const answer = await host.post("default", "need_registration", fixture("need_registration"));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { state: "success", data: { result: true } });
    } finally {
      await host.close();
    }
  });
});

function rawPost(url: string, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    for (let i = 0; i < body.length; i += 4096) req.write(body.slice(i, i + 4096));
    req.end();
  });
}

describe("unexpected errors", () => {
  it("answer 500 internal without details, are logged with their stack, and the host keeps serving", async () => {
    const { logger, lines: logged } = keepingLogger("info");
    const config = hostConfigSchema.parse({ tenants: { default: {} } });
    let fail = true;
    const registry = new Registry({ config: () => config, capabilities: {} as HostCapabilities, logger, maxSandboxes: 10 });
    const acquire = registry.acquire.bind(registry);
    registry.acquire = (...args) => {
      if (fail) throw new Error("registry exploded at /secret/host/path");
      return acquire(...args);
    };
    const app = createApp({ registry, metrics: new Metrics({ alive: () => 0, memory: () => ({ heapBytes: 0, externalBytes: 0 }) }), tenants: () => new Tenants(config), config: () => config, logger, loopback: true, readiness: { reasons: () => [] } });
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const answer = await postHook(url, "default", "need_registration", fixture("need_registration"));
      assert.equal(answer.status, 500);
      assert.deepEqual(answer.body, { state: "error", error: { code: "internal", message: "internal error" } });
      const line = logged.find((l) => l.message === "request failed");
      assert.ok(line, "the failure is logged");
      assert.match(String(line.error), /registry exploded[\s\S]*at /);
      assert.equal(line.requestId, answer.headers.get("x-request-id"));
      fail = false;
      const next = await postHook(url, "default", "need_registration", fixture("need_registration"));
      assert.equal(next.status, 200);
    } finally {
      server.close();
    }
  });
});

describe("final shaping", () => {
  it("cuts an autodistribution name to 20 characters and says so in the log", async () => {
    const { logger, lines: logged } = keepingLogger("warn");
    const dir = pluginsDir({
      "tag/plugin.json": {},
      "tag/customize_autodistribution.js": `export default (input) => ({ name: "8-800 горячая линия: " + input.name })`,
    });
    const host = await startTestHost(dir, undefined, undefined, logger);
    try {
      const answer = await host.post("default", "customize_autodistribution", fixture("customize_autodistribution"));
      assert.deepEqual(answer.body.data, { number: "201", name: "8-800 горячая линия:" });
      const line = logged.find((l) => String(l.message).startsWith("name cut to 20 characters"));
      assert.ok(line, JSON.stringify(logged));
      assert.equal(line.requestId, answer.headers.get("x-request-id"));
      assert.match(String(line.message), /Павел Григорьев/);
      logged.length = 0;
      await host.post("default", "customize_show_call_card", fixture("customize_show_call_card"));
      assert.equal(logged.filter((l) => String(l.message).startsWith("name cut")).length, 0);
    } finally {
      await host.close();
    }
  });
});
