// The recent-runs ring through the real host: what a run keeps, the bound N, redaction before
// anything is stored, who may read which tenant's runs, and the admin's overview.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, readConfigFile } from "../core/config.js";
import { pluginsDir, startTestHost, type TestHost } from "./support.js";
import { ADMIN, call, CONFIG, phoneInput } from "./rollout-support.js";

const ACME = { authorization: "Bearer acme-secret" };
const GLOBEX = { authorization: "Bearer globex-secret" };

const PLUGINS = {
  "first/plugin.json": { priority: 1 },
  "first/process_client_phone.js": `export default (input, ctx) => {
  ctx.log.info("normalizing", { phone: input.phone, tenant: ctx.tenant });
  return { phone: input.phone.replace(/^\\+7/, "8") };
};\n`,
  "second/plugin.json": { priority: 2 },
  "second/process_client_phone.js": `export default (input, ctx) => {
  if (input.phone.endsWith("99")) throw new Error("no such number");
  return { phone: ctx.data.phone + "#" + input.call_full.channel.id };
};\n`,
};

describe("recent runs", function () {
  this.timeout(60_000);
  let host: TestHost;
  before(async () => {
    host = await startTestHost(pluginsDir(PLUGINS), {
      ...CONFIG,
      recentRuns: 3,
      redact: [
        { key: "phone", mask: "digits" },
        { key: "phones", mask: "digits" },
        { path: "call_full.channel.from", mask: "all" },
        { path: "call_full.conversations.*.channel.from", mask: "digits", keep: 0 },
      ],
    });
    for (let i = 1; i <= 5; i++) {
      const reply = await host.post("acme", "process_client_phone", phoneInput(`8.${i}`, `+7921777020${i}`), { ...ACME, "x-request-id": `acme-${i}` });
      assert.equal(reply.status, 200);
    }
    await host.post("globex", "process_client_phone", phoneInput("8.9", "+79217770299"), { ...GLOBEX, "x-request-id": "globex-1" });
  });
  after(() => host.close());

  it("keeps the last N runs of each tenant × plugin × hook, newest first, with what the plugin saw and did", async () => {
    const { runs } = (await call(host.url, "/v1/tenants/acme/runs?plugin=second", "acme-secret")).body;
    assert.deepEqual(runs.map((r: { requestId: string }) => r.requestId), ["acme-5", "acme-4", "acme-3"], "recentRuns 3");
    const run = runs[0];
    assert.equal(run.plugin, "second");
    assert.equal(run.hook, "process_client_phone");
    assert.match(run.version, /^[0-9a-f]{12}$/);
    assert.equal(run.outcome, "ok");
    assert.equal(typeof run.ms, "number");
    assert.ok(!Number.isNaN(Date.parse(run.at)));
    // The connector's input as sent, what the first plugin left for it, and its own answer.
    assert.equal(run.input.call_full.channel.id, "8.5");
    assert.deepEqual(run.saw, { overlay: { phone: "*********05" }, data: { phone: "*********05" } });
    assert.equal(run.answer.phone, "***********#8.5", "every digit but the last 2");

    const first = (await call(host.url, "/v1/tenants/acme/runs?plugin=first&limit=1", "acme-secret")).body.runs[0];
    assert.deepEqual(first.logs, [{ level: "info", message: "normalizing", fields: { phone: "+*********05", tenant: "acme" } }]);
  });

  it("masks what the redaction rules name before it is stored: no run holds the digits", async () => {
    const text = JSON.stringify((await call(host.url, "/v1/tenants/acme/runs", ADMIN)).body);
    for (let i = 1; i <= 5; i++) assert.ok(!text.includes(`921777020${i}`), `phone ${i} appears: ${text.slice(0, 300)}`);
    const run = (await call(host.url, "/v1/tenants/acme/runs?limit=1", ADMIN)).body.runs[0];
    assert.equal(run.input.phone, "+*********05");
    assert.equal(run.input.call_full.channel.from, "[redacted]");
    const conversation = Object.values(run.input.call_full.conversations)[0] as { channel: { from: { number: string } }; user: { phones: string[] } };
    assert.equal(conversation.channel.from.number, "***********", "keep 0");
    assert.deepEqual(conversation.user.phones, ["*01", "+*********01"]);
  });

  it("records a failed run with its error, and filters by plugin, hook and limit", async () => {
    const { runs } = (await call(host.url, "/v1/tenants/globex/runs?hook=process_client_phone", "globex-secret")).body;
    assert.deepEqual(runs.map((r: { plugin: string; outcome: string }) => [r.plugin, r.outcome]), [["second", "error"], ["first", "ok"]]);
    assert.match(runs[0].error, /no such number/);
    assert.equal(runs[0].answer, null);
    assert.equal((await call(host.url, "/v1/tenants/acme/runs?limit=2", "acme-secret")).body.runs.length, 2);
    assert.deepEqual((await call(host.url, "/v1/tenants/acme/runs?hook=need_registration", "acme-secret")).body.runs, []);
    assert.equal((await call(host.url, "/v1/tenants/acme/runs?hook=need_registraton", "acme-secret")).status, 404);
    assert.equal((await call(host.url, "/v1/tenants/acme/runs?limit=0", "acme-secret")).status, 400);
    assert.equal((await call(host.url, "/v1/tenants/acme/runs?limit=2&limit=3", "acme-secret")).status, 400);
  });

  it("shows a tenant only its own runs; the admin token reads any; every other caller gets the same 401", async () => {
    const own = (await call(host.url, "/v1/tenants/globex/runs", "globex-secret")).body.runs;
    assert.ok(own.length > 0 && own.every((r: { requestId: string }) => r.requestId === "globex-1"));
    for (const [tenant, token] of [["acme", "globex-secret"], ["globex", "acme-secret"], ["acme", undefined], ["acme", "wrong"], ["nosuch", ADMIN]] as const) {
      const refused = await call(host.url, `/v1/tenants/${tenant}/runs`, token);
      assert.equal(refused.status, 401, `${tenant} with ${token}`);
      assert.deepEqual(refused.body, { state: "error", error: { code: "unauthorized", message: "unknown tenant or missing or wrong token" } });
    }
    assert.ok((await call(host.url, "/v1/tenants/globex/runs", ADMIN)).body.runs.length > 0);
    assert.equal((await call(host.url, "/v1/tenants/acme/runs", "acme-secret", {})).status, 405);
  });

  it("sums each tenant's hooks for the admin's overview: runs, outcomes, latency", async () => {
    assert.equal((await call(host.url, "/v1/admin/overview", "acme-secret")).status, 401);
    const overview = (await call(host.url, "/v1/admin/overview", ADMIN)).body;
    const globex = overview.tenants.find((t: { id: string }) => t.id === "globex");
    const hook = globex.hooks.process_client_phone;
    assert.equal(hook.runs, 2);
    assert.deepEqual(hook.outcomes, { ok: 1, skip: 0, cancel: 0, error: 1, timeout: 0, invalid: 0 });
    assert.ok(hook.p50Ms <= hook.p95Ms);
    assert.deepEqual(globex.plugins.map((p: { name: string }) => p.name), ["first", "second"]);
    assert.equal(overview.tenants.find((t: { id: string }) => t.id === "acme").hooks.process_client_phone.runs, 6, "3 kept of each plugin");
  });

  it("exports the served versions as one metric series per plugin", async () => {
    const metrics = await fetch(`${host.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.text());
    const series = metrics.split("\n").filter((l) => l.startsWith("hookhost_plugin_version_info{"));
    assert.equal(series.length, 2);
    for (const line of series) assert.match(line, /^hookhost_plugin_version_info\{plugin="(first|second)",version="[0-9a-f]{12}",role="served"\} 1$/);
  });
});

describe("roll-out settings in hookhost.json", () => {
  it("names every bad redaction rule and bound", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookhost-config-"));
    try {
      const file = join(dir, "hookhost.json");
      writeFileSync(file, JSON.stringify({ recentRuns: 0, keepVersions: 101, redact: [{ key: "phone", path: "phone", mask: "digits" }, { key: "phone", mask: "stars" }, { mask: "all" }] }));
      assert.throws(
        () => readConfigFile(file),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          const problems = e.problems.join("\n");
          assert.match(problems, /^recentRuns: /m);
          assert.match(problems, /^keepVersions: /m);
          assert.match(problems, /^redact\.0: give either key or path$/m);
          assert.match(problems, /^redact\.1\.mask: /m);
          assert.match(problems, /^redact\.2: give either key or path$/m);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
