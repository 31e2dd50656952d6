import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnHost, type ChildHost } from "../sandbox-host.js";
import { fixture, statuses } from "../support.js";

// Some allocations take V8's fatal out-of-memory path instead of isolated-vm's memory limit; it
// used to abort the whole host (SANDBOX-NOTES, isolated-vm #527). On V8 13.6 (Node 24) others
// (a giant array fill, a spread of millions of arguments, JSON.parse of millions of objects) no
// longer fail fast: V8 grinds in an allocation loop that ignores termination until isolated-vm
// gives up 5 s after the call's timeout ("Script failed to terminate"). Either way isolated-vm
// parks the isolate's thread for good, with its heap: the plugin is disabled for that tenant, and
// the process can only end by SIGKILL. These tests run the host in a child process for that reason.
const HOOK = "customize_entity";
/** A second hook of the hog with a short timeout: probes of a stuck sandbox answer quickly. */
const PROBE = "need_registration";
const PROBE_MS = 500;
/** The hog's time limit for an attack. */
export const ATTACK_MS = 5000;
/** isolated-vm's grace between a call's timeout and "Script failed to terminate" (run_with_timeout.h). */
const IVM_GRACE_MS = 5000;

export const FAST_FATAL = /^exceeded its memory limit of 16 MB \(Catastrophic out-of-memory error\); the plugin is disabled for this tenant until it is reloaded$/;
export const GRINDING = /^exceeded its memory limit of 16 MB and did not stop; answered at its \d+ ms deadline$/;
const WAITING = /^its previous run is still running in V8 after being stopped; waited \d+ ms for it$/;

export function disabled(cause: string): string {
  return `disabled: V8 failed fatally in this plugin (${cause}); it runs again when the plugin is reloaded`;
}

/**
 * A host with tenants `t` and `u`, whose `hog` plugin (memoryMb 16, ctx.store) runs `attack` when
 * the input asks for it, followed by a well-behaved `after`; plus `extra` files.
 */
export function startHog(attack: string, extra: Record<string, string | object> = {}, attackMs = ATTACK_MS): Promise<ChildHost> {
  return spawnHost(
    {
      ...extra,
      "hog/plugin.json": { priority: 1, memoryMb: 16, store: true, timeouts: { [HOOK]: attackMs, [PROBE]: PROBE_MS } },
      [`hog/${HOOK}.js`]: `export default async (input, ctx) => {\n  if (input.attack) { ${attack} }\n  return { hog: "fine" };\n};`,
      [`hog/${PROBE}.js`]: `export default () => ({ result: true });`,
      "after/plugin.json": { priority: 2 },
      [`after/${HOOK}.js`]: `export default () => ({ after: "ran" });`,
    },
    ["t", "u"],
  );
}

export interface Failure {
  status: string;
  error: string;
  ms: number;
}

/** Runs the attack as `tenant`: the hog fails, the chain goes on; its status, error text and the answer's time. */
export async function attack(host: ChildHost, tenant = "t"): Promise<Failure> {
  const started = Date.now();
  const answer = await host.post(HOOK, { ...fixture(HOOK), attack: true }, tenant);
  const ms = Date.now() - started;
  assert.equal(answer.status, 200);
  const [hog, after] = statuses(answer.trace);
  assert.equal(after, "after;status=ok");
  assert.deepEqual(answer.body, { state: "success", data: { after: "ran" } });
  return { status: hog.replace(/^hog;status=/, ""), error: (await host.errors(answer)).hog, ms };
}

/** A short call to the hog as `tenant`: undefined when it answers normally, else how it failed. */
export async function probe(host: ChildHost, tenant = "t"): Promise<Failure | undefined> {
  const started = Date.now();
  const answer = await host.post(PROBE, fixture(PROBE), tenant);
  const ms = Date.now() - started;
  const [hog] = statuses(answer.trace);
  if (hog === "hog;status=ok") {
    assert.deepEqual(answer.body, { state: "success", data: { result: true } });
    return undefined;
  }
  return { status: hog.replace(/^hog;status=/, ""), error: (await host.errors(answer)).hog, ms };
}

/** The hog answers normally for `tenant`, and so does the plugin after it. */
export async function expectServes(host: ChildHost, tenant = "t"): Promise<void> {
  const answer = await host.post(HOOK, fixture(HOOK), tenant);
  assert.deepEqual(statuses(answer.trace), ["hog;status=ok", "after;status=ok"]);
  assert.deepEqual(answer.body.data, { hog: "fine", after: "ran" });
}

/** User + system CPU the process has used, in seconds (Linux). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * SIGTERM ends the host within 5 s. With a sandbox thread stuck in V8 the process cannot exit
 * normally (isolated-vm would wait for that thread forever): it ends by SIGKILL and says so.
 */
