// The access log (config accessLog): one info line per request an operator can use, and never a
// token, wherever a client put it (issue 13, item 8).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fixture, keepingLogger, pluginsDir, startTestHost, type LogLine } from "./support.js";

const TOKEN = "acme-Secret-Token-7f3a9c";
const HASHED = "globex-Hashed-Token-51b2e0";
const ADMIN = "admin-Secret-Token-c4d1e8";
const PLUGINS = {
  "tagger/plugin.json": { priority: 1 },
  "tagger/process_client_phone.js": `export default (input, ctx) => { ctx.log.info("tagging"); return { phone: "+" + input.phone }; };`,
  "thrower/plugin.json": { priority: 2 },
  "thrower/process_client_phone.js": `export default () => { throw new Error("no"); };`,
};
const config = (accessLog: boolean) => ({
  tenants: { acme: { token: TOKEN }, globex: { tokenSha256: createHash("sha256").update(HASHED).digest("hex") } },
  adminToken: ADMIN,
  accessLog,
});
const requestLines = (lines: LogLine[]) => lines.filter((l) => l.message === "request");

describe("access log", function () {
  this.timeout(20_000);

  it("off (the default): answered requests are not logged at info, refused ones are", async () => {
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(pluginsDir(PLUGINS), config(false), undefined, logger);
    try {
      assert.equal((await host.post("acme", "process_client_phone", fixture("process_client_phone"), { authorization: `Bearer ${TOKEN}` })).status, 200);
      assert.equal((await host.post("acme", "process_client_phone", fixture("process_client_phone"))).status, 401);
      assert.deepEqual(requestLines(lines).map((l) => [l.level, l.status]), [["info", 401]]);
    } finally {
      await host.close();
    }
  });

  it("on: one info line per request with request id, tenant, hook, status, ms and the trace", async () => {
    const { logger, lines } = keepingLogger("info");
    const host = await startTestHost(pluginsDir(PLUGINS), config(true), undefined, logger);
    try {
      const ok = await host.post("acme", "process_client_phone", fixture("process_client_phone"), { authorization: `Bearer ${TOKEN}`, "x-request-id": "call-42" });
      assert.equal(ok.status, 200);
      await host.post("acme", "process_client_phone", { phone: 1 }, { authorization: `Bearer ${TOKEN}`, "x-request-id": "call-43" });
      await fetch(`${host.url}/healthz`, { headers: { "x-request-id": "probe-1" } });
      const logged = requestLines(lines);
      assert.equal(logged.length, 3);
      const [answered, invalid, health] = logged as [LogLine, LogLine, LogLine];
      assert.equal(answered.level, "info");
      assert.deepEqual(
        { requestId: answered.requestId, tenant: answered.tenant, hook: answered.hook, status: answered.status, route: answered.route, method: answered.method },
        { requestId: "call-42", tenant: "acme", hook: "process_client_phone", status: 200, route: "hook", method: "POST" },
      );
      assert.equal(typeof answered.ms, "number");
      assert.match(String(answered.trace), /^tagger;status=ok;ms=\d+;v=[0-9a-f]{12},thrower;status=error;ms=\d+;v=[0-9a-f]{12}$/);
      assert.equal(answered.trace, ok.headers.get("x-hook-trace"));
      assert.deepEqual([invalid.requestId, invalid.status, invalid.trace], ["call-43", 422, undefined]);
      assert.deepEqual([health.requestId, health.route, health.status, health.tenant], ["probe-1", "healthz", 200, undefined]);
      // the request's other lines carry the same id
      assert.ok(lines.some((l) => l.message === "tagging" && l.requestId === "call-42"));
      assert.ok(lines.some((l) => l.message === "plugin run failed" && l.requestId === "call-42"));
    } finally {
      await host.close();
    }
  });

  it("never logs a token, wherever the client put it", async () => {
    const { logger, lines } = keepingLogger("debug");
    const host = await startTestHost(pluginsDir(PLUGINS), config(true), undefined, logger);
    const input = fixture("process_client_phone");
    try {
      for (const token of [TOKEN, HASHED, ADMIN]) {
        const encoded = encodeURIComponent(token);
        const asSent: Array<[string, RequestInit]> = [
          [`/v1/tenants/acme/hooks/process_client_phone?token=${encoded}`, {}],
          [`/v1/tenants/acme/hooks/process_client_phone?access_token=${encoded}&x=1`, {}],
          [`/v1/tenants/${encoded}/hooks/process_client_phone`, { headers: { authorization: `Bearer ${token}` } }],
          [`/v1/tenants/acme/hooks/${encoded}`, { headers: { authorization: `Bearer ${TOKEN}` } }],
          [`/${encoded}`, {}],
          [`/metrics?token=${encoded}`, {}],
          [`/v1/tenants/globex/plugins?auth=${encoded}`, {}],
        ];
        const headerVariants: Record<string, string>[] = [
          { authorization: `Bearer ${token}` },
          { authorization: `bearer   ${token}` },
          { authorization: `Token ${token}` },
          { authorization: token },
          { authorization: `Basic ${Buffer.from(`acme:${token}`).toString("base64")}` },
          { "x-api-key": token },
          { "x-hookhost-token": token },
          { cookie: `token=${token}` },
          { "x-request-id": token },
          { "x-request-id": token, authorization: `Bearer ${TOKEN}` },
          { "x-forwarded-for": token },
          { "user-agent": `connector/3.13 token=${token}` },
        ];
        for (const [path, init] of asSent) await fetch(`${host.url}${path}`, { method: path.includes("/hooks/") ? "POST" : "GET", body: path.includes("/hooks/") ? JSON.stringify(input) : undefined, ...init });
        for (const headers of headerVariants) {
          for (const tenant of ["acme", "globex"]) {
            const answer = await host.post(tenant, "process_client_phone", input, headers);
            assert.notEqual(answer.headers.get("x-request-id"), token, "a token sent as request id is not echoed");
          }
        }
        // in the body, too (a plugin could log it on purpose; the host itself does not)
        await host.post("acme", "process_client_phone", { ...input, token }, { authorization: `Bearer ${TOKEN}` });
      }
      const logged = requestLines(lines);
      assert.equal(logged.length, 3 * (7 + 12 * 2 + 1), "one line per request");
      assert.ok(logged.some((l) => l.status === 200) && logged.some((l) => l.status === 401) && logged.some((l) => l.status === 404));
      const text = lines.map((l) => JSON.stringify(l)).join("\n");
      for (const token of [TOKEN, HASHED, ADMIN]) {
        for (const form of [token, encodeURIComponent(token), Buffer.from(`acme:${token}`).toString("base64"), token.toLowerCase()]) {
          assert.ok(!text.toLowerCase().includes(form.toLowerCase()), `${form} is in the log`);
        }
      }
    } finally {
      await host.close();
    }
  });

  it("accessLog must be a boolean", async () => {
    const { hostConfigSchema } = await import("../core/config.js");
    assert.equal(hostConfigSchema.parse({}).accessLog, false);
    for (const accessLog of ["true", 1, null]) assert.equal(hostConfigSchema.safeParse({ accessLog }).success, false, String(accessLog));
  });
});
