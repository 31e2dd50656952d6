import assert from "node:assert/strict";
import { MAX_FATAL_ERRORS } from "../../sandbox/sandbox.js";
import type { ChildHost } from "../sandbox-host.js";
import { attack, expectServes, expectStops, FATAL_ERROR, startHog } from "./fatal-oom.js";

// One FixedArray of 2^30 elements: the most reliable of the fatal out-of-memory attacks, so it
// also proves the cap on rebuilds.
describe("regression: new Array(2 ** 30).fill() (V8 fatal out-of-memory)", () => {
  let host: ChildHost | undefined;
  after(() => host?.stop());

  it(`fails only its own run and is rebuilt, until ${MAX_FATAL_ERRORS} such failures disable the sandbox; the host still exits on SIGTERM`, async () => {
    host = await startHog(`return { n: new Array(2 ** 30).fill(1).length };`);
    for (let i = 0; i < MAX_FATAL_ERRORS; i++) {
      assert.match(await attack(host), FATAL_ERROR);
      if (i < MAX_FATAL_ERRORS - 1) await expectServes(host);
    }
    // each fatal error leaves a thread and a heap behind: a sandbox is not rebuilt forever
    assert.equal(await attack(host), `disabled after ${MAX_FATAL_ERRORS} out-of-memory failures; it runs again when the plugin is reloaded`);
    await expectStops(host);
    host = undefined;
  });
});
