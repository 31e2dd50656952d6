import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnHost, type ChildHost } from "../sandbox-host.js";
import { fixture, lanesOn, statuses } from "../support.js";
import { LANE_REPLACED } from "../../core/lanes/supervisor.js";

// Some allocations take V8's fatal out-of-memory path instead of isolated-vm's memory limit; it
// used to abort the whole host (SANDBOX-NOTES, isolated-vm #527), and isolated-vm parks the
// isolate's thread for good, with its heap. On V8 13.6 (Node 24) others (a giant array fill, a
// spread of millions of arguments, JSON.parse of millions of objects) no longer fail fast: V8
// grinds in an allocation loop that ignores termination, for seconds, or until isolated-vm parks
// the thread 5 s after the call's timeout ("Script failed to terminate"). Either way the plugin is
// disabled for that tenant, and while a thread is stuck the process can only end by SIGKILL. These
// tests run the host in a child process for that reason.
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
// While the old thread grinds a probe waits for it; when the thread comes back late in the probe's
// own 500 ms, building a fresh sandbox can take the rest, and the probe times out as any run does.
const WAITING = new RegExp(`^its previous run is still running in V8 after being stopped; waited \\d+ ms for it$|^did not finish within ${PROBE_MS} ms$`);

/** What a disabled sandbox answers, for each way it gets disabled. */
export const DISABLED = {
  fatal: "disabled: V8 failed fatally in this plugin (Catastrophic out-of-memory error); it runs again when the plugin is reloaded",
  parked: "disabled: V8 failed fatally in this plugin (Script failed to terminate); it runs again when the plugin is reloaded",
  notStopped: "disabled: V8 did not stop it (still running 2000 ms after being stopped); it runs again when the plugin is reloaded",
};

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
    // the host's ceiling lets the hog have its attack time (plugin.json alone may only ask for
    // less), and the chain's budget leaves the plugin after it time to answer
    { tenants: { t: {}, u: {} }, pluginLimits: { hog: { timeouts: { [HOOK]: attackMs } } }, budgets: { [HOOK]: attackMs + 3000 } },
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
 * SIGTERM ends the host within 5 s. A sandbox thread stuck in V8 cannot be joined, so the process
 * holding it cannot exit normally: it ends by SIGKILL and says so. With lanes (runs and load
 * checks alike) a stuck thread costs its lane a replacement instead (`stuckThreads` counts those),
 * and the host exits with 0. Returns how many there were, when `stuckThreads` allows several counts.
 */
export async function expectStops(host: ChildHost, stuckThreads: number | number[]): Promise<number> {
  const how = await host.stop();
  assert.ok(how.ms < 5000, `the host did not exit within 5 s of SIGTERM (${JSON.stringify(how)})`);
  const allowed = typeof stuckThreads === "number" ? [stuckThreads] : stuckThreads;
  // a lane's stderr reaches the host's marked as the lane's: only the host's own line counts
  const said = /^hookhost: exiting by SIGKILL instead of with code 0: (\d+) sandbox thread\(s\) stuck in V8 cannot be joined$/m.exec(host.stderr());
  const stuckInHost = said ? Number(said[1]) : 0;
  const stuck = lanesOn() ? host.logs().filter((l) => l.message === LANE_REPLACED).length : stuckInHost;
  assert.ok(allowed.includes(stuck), `${stuck} stuck thread(s), expected ${allowed.join(" or ")}`);
  if (stuckInHost === 0) assert.deepEqual({ code: how.code, signal: how.signal }, { code: 0, signal: null });
  else assert.equal(how.signal, "SIGKILL");
  if (lanesOn()) assert.equal(stuckInHost, 0, "a stuck thread cost the host, not a lane");
  return stuck;
}

/**
 * How V8 fails: a fatal out-of-memory error at once (`fast`); isolated-vm's ordinary memory limit
 * (`limit`); an allocation loop that ignores termination past the deadline (`grind`); or such a
 * loop that V8 stops soon after the deadline (`late`), after which the plugin serves again. The
 * grinding attacks take either of the last two, by how busy the machine is (measured: the spread
 * stopped 1 s after its deadline on an idle machine, and ground on under load).
 */
