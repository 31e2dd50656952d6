import assert from "node:assert/strict";
import { spawnHost, type ChildHost } from "../sandbox-host.js";
import { fixture, statuses } from "../support.js";

// Some allocations take V8's fatal out-of-memory path instead of isolated-vm's memory limit; it
// used to abort the whole host (SANDBOX-NOTES, isolated-vm #527). Now the attack costs only its own
// run. These tests run the host in a child process: after such an attack isolated-vm keeps a thread
// parked for good, and the process can only end by SIGKILL (sandbox.ts does that on exit).
const HOOK = "customize_entity";

export const FATAL_ERROR = /^exceeded its memory limit of 16 MB/;

/** A host whose `hog` plugin (memoryMb 16) runs `attack` when the input asks for it, followed by a well-behaved `after`; plus `extra` files. */
export function startHog(attack: string, extra: Record<string, string | object> = {}): Promise<ChildHost> {
  return spawnHost({
    ...extra,
    "hog/plugin.json": { priority: 1, memoryMb: 16, timeouts: { [HOOK]: 5000 } },
    [`hog/${HOOK}.js`]: `export default (input) => {\n  if (input.attack) { ${attack} }\n  return { hog: "fine" };\n};`,
    "after/plugin.json": { priority: 2 },
    [`after/${HOOK}.js`]: `export default () => ({ after: "ran" });`,
  }, { pluginLimits: { hog: { timeouts: { [HOOK]: 5000 } } } });
}

/** Runs the attack: the hog fails with `error`, the chain goes on, and the error text is returned. */
export async function attack(host: ChildHost): Promise<string> {
  const answer = await host.post(HOOK, { ...fixture(HOOK), attack: true });
  assert.equal(answer.status, 200);
  assert.deepEqual(statuses(answer.trace), ["hog;status=error", "after;status=ok"]);
  assert.deepEqual(answer.body, { state: "success", data: { after: "ran" } });
  return (await host.errors(answer)).hog;
}

/** The hog answers normally again: its sandbox was rebuilt. */
export async function expectServes(host: ChildHost): Promise<void> {
  const answer = await host.post(HOOK, fixture(HOOK));
  assert.deepEqual(statuses(answer.trace), ["hog;status=ok", "after;status=ok"]);
  assert.deepEqual(answer.body.data, { hog: "fine", after: "ran" });
}

/** SIGTERM still ends the host promptly (isolated-vm would otherwise wait forever for the parked thread). */
export async function expectStops(host: ChildHost): Promise<void> {
  const how = await host.stop();
  assert.ok(how.ms < 5000, `the host did not exit within 5 s of SIGTERM (${JSON.stringify(how)})`);
}

/** The whole regression for one attack: twice attacked and rebuilt, then stopped. */
export function describeFatalOom(title: string, attackCode: string): void {
  describe(`regression: ${title} (V8 fatal out-of-memory)`, () => {
    let host: ChildHost | undefined;
    after(() => host?.stop());

    it("fails only its own run, is rebuilt on the next call, and the host still exits on SIGTERM", async () => {
      host = await startHog(attackCode);
      for (let i = 0; i < 2; i++) {
        assert.match(await attack(host), FATAL_ERROR);
        await expectServes(host);
      }
      await expectStops(host);
      host = undefined;
    });
  });
}
