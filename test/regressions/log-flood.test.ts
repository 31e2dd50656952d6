import assert from "node:assert/strict";
import { hostile, statuses, type LogLine } from "../support.js";
import { HOOK, LATENCY_BOUND_MS, startTenantsHost, victimLatency } from "./other-tenant.js";

// A loop of ctx.log.debug("x") for 2.5 s sent ~550,000 calls to the host's main thread, and
// another tenant waited 3.1 s. Now the rate limit (50 lines a second, bursts of 200) acts inside
// the isolate, and lines below the host's log level never leave it; drops are still counted and
// reported in a warn line.
const PER_SECOND = 50;
const BURST = 200;

/** Calls `line(i)` for `ms`, and returns how many calls it made. */
const loop = (ms: number, line: string) => `const until = Date.now() + ${ms}; let i = 0; while (Date.now() < until) { ${line}; i++; } return { calls: i };`;

const ATTACKS = {
  debug: loop(2500, `ctx.log.debug("x")`),
  info: loop(2500, `ctx.log.info("flood " + i, { i })`),
  levels: loop(2500, `ctx.log[["debug", "info", "warn", "error"][i % 4]]("flood " + i)`),
  wide: loop(1500, `ctx.log.warn("w".repeat(5000) + i, { pad: "p".repeat(15000) })`),
  burst: `for (let i = 0; i < 100_000; i++) ctx.log.info("burst " + i); return { calls: 100000 };`,
};

const ATTACKER = {
  "plugin.json": { tenants: ["evil"], timeouts: { [HOOK]: 5000 } },
  [`${HOOK}.js`]: hostile(ATTACKS),
};

const fromAttacker = (lines: LogLine[]) => lines.filter((l) => l.source === "plugin" && l.tenant === "evil" && l.plugin === "attacker");
const dropped = (lines: LogLine[]) =>
  lines.filter((l) => l.message === "plugin log lines dropped by the rate limit" && l.tenant === "evil" && l.plugin === "attacker").reduce((n, l) => n + Number(l.dropped), 0);

describe("regression: a flood of ctx.log calls stalled every tenant", function () {
  this.timeout(60_000);

  for (const [name, levels] of [["info", ["info"]], ["levels", ["info", "warn", "error"]], ["wide", ["warn"]], ["burst", ["info"]]] as const) {
    it(`${name}: at most ${BURST} lines plus ${PER_SECOND} a second are written, every other line is counted as dropped, tenant good is not held up`, async () => {
      const host = await startTenantsHost(ATTACKER);
      const started = Date.now();
      const { attack, worstMs, count } = await victimLatency(host, () => host.attack(name));
      const seconds = (Date.now() - started) / 1000;
      await host.close();
      assert.deepEqual(statuses(attack.trace), ["attacker;status=ok"]);
      const written = fromAttacker(host.lines);
      // the `levels` attack's debug quarter is below the host's level: neither written nor dropped
      const atLevel = name === "levels" ? attack.body.data.calls - Math.ceil(attack.body.data.calls / 4) : attack.body.data.calls;
      assert.ok(written.length <= BURST + PER_SECOND * (seconds + 1), `${written.length} lines written in ${seconds} s`);
      assert.ok(written.length >= BURST, `${written.length} lines written`);
      assert.deepEqual([...new Set(written.map((l) => l.level))].sort(), [...levels].sort());
      assert.equal(dropped(host.lines), atLevel - written.length);
      for (const line of written) assert.ok(line.message.length <= 4097 && JSON.stringify(line.fields ?? {}).length <= 16384 + 16);
      assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${count} requests)`);
      console.log(`      ${name}: ${attack.body.data.calls} calls, ${written.length} written; tenant good's slowest of ${count} requests: ${Math.round(worstMs)} ms`);
    });
  }

  it("debug lines under an info host never leave the isolate: none written, none counted as dropped, tenant good is not held up", async () => {
    const host = await startTenantsHost(ATTACKER);
    const { attack, worstMs, count } = await victimLatency(host, () => host.attack("debug"));
    await host.close();
    assert.ok(attack.body.data.calls > 100_000, JSON.stringify(attack.body.data));
    assert.equal(fromAttacker(host.lines).length, 0);
    assert.equal(dropped(host.lines), 0);
    assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${count} requests)`);
    console.log(`      debug: ${attack.body.data.calls} calls; tenant good's slowest of ${count} requests: ${Math.round(worstMs)} ms`);
  });

  it("debug lines under a debug host are written, within the same limit", async () => {
    const host = await startTenantsHost(ATTACKER, "debug");
    const started = Date.now();
    const attack = await host.attack("debug");
    const seconds = (Date.now() - started) / 1000;
    await host.close();
    const written = fromAttacker(host.lines);
    assert.ok(written.length >= BURST && written.length <= BURST + PER_SECOND * (seconds + 1), `${written.length} lines written in ${seconds} s`);
    assert.equal(dropped(host.lines), attack.body.data.calls - written.length);
  });
});
