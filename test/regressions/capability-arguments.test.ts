import assert from "node:assert/strict";
import { MAX_CAPABILITY_ARGS_CHARS } from "../../sandbox/index.js";
import { hostile, statuses } from "../support.js";
import { HOOK, LATENCY_BOUND_MS, startTenantsHost, victimLatency, type TenantsHost } from "./other-tenant.js";

// A capability call's arguments crossed whole, however long, and were parsed on the host's main
// thread before the capability looked at them (a 50 MB store value, refused only after parsing).
// Now arguments past MAX_CAPABILITY_ARGS_CHARS as JSON are refused inside the isolate.
const LIMIT = MAX_CAPABILITY_ARGS_CHARS;

const tryCall = (call: string) => `try { await ${call}; return { passed: true }; } catch (e) { return { message: e.message }; }`;

const ATTACKS = {
  storeValue: tryCall(`ctx.store.set("k", "x".repeat(input.chars))`),
  storeKey: tryCall(`ctx.store.get("k".repeat(input.chars))`),
  fetchBody: tryCall(`ctx.http.fetch("http://127.0.0.1:9/", { method: "POST", body: "x".repeat(input.chars) })`),
  // escaping makes the JSON longer than the text: 1.5 M quotes are 3 M characters as JSON
  escaped: tryCall(`ctx.store.set("k", '"'.repeat(input.chars))`),
  loop: `const until = Date.now() + 1500; let refused = 0;
    while (Date.now() < until) { try { await ctx.store.set("k", "x".repeat(8_000_000)); } catch { refused++; } }
    return { refused };`,
};

describe("regression: capability arguments of any length crossed to the host", function () {
  this.timeout(60_000);
  let host: TenantsHost;
  before(async () => {
    host = await startTenantsHost({
      "plugin.json": { tenants: ["evil"], store: true, allowHosts: ["127.0.0.1"], memoryMb: 256 },
      [`${HOOK}.js`]: hostile(ATTACKS),
    }, "info", { memoryMb: 256 });
  });
  after(() => host.close());

  for (const [name, json] of [["storeValue", 12], ["storeKey", 8], ["fetchBody", 120], ["escaped", 12]] as const) {
    it(`${name}: arguments over ${LIMIT} characters as JSON are refused inside the sandbox, naming the limit`, async () => {
      const chars = name === "escaped" ? Math.ceil(LIMIT / 2) + 1 : LIMIT;
      const answer = await host.attack(name, { chars });
      assert.deepEqual(statuses(answer.trace), ["attacker;status=ok"]);
      const method = name === "fetchBody" ? "http.fetch" : name === "storeKey" ? "store.get" : "store.set";
      assert.match(answer.body.data.message, new RegExp(`^ctx\\.${method.replace(".", "\\.")}: the arguments are \\d+ characters as JSON; the limit is ${LIMIT}$`));
      const length = Number(/are (\d+) characters/.exec(answer.body.data.message)![1]);
      assert.ok(length > LIMIT && length < LIMIT * 2 + json, `reported ${length}`);
    });
  }

  it("arguments under the limit still reach the capability, which applies its own limits", async () => {
    const answer = await host.attack("storeValue", { chars: 100_000 });
    assert.match(answer.body.data.message, /^ctx\.store\.set: store value is \d+ bytes as JSON; the limit is 65536$/);
  });

  it("a run refused again and again for 1.5 s does not hold up another tenant", async () => {
    const { attack, worstMs } = await victimLatency(host, () => host.attack("loop"));
    assert.ok(attack.body.data.refused > 0, JSON.stringify(attack.body.data));
    assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms`);
  });
});
