import assert from "node:assert/strict";
import type { ChildHost } from "../sandbox-host.js";
import { expectServes, expectStops, startHog } from "./fatal-oom.js";

// The same attack at module level: it ran in discovery's load probe and aborted the host before
// it ever listened. On Node 24 it grinds instead, past the 2 s load budget, until isolated-vm
// parks its thread 5 s later.
describe("regression: a fatal out-of-memory attack at module load", () => {
  let host: ChildHost | undefined;
  after(() => host?.stop());

  it("breaks only its own folder; the host starts, serves the others, and exits on SIGTERM", async () => {
    host = await startHog("", {
      "bomb/plugin.json": { memoryMb: 16 },
      "bomb/need_registration.js": `const a = new Array(2 ** 30).fill(1);\nexport default () => ({ result: a.length > 0 });`,
    });
    const { plugins } = await host.get("/v1/tenants/t/plugins");
    const bomb = plugins.find((p: { folder: string }) => p.folder === "bomb");
    assert.equal(bomb.state, "error");
    assert.equal(bomb.error.file, "need_registration.js");
    assert.equal(bomb.error.message, "loading did not finish within 2000 ms or exceeded the memory limit of 16 MB");
    await expectServes(host);
    await expectServes(host, "u");
    // the load probe's thread may still grind, be parked for good, or have come back
    await expectStops(host, [0, 1]);
    host = undefined;
  });
});