export async function expectStops(host: ChildHost, stuckThreads: number): Promise<void> {
  const how = await host.stop();
  assert.ok(how.ms < 5000, `the host did not exit within 5 s of SIGTERM (${JSON.stringify(how)})`);
  if (stuckThreads === 0) {
    assert.deepEqual({ code: how.code, signal: how.signal }, { code: 0, signal: null });
    return;
  }
  assert.equal(how.signal, "SIGKILL");
  assert.match(host.stderr(), new RegExp(`hookhost: exiting by SIGKILL instead of with code 0: ${stuckThreads} sandbox thread\\(s\\) stuck in V8 cannot be joined\\n`));
}

/**
 * How V8 fails: a fatal out-of-memory error at once (`fast`), or an allocation loop that ignores
 * termination (`grind`) until isolated-vm gives up or V8 runs out of memory for good; or, after
 * such a loop, V8 stops by itself and the thread comes back (`recovers`).
 */
export type Path = "fast" | "grind" | "recovers";

const CAUSES: Record<Path, string[]> = {
  fast: ["Catastrophic out-of-memory error"],
  grind: ["Script failed to terminate", "Catastrophic out-of-memory error"],
  recovers: [],
};

/**
 * The whole regression for one attack, run by tenant `t`. A fast fatal error fails its run before
 * the deadline; a grind is answered at the deadline, no second isolate runs for that tenant ×
 * plugin while V8 grinds (calls wait for its thread), and it ends by isolated-vm's "Script failed
 * to terminate" at the deadline + 5 s at the latest. Either way the plugin ends disabled for `t`,
 * the attack again costs nothing, tenant `u`'s sandbox of the same plugin is served throughout, the
 * CPU taken is bounded by the deadline + 5 s, and the host exits on SIGTERM.
 */
export function describeFatalOom(title: string, attackCode: string, paths: Path[], attackMs = ATTACK_MS): void {
  describe(`regression: ${title} (V8 fatal error, ${paths.join(" or ")})`, () => {
    let host: ChildHost | undefined;
    after(() => host?.stop());

    it(`fails only its own run, within its ${attackMs} ms deadline, and ends with the plugin disabled for that tenant (unless V8 gives its thread back); the other tenant is served throughout; the host exits on SIGTERM`, async function () {
      this.timeout(60_000);
      host = await startHog(attackCode, {}, attackMs);
      const cpuBefore = cpuSeconds(host.pid);
      const started = Date.now();
      const first = await attack(host);
      const fast = FAST_FATAL.test(first.error);
      if (fast) {
        assert.equal(first.status, "error");
        assert.ok(first.ms < attackMs, `answered after ${first.ms} ms`);
      } else {
        assert.ok(first.ms < attackMs + 1500, `answered after ${first.ms} ms`);
        // isolated-vm disposes the isolate at its memory limit; unless that came after the deadline, the trace says so
        if (first.status === "error") assert.match(first.error, GRINDING);
        else assert.deepEqual({ status: first.status, error: first.error }, { status: "timeout", error: `did not finish within ${attackMs} ms` });
        // while V8 grinds, calls to the same sandbox wait for its thread instead of starting another
        const waiting = await probe(host);
        assert.ok(waiting, "the hog answered normally while its previous run was still grinding");
        if (waiting.status === "timeout") assert.match(waiting.error, WAITING);
      }
      // the same plugin for another tenant is another sandbox: served at once
      await expectServes(host, "u");
      let last = await probe(host);
      while (last?.status === "timeout" && Date.now() - started < attackMs + IVM_GRACE_MS + 5000) {
        assert.match(last.error, WAITING);
        last = await probe(host);
      }
      const disabledAfter = Date.now() - started;
      const path: Path = fast ? "fast" : last === undefined ? "recovers" : "grind";
      assert.ok(paths.includes(path), `took the ${path} path: ${first.error}, then ${JSON.stringify(last)} after ${disabledAfter} ms`);
      if (path === "recovers") {
        // the thread came back: the sandbox is rebuilt, and nothing keeps the process from exiting normally
        await expectServes(host);
        await expectServes(host, "u");
        await expectStops(host, 0);
        host = undefined;
        return;
      }
      const cause = CAUSES[path].find((c) => last?.error === disabled(c));
      assert.ok(last?.status === "error" && cause, `not disabled after ${disabledAfter} ms: ${JSON.stringify(last)}`);
      if (cause === "Script failed to terminate") assert.ok(disabledAfter > attackMs + IVM_GRACE_MS - 500, `disabled after ${disabledAfter} ms, before isolated-vm gave up`);
      // its thread is parked for good with its heap: no rebuild, the attack again costs nothing
      const again = await attack(host);
      assert.deepEqual({ status: again.status, error: again.error }, { status: "error", error: disabled(cause) });
      assert.ok(again.ms < 1000, `answered after ${again.ms} ms`);
      const cpu = cpuSeconds(host.pid) - cpuBefore;
      assert.ok(cpu < (attackMs + IVM_GRACE_MS + 3000) / 1000, `the attack took ${cpu} s of CPU`);
      await expectServes(host, "u");
      await expectStops(host, 1);
      host = undefined;
    });
  });
}
