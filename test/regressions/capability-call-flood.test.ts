import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostile, statuses } from "../support.js";
import { HOOK, LATENCY_BOUND_MS, startTenantsHost, victimLatency, type TenantsHost } from "./other-tenant.js";

// One run fired 50,000 ctx.store.get calls without awaiting them; each added a listener to the
// run's abort signal, whose cost grows with the listeners already there, and another tenant's
// 24 ms request took 3.6 s. Now at most 16 calls of a run are in flight: the isolate refuses the
// rest before they cross, and each call that crosses costs the host the same whatever the count.
const IN_FLIGHT = 16;

/** Fires `count` calls made by `call(i)` at once, then reports how many succeeded and how the others failed. */
const burst = (count: number, call: string) => `
  const settled = await Promise.allSettled(Array.from({ length: ${count} }, (_, i) => ${call}));
  const refused = settled.filter((s) => s.status === "rejected");
  return { ok: settled.length - refused.length, refused: refused.length, message: refused[0]?.reason.message, others: new Set(refused.map((s) => s.reason.message)).size };`;

const ATTACKS = {
  get: burst(50_000, `ctx.store.get("k" + i)`),
  set: burst(50_000, `ctx.store.set("k" + (i % 100), i)`),
  mixed: burst(50_000, `i % 3 === 0 ? ctx.store.get("k" + i) : i % 3 === 1 ? ctx.store.set("k" + (i % 100), i) : ctx.store.delete("k" + i)`),
  fetch: burst(2_000, `ctx.http.fetch(input.url)`),
  // never awaited: the run ends at once, its calls still on their way (a refusal is known a tick later)
  unawaited: `let message; for (let i = 0; i < 50_000; i++) ctx.store.get("k" + i).catch((e) => (message ??= e.message));
    await null; await null; return { fired: 50000, message };`,
  // for 2 s, bursts of 1,000 again and again: the bound holds for the whole run
  sustained: `const until = Date.now() + 2000; let ok = 0, refused = 0, message;
    while (Date.now() < until) {
      for (const s of await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => ctx.store.get("k" + i)))) {
        if (s.status === "fulfilled") ok++; else [refused++, message = s.reason.message];
      }
    }
    return { rounds: ok / ${IN_FLIGHT}, refused: refused > 0, message };`,
  // the bound counts calls in flight, not calls made: batch after batch of 16 all succeed
  // 64 loops of awaited calls for 2 s, each trying again when refused: never more than 16 in flight
  loops: `const until = Date.now() + 2000; let ok = 0, refused = 0, message;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (Date.now() < until) { try { await ctx.store.get("k"); ok++; } catch (e) { refused++; message = e.message; await null; } }
    }));
    return { ok: ok > 0, refused: refused > 0, message };`,
  batches: `let ok = 0; for (let b = 0; b < 20; b++) ok += (await Promise.all(Array.from({ length: ${IN_FLIGHT} }, (_, i) => ctx.store.get("k" + i)))).length; return { ok };`,
};

describe("regression: a flood of capability calls stalled every tenant", function () {
  let host: TenantsHost;
  let target: Server;
  let url: string;
  before(async () => {
    target = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
    host = await startTenantsHost({
      "plugin.json": { tenants: ["evil"], store: true, allowHosts: ["127.0.0.1"], timeouts: { [HOOK]: 5000 } },
      [`${HOOK}.js`]: hostile(ATTACKS),
    });
  });
  after(async () => {
    await host.close();
    target.closeAllConnections();
    await new Promise((resolve) => target.close(resolve));
  });

  const refusal = (capability: string) => new RegExp(`^ctx\\.${capability}: more than ${IN_FLIGHT} capability calls in flight in this run; await some before making more$`);

  for (const [name, count, capability] of [["get", 50_000, "store.get"], ["set", 50_000, "store.set"], ["mixed", 50_000, "store.(get|set|delete)"], ["fetch", 2_000, "http.fetch"]] as const) {
    it(`${count} ${name} calls at once: ${IN_FLIGHT} run, the rest are refused inside the isolate; tenant good is not held up`, async () => {
      const { attack, worstMs, count: requests } = await victimLatency(host, () => host.attack(name, { url }));
      assert.deepEqual(statuses(attack.trace), ["attacker;status=ok"]);
      const data = attack.body.data;
      assert.equal(data.ok, IN_FLIGHT, JSON.stringify(data));
      assert.equal(data.refused, count - IN_FLIGHT);
      assert.match(data.message, refusal(capability));
      if (name !== "mixed") assert.equal(data.others, 1);
      assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${requests} requests)`);
      console.log(`      ${name}: tenant good's slowest of ${requests} requests: ${Math.round(worstMs)} ms`);
    });
  }

  it(`50,000 calls never awaited: refused past ${IN_FLIGHT}, tenant good is not held up; then batch after batch of ${IN_FLIGHT} all succeed (the bound counts calls in flight)`, async () => {
    const { attack, worstMs } = await victimLatency(host, () => host.attack("unawaited"));
    assert.equal(attack.body.data.fired, 50000);
    assert.match(attack.body.data.message, refusal("store.get"));
    assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms`);
    const next = await host.attack("batches");
    assert.deepEqual(next.body.data, { ok: 20 * IN_FLIGHT });
  });

  it("bursts of 1,000 for 2 s: the bound holds all along, and tenant good is not held up", async () => {
    const { attack, worstMs, count } = await victimLatency(host, () => host.attack("sustained"));
    const data = attack.body.data;
    assert.equal(data.refused, true);
    assert.match(data.message, refusal("store.get"));
    assert.ok(Number.isInteger(data.rounds) && data.rounds > 1, JSON.stringify(data));
    assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${count} requests)`);
    console.log(`      sustained: ${data.rounds} rounds; tenant good's slowest of ${count} requests: ${Math.round(worstMs)} ms`);
  });

  it("64 loops of awaited calls for 2 s, each trying again when refused: the bound holds, tenant good is not held up", async () => {
    const { attack, worstMs, count } = await victimLatency(host, () => host.attack("loops"));
    assert.equal(attack.body.data.ok, true);
    assert.equal(attack.body.data.refused, true);
    assert.match(attack.body.data.message, refusal("store.get"));
    assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${count} requests)`);
    console.log(`      loops: tenant good's slowest of ${count} requests: ${Math.round(worstMs)} ms`);
  });

});
