// What /metrics holds: Prometheus names and units, every refused answer by route class, and the
// busiest tenants' own series (metricsTenants) that never grow past the configured number.
import assert from "node:assert/strict";
import { BusiestTenants, OTHER_TENANTS } from "../core/front/busiest-tenants.js";
import { hostConfigSchema } from "../core/config.js";
import { fixture, pluginsDir, startTestHost, type TestHost } from "./support.js";

const ADMIN = { authorization: "Bearer admin" };
const phone = fixture("process_client_phone");

async function metricsText(host: TestHost): Promise<string> {
  const response = await fetch(`${host.url}/metrics`, { headers: ADMIN });
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of one series, 0 when it is absent. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("metric names and units", () => {
  it("every hookhost metric follows Prometheus naming: counters _total, histograms in _seconds, sizes in _bytes, info gauges _info", async () => {
    const host = await startTestHost(pluginsDir({ "p/plugin.json": {}, "p/process_client_phone.js": `export default () => undefined;` }), { tenants: { default: {} }, adminToken: "admin" });
    try {
      await host.post("default", "process_client_phone", phone);
      const types = [...(await metricsText(host)).matchAll(/^# TYPE (hookhost_\w+) (\w+)$/gm)].map(([, name, type]) => [name!, type!] as const);
      assert.ok(types.length >= 9, types.join(" "));
      for (const [name, type] of types) {
        if (type === "counter") assert.match(name, /_total$/, name);
        else if (type === "histogram") assert.match(name, /_seconds$/, name);
        else assert.match(name, /_bytes$|_info$|^hookhost_sandboxes_alive$/, `${name} (${type})`);
        assert.doesNotMatch(name, /_ms|millis|_kb|_mb/, name);
      }
    } finally {
      await host.close();
    }
  });
});

describe("answers counted by route class", () => {
  it("401, 404, 405 and 413 are counted by route class and status, whatever the path", async () => {
    const host = await startTestHost(pluginsDir(), { tenants: { acme: { token: "acme-token" } }, adminToken: "admin", bodyLimitKb: 4 });
    const acme = { authorization: "Bearer acme-token" };
    try {
      await host.post("acme", "need_registration", fixture("need_registration"), { authorization: "Bearer wrong" });
      await host.post("nobody", "need_registration", fixture("need_registration"), acme);
      await host.post("acme", "no_such_hook", {}, acme);
      await host.post("acme", "need_registration", { padding: "x".repeat(8192) }, acme);
      await host.post("acme", "need_registration", fixture("need_registration"), acme);
      await fetch(`${host.url}/v1/tenants/acme/plugins`);
      for (const path of ["/nothing", "/v1/tenants/acme/hooks", "/secret-looking/acme-token", "/healthz/extra"]) await fetch(`${host.url}${path}`);
      await fetch(`${host.url}/healthz`, { method: "POST" });
      await fetch(`${host.url}/readyz`);
      const text = await metricsText(host);
      const expected: Record<string, number> = {
        'route="hook",status="401"': 2,
        'route="hook",status="404"': 1,
        'route="hook",status="413"': 1,
        'route="hook",status="200"': 1,
        'route="plugins",status="401"': 1,
        'route="other",status="404"': 4,
        'route="healthz",status="405"': 1,
        'route="readyz",status="200"': 1,
      };
      for (const [labels, count] of Object.entries(expected)) assert.equal(value(text, `hookhost_http_responses_total{${labels}}`), count, labels);
      // the refused paths are not label values
      assert.doesNotMatch(text, /secret-looking|nothing|acme-token/);
      assert.equal(value(text, 'hookhost_requests_total{hook="need_registration",status="413"}'), 1);
      assert.equal(value(text, 'hookhost_requests_total{hook="need_registration",status="200"}'), 1);
    } finally {
      await host.close();
    }
  });
});

describe("the busiest tenants' own series (metricsTenants)", () => {
  it("off by default: no series names a tenant", async () => {
    assert.equal(hostConfigSchema.parse({}).metricsTenants, 0);
    const host = await startTestHost(pluginsDir(), { tenants: { acme: { token: "acme-token" } }, adminToken: "admin" });
    try {
      await host.post("acme", "need_registration", fixture("need_registration"), { authorization: "Bearer acme-token" });
      const text = await metricsText(host);
      assert.doesNotMatch(text, /acme/);
      assert.equal(value(text, 'hookhost_requests_total{hook="need_registration",status="200"}'), 1);
    } finally {
      await host.close();
    }
  });

  it("at most N tenants are named; a busier tenant takes a quieter one's place at a scrape; no series ever goes down", async () => {
    const tenants = Object.fromEntries(["a", "b", "c"].map((t) => [t, { token: `${t}-token` }]));
    const host = await startTestHost(pluginsDir(), { tenants, adminToken: "admin", metricsTenants: 2 });
    const call = (t: string, times: number) =>
      Promise.all(Array.from({ length: times }, () => host.post(t, "need_registration", fixture("need_registration"), { authorization: `Bearer ${t}-token` })));
    const series = (t: string) => `hookhost_tenant_requests_total{tenant="${t}",class="2xx"}`;
    try {
      await call("a", 1);
      await call("b", 2);
      await call("c", 5);
      let text = await metricsText(host);
      // the first two seen took the free places; c is counted with every other tenant
      assert.deepEqual([value(text, series("a")), value(text, series("b")), value(text, series(OTHER_TENANTS))], [1, 2, 5]);
      assert.doesNotMatch(text, /tenant="c"/);
      // that scrape gave c the quietest tenant's place: a's series is gone, c's starts from its next request
      await call("c", 1);
      await call("a", 1);
      text = await metricsText(host);
      assert.doesNotMatch(text, /tenant="a"/);
      assert.deepEqual([value(text, series("b")), value(text, series("c")), value(text, series(OTHER_TENANTS))], [2, 1, 6]);
    } finally {
      await host.close();
    }
  });

  it("the ranking keeps ties where they are and lets go of everyone when set to 0", () => {
    let limit = 2;
    const busiest = new BusiestTenants(() => limit);
    assert.deepEqual(["x", "y", "z"].map((t) => busiest.label(t)), ["x", "y", OTHER_TENANTS]);
    assert.deepEqual(busiest.rerank(), [], "z is as busy as x and y: they keep their places");
    busiest.label("z");
    assert.deepEqual(busiest.rerank(), ["y"], "z is busier; x and y are even, and the tie goes by id");
    assert.deepEqual(["x", "y", "z"].map((t) => busiest.label(t)), ["x", OTHER_TENANTS, "z"]);
    limit = 0;
    assert.deepEqual(busiest.rerank().sort(), ["x", "z"]);
    assert.equal(busiest.label("x"), OTHER_TENANTS);
  });

  it("metricsTenants is a whole number from 0 to 100", () => {
    for (const metricsTenants of [-1, 101, 1.5, "5", true]) {
      const parsed = hostConfigSchema.safeParse({ metricsTenants });
      assert.equal(parsed.success, false, String(metricsTenants));
      assert.deepEqual(parsed.error!.issues[0]!.path, ["metricsTenants"]);
    }
  });
});
