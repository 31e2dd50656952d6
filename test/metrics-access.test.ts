import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { hostConfigSchema } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import { startHost, type RunningHost } from "../core/front/server.js";
import { fixture, pluginsDir, postHook, withTestLanes } from "./support.js";

// /metrics lists every tenant id. Who may read it depends on the bind address (issue 11, item 14).

const ADMIN = "admin-secret";

/** The real host bound to `bind` with the tenant "acme-corp" (token "t"), reached over loopback. */
async function hostOn(bind: string, extra: Record<string, unknown>): Promise<{ host: RunningHost; url: string; close(): Promise<void> }> {
  const dir = pluginsDir();
  const config = hostConfigSchema.parse(withTestLanes({ tenants: { "acme-corp": { token: "t" } }, ...extra }));
  const host = await startHost({ port: 0, host: bind, pluginsDir: dir, logLevel: "error", config }, silentLogger());
  const url = `http://127.0.0.1:${host.port}`;
  // A request, so that the metrics carry the tenant id.
  assert.equal((await postHook(url, "acme-corp", "need_registration", fixture("need_registration"), { authorization: "Bearer t" })).status, 200);
  return {
    host,
    url,
    async close() {
      await host.close(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function getMetrics(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}/metrics`, { headers });
  return { status: response.status, text: await response.text() };
}

describe("who may read /metrics", () => {
  const cases: Array<{ name: string; bind: string; config: Record<string, unknown>; anonymous: number; admin?: number }> = [
    { name: "a non-loopback bind without an admin token: closed to everyone", bind: "0.0.0.0", config: {}, anonymous: 401 },
    { name: "a non-loopback bind with an admin token: the admin token opens it", bind: "0.0.0.0", config: { adminToken: ADMIN }, anonymous: 401, admin: 200 },
    { name: "a non-loopback bind with metricsPublic: open", bind: "0.0.0.0", config: { metricsPublic: true }, anonymous: 200 },
    { name: "metricsPublic opens it even with an admin token", bind: "0.0.0.0", config: { metricsPublic: true, adminToken: ADMIN }, anonymous: 200, admin: 200 },
    { name: "a loopback bind without an admin token: open (local development)", bind: "127.0.0.1", config: {}, anonymous: 200 },
    { name: "a loopback bind with an admin token: the admin token opens it", bind: "127.0.0.1", config: { adminToken: ADMIN }, anonymous: 401, admin: 200 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const running = await hostOn(c.bind, c.config);
      try {
        const anonymous = await getMetrics(running.url);
        assert.equal(anonymous.status, c.anonymous, anonymous.text);
        if (c.anonymous === 401) {
          assert.deepEqual(JSON.parse(anonymous.text), { state: "error", error: { code: "unauthorized", message: "the admin token is required" } });
          assert.doesNotMatch(anonymous.text, /acme-corp/);
          for (const authorization of ["Bearer t", "Bearer wrong", `Basic ${ADMIN}`, "Bearer "]) {
            const refused = await getMetrics(running.url, { authorization });
            assert.equal(refused.status, 401, authorization);
            assert.doesNotMatch(refused.text, /acme-corp/);
          }
        } else {
          assert.match(anonymous.text, /tenant="acme-corp"/);
        }
        if (c.admin !== undefined) {
          const admin = await getMetrics(running.url, { authorization: `Bearer ${ADMIN}` });
          assert.equal(admin.status, c.admin);
          assert.match(admin.text, /tenant="acme-corp"/);
        }
      } finally {
        await running.close();
      }
    });
  }

  it("metricsPublic must be a boolean", () => {
    for (const metricsPublic of ["true", 1, null]) {
      const parsed = hostConfigSchema.safeParse({ metricsPublic });
      assert.equal(parsed.success, false, String(metricsPublic));
      assert.match(parsed.error!.issues[0]!.message, /expected boolean/);
    }
  });
});