export type Path = "fast" | "limit" | "grind" | "late";

const waitUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

/**
 * The whole regression for one attack, run by tenant `t`, which must take one of `paths`. A fast
 * fatal error fails its run before the deadline and disables the plugin for `t`. A grind is
 * answered at the deadline; calls to that sandbox wait for its thread (no second isolate runs
 * beside it) and the plugin is disabled for `t` 2 s later, or when isolated-vm parks the thread 5 s
 * after the deadline; by then the thread is back or parked, so the CPU the attack took is bounded
 * by the deadline + 5 s. Disabled, the attack again costs nothing. Tenant `u`'s sandbox of the same
 * plugin is served throughout, and the host exits on SIGTERM.
 */
export function describeFatalOom(title: string, attackCode: string, paths: Path[], attackMs = ATTACK_MS): void {
  describe(`regression: ${title} (${paths.join(" or ")})`, () => {
    let host: ChildHost | undefined;
    after(() => host?.stop());

    it(`fails only its own run, within its ${attackMs} ms deadline; a fatal error or a grind disables the plugin for that tenant; the other tenant is served throughout; the host exits on SIGTERM`, async function () {
      this.timeout(60_000);
      host = await startHog(attackCode, {}, attackMs);
      const cpuBefore = cpuSeconds(host.pid);
      const started = Date.now();
      const first = await attack(host);
      const early = FAST_FATAL.test(first.error) ? "fast" : first.error === "exceeded its memory limit of 16 MB" ? "limit" : undefined;
      if (early) {
        assert.equal(first.status, "error");
        assert.ok(first.ms < attackMs, `answered after ${first.ms} ms`);
      } else {
        assert.ok(first.ms < attackMs + 1500, `answered after ${first.ms} ms`);
        // isolated-vm disposes the isolate at its memory limit; unless that came after the deadline, the trace says so
        if (first.status === "error") assert.match(first.error, GRINDING);
        else assert.deepEqual({ status: first.status, error: first.error }, { status: "timeout", error: `did not finish within ${attackMs} ms` });
      }
      // the same plugin for another tenant is another sandbox: served at once
      await expectServes(host, "u");
      // while V8 grinds, calls to the same sandbox wait for its thread instead of starting another
      let last = await probe(host);
      while (last?.status === "timeout" && Date.now() - started < attackMs + IVM_GRACE_MS + 3000) {
        assert.match(last.error, WAITING);
        last = await probe(host);
      }
      const settledAfter = Date.now() - started;
      const path: Path = early ?? (last === undefined ? "late" : "grind");
      assert.ok(paths.includes(path), `took the ${path} path: ${first.status} ${first.error} after ${first.ms} ms, then ${JSON.stringify(last)} after ${settledAfter} ms`);
      if (path === "limit" || path === "late") {
        // V8 gave the thread back: the sandbox serves again, and nothing keeps the process from exiting normally
        await waitUntil(started + attackMs + IVM_GRACE_MS + 1000);
        assert.equal(await probe(host), undefined);
        await expectStops(host, 0);
        host = undefined;
        return;
      }
      const causes = path === "fast" ? [DISABLED.fatal] : [DISABLED.notStopped, DISABLED.parked, DISABLED.fatal];
      assert.ok(last?.status === "error" && causes.includes(last.error), `not disabled after ${settledAfter} ms: ${JSON.stringify(last)}`);
      // disabled: the attack again is refused at once, and grinds no more
      const again = await attack(host);
      assert.deepEqual({ status: again.status, error: again.error }, { status: "error", error: last.error });
      assert.ok(again.ms < 1000, `answered after ${again.ms} ms`);
      await expectServes(host, "u");
      // by the deadline + 5 s the thread is back, or isolated-vm has parked it: it takes no more CPU
      await waitUntil(started + attackMs + IVM_GRACE_MS + 1000);
      const cpu = cpuSeconds(host.pid) - cpuBefore;
      assert.ok(cpu < (attackMs + IVM_GRACE_MS + 3000) / 1000, `the attack took ${cpu} s of CPU`);
      await expectStops(host, path === "fast" ? 1 : [0, 1]);
      host = undefined;
    });
  });
}
