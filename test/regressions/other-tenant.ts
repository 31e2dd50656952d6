import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { fixture, keepingLogger, pluginsDir, startTestHost, type Answer, type LogLine, type TestHost } from "../support.js";

// Attacks that once stalled every tenant: the host's main thread was busy for seconds with one
// plugin's crossings. Each regression runs the attack for tenant `evil` while tenant `good` sends
// ordinary requests, and measures how long good's requests take.
export const HOOK = "customize_entity";

export interface TenantsHost extends TestHost {
  lines: LogLine[];
  attack(name: string, extra?: Record<string, unknown>): Promise<Answer>;
  /** one request of tenant `good`, whose own plugin uses ctx.store */
  victim(): Promise<Answer>;
}

/**
 * The real host with tenants `evil` and `good`: `attacker` (files of the `attacker` folder) serves
 * evil, `victim` serves good; `config` adds host settings. Logs at `logLevel` are kept in `lines`.
 */
export async function startTenantsHost(attacker: Record<string, string | object>, logLevel = "info", config: Record<string, unknown> = {}): Promise<TenantsHost> {
  const files: Record<string, string | object> = { "victim/plugin.json": { tenants: ["good"], store: true } };
  files[`victim/${HOOK}.js`] = `export default async (input, ctx) => { await ctx.store.set("seen", 1); return { victim: "fine", seen: await ctx.store.get("seen") }; };`;
  for (const [path, content] of Object.entries(attacker)) files[`attacker/${path}`] = content;
  const { logger, lines } = keepingLogger(logLevel);
  // The attacks run for seconds: the host's ceiling and budget for the hook let them (plugin.json
  // alone may only ask for less than the host's).
  const limits = { timeouts: { [HOOK]: 10_000 }, budgets: { [HOOK]: 10_000 } };
  const host = await startTestHost(pluginsDir(files), { ...limits, ...config, tenants: { evil: {}, good: {} } }, undefined, logger);
  return {
    ...host,
    lines,
    attack: (name, extra = {}) => host.post("evil", HOOK, { ...fixture(HOOK), attack: name, ...extra }),
    victim: () => host.post("good", HOOK, fixture(HOOK)),
  };
}

/**
 * Tenant good's slowest request while `attack` runs: requests one after another, from shortly
 * after the attack starts until it has answered (and at least 3). Good's sandbox is built first.
 * The host runs in this process, so a stall of its main thread between two requests would delay
 * the next one from being sent: each request counts from the end of the one before it.
 */
export async function victimLatency(host: TenantsHost, start: () => Promise<Answer>): Promise<{ attack: Answer; worstMs: number; count: number }> {
  await host.victim();
  const attack = start();
  let done = false;
  void attack.finally(() => (done = true));
  await delay(50);
  let worstMs = 0;
  let count = 0;
  let last = performance.now();
  while (!done || count < 3) {
    const answer = await host.victim();
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last);
    last = now;
    count++;
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.data, { victim: "fine", seen: 1 });
  }
  return { attack: await attack, worstMs, count };
}

/** The generous bound the tests assert (the machine is shared); the figure measured is far lower, and the old code took seconds. */
export const LATENCY_BOUND_MS = 1000;
