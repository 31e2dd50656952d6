import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { spawnHost } from "./sandbox-host.js";
import { fixture, statuses } from "./support.js";

describe("graceful stop (CONTRACT §1)", () => {
  it("SIGTERM lets the request in flight finish, then the host exits 0", async function () {
    this.timeout(30_000);
    const host = await spawnHost({
      "slow/plugin.json": { timeouts: { process_client_phone: 5000 } },
      "slow/process_client_phone.js": `export default (input) => { const end = Date.now() + 1000; while (Date.now() < end); return { phone: input.phone + "-done" }; }`,
    }, { pluginLimits: { slow: { timeouts: { process_client_phone: 5000 } } } });
    const inFlight = host.post("process_client_phone", fixture("process_client_phone"));
    await sleep(300);
    const stopped = host.stop();
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.deepEqual(statuses(answer.trace), ["slow;status=ok"]);
    assert.equal(answer.body.data.phone, "89213451807-done");
    const how = await stopped;
    assert.deepEqual([how.code, how.signal], [0, null]);
    assert.ok(how.ms < 10_000, `took ${how.ms} ms`);
  });
});
