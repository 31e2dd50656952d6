import assert from "node:assert/strict";
import { spawnHost, type ChildHost } from "../sandbox-host.js";
import { fixture, statuses } from "../support.js";
import { expectStops } from "./fatal-oom.js";

// JSON.parse of millions of objects at module level, in a 16 MB isolate: isolated-vm disposed the
// isolate for its memory while the evaluation had not settled, then the load budget's timer
// disposed it again and threw "Isolate is already disposed" from a timer: an uncaught exception
// that ended the host at start (or at the hot reload of that folder). On Node 24 V8 grinds there
// instead, and isolated-vm parks the thread 5 s after the load budget.
const HOOK = "customize_entity";

describe("regression: a memory-pressure bomb at module load", () => {
  let host: ChildHost | undefined;
  after(() => host?.stop());

  it("breaks only its own folder; the host starts, serves the others, and exits on SIGTERM", async () => {
    host = await spawnHost({
      "bomb/plugin.json": { memoryMb: 16 },
      [`bomb/${HOOK}.js`]: `const n = JSON.parse("[" + '{"a":1},'.repeat(3_000_000) + "{}]").length;\nexport default () => ({ n });`,
      "fine/plugin.json": {},
      [`fine/${HOOK}.js`]: `export default () => ({ fine: "yes" });`,
    });
    const { plugins } = await host.get("/v1/tenants/t/plugins");
    const bomb = plugins.find((p: { folder: string }) => p.folder === "bomb");
    assert.equal(bomb.state, "error");
    assert.equal(bomb.error.file, `${HOOK}.js`);
    assert.match(bomb.error.message, /^loading did not finish within 2000 ms or exceeded the memory limit of 16 MB$/);
    const answer = await host.post(HOOK, fixture(HOOK));
    assert.deepEqual(statuses(answer.trace), ["fine;status=ok"]);
    assert.deepEqual(answer.body.data, { fine: "yes" });
    await expectStops(host, [0, 1]);
    host = undefined;
  });
});
