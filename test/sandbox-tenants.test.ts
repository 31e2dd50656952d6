import assert from "node:assert/strict";
import { startWatchedHost, type WatchedHost } from "./sandbox-host.js";
import { fixture, statuses } from "./support.js";

// One plugin serving two tenants runs in two sandboxes (SANDBOX-NOTES, "Tenants"): what tenant A
// leaves behind, in globals, prototypes or the store, tenant B never sees.
const HOOK = "customize_entity";
const A = { authorization: "Bearer token-of-a" };
const B = { authorization: "Bearer token-of-b" };

describe("sandbox tenants: one plugin, two tenants", () => {
  let host: WatchedHost;
  before(async () => {
    host = await startWatchedHost(
      {
        "keeper/plugin.json": { tenants: ["a", "b"], store: true },
        [`keeper/${HOOK}.js`]: `export default async (input, ctx) => {
  const seen = { global: String(globalThis.secret), proto: String(({}).secret), store: String(await ctx.store.get("secret")) };
  if (input.secret) {
    globalThis.secret = input.secret;
    Object.prototype.secret = input.secret;
    await ctx.store.set("secret", input.secret);
  }
  return { tenant: ctx.tenant, seen };
};`,
      },
      { tenants: { a: { token: "token-of-a" }, b: { token: "token-of-b" } } },
    );
  });
  after(() => host.close());

  const call = async (headers: Record<string, string>, tenant: string, secret?: string) => {
    const answer = await host.post(tenant, HOOK, { ...fixture(HOOK), ...(secret ? { secret } : {}) }, headers);
    assert.equal(answer.status, 200);
    assert.deepEqual(statuses(answer.trace), ["keeper;status=ok"], JSON.stringify(host.errors(answer)));
    return answer.body.data;
  };
  const nothing = { global: "undefined", proto: "undefined", store: "undefined" };
  const alpha = { global: "alpha", proto: "alpha", store: "alpha" };

  it("a global, a prototype and a store key set during tenant a's call: b never sees them, a's next call does", async () => {
    assert.deepEqual(await call(A, "a", "alpha"), { tenant: "a", seen: nothing });
    assert.deepEqual(await call(B, "b"), { tenant: "b", seen: nothing });
    assert.deepEqual(await call(A, "a"), { tenant: "a", seen: alpha });
    assert.deepEqual(await call(B, "b"), { tenant: "b", seen: nothing });
  });

  it("a's token on b's hook is the same 401 as a wrong token or none, and runs nothing", async () => {
    const borrowed = await host.post("b", HOOK, { ...fixture(HOOK), secret: "stolen" }, A);
    const wrong = await host.post("b", HOOK, fixture(HOOK), { authorization: "Bearer wrong" });
    const none = await host.post("b", HOOK, fixture(HOOK));
    for (const answer of [borrowed, wrong, none]) {
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, wrong.body);
      assert.deepEqual(answer.trace, []);
      assert.equal(answer.headers.get("content-type"), wrong.headers.get("content-type"));
    }
    assert.equal(wrong.body.error.code, "unauthorized");
    // nothing of the refused call reached b's sandbox
    assert.deepEqual(await call(B, "b"), { tenant: "b", seen: nothing });
  });
});
