import assert from "node:assert/strict";
import { fixture, keepingLogger, pluginsDir, postHook, startTestHost, type LogLine } from "../support.js";
import { HOOK } from "./other-tenant.js";

// The log rate limit was one bucket per plugin name: a busy tenant silenced another tenant's lines
// from a plugin they share. Now each tenant × plugin has its own bucket (50 lines a second,
// bursts of 200), and the drop report names both.
const plugin = `export default (input, ctx) => {
  for (let i = 0; i < input.lines; i++) ctx.log.info(input.say + " " + i);
  if (input.loop) for (;;) {}
  return { said: input.lines };
};`;

const DROPPED = "plugin log lines dropped by the rate limit";

async function startChatty() {
  const { logger, lines } = keepingLogger("info");
  const host = await startTestHost(
    pluginsDir({ "chatty/plugin.json": { timeouts: { [HOOK]: 300 } }, [`chatty/${HOOK}.js`]: plugin, "other/plugin.json": { timeouts: { [HOOK]: 300 } }, [`other/${HOOK}.js`]: plugin }),
    { tenants: { a: {}, b: {}, c: {} } },
    undefined,
    logger,
  );
  const say = (tenant: string, lines: number, extra: Record<string, unknown> = {}) => postHook(host.url, tenant, HOOK, { ...fixture(HOOK), say: tenant, lines, ...extra });
  const written = (tenant: string, plugin = "chatty") => lines.filter((l: LogLine) => l.source === "plugin" && l.tenant === tenant && l.plugin === plugin).length;
  const drops = () => lines.filter((l) => l.message === DROPPED).map((l) => ({ tenant: l.tenant, plugin: l.plugin, dropped: l.dropped }));
  return { host, say, written, drops };
}

describe("regression: one tenant's log flood silenced another tenant's lines from the same plugin", () => {
  it("tenant a spends its burst; b's and c's lines from the same plugin are all written; the report names tenant and plugin", async () => {
    const { host, say, written, drops } = await startChatty();
    const started = Date.now();
    await say("a", 1000);
    const seconds = (Date.now() - started) / 1000;
    for (const tenant of ["b", "c"]) {
      await say(tenant, 150);
      await say(tenant, 3);
    }
    await host.close();
    // each plugin of a tenant has its own bucket too
    for (const plugin of ["chatty", "other"]) {
      assert.ok(written("a", plugin) >= 200 && written("a", plugin) <= 200 + 50 * seconds + 1, `${written("a", plugin)} lines in ${seconds} s`);
      for (const tenant of ["b", "c"]) assert.equal(written(tenant, plugin), 153, `${tenant} × ${plugin}`);
    }
    assert.deepEqual(
      drops().sort((x, y) => String(x.plugin).localeCompare(String(y.plugin))),
      ["chatty", "other"].map((plugin) => ({ tenant: "a", plugin, dropped: 1000 - written("a", plugin) })),
    );
  });

  it("a sandbox rebuilt after a timeout does not get a fresh burst: the host's bucket for the tenant × plugin still holds", async () => {
    const { host, say, written, drops } = await startChatty();
    const started = Date.now();
    for (let i = 0; i < 3; i++) await say("a", 150, { loop: true });
    const seconds = (Date.now() - started) / 1000;
    await host.close();
    assert.ok(written("a") <= 200 + 50 * (seconds + 1), `${written("a")} lines in ${seconds} s`);
    const dropped = drops().filter((d) => d.tenant === "a" && d.plugin === "chatty").reduce((n, d) => n + Number(d.dropped), 0);
    assert.ok(dropped >= 450 - 200 - 50 * (seconds + 1), `${dropped} dropped`);
  });
});
