// A config reload is held to the start-up rule: no token-less tenant on a non-loopback address
// (issue 11 #13). A reload that breaks it keeps the last good config and logs every problem.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hostConfigSchema } from "../core/config.js";
import { startHost, type RunningHost } from "../core/front/server.js";
import { eventually, fixture, keepingLogger, pluginsDir, postHook, withTestLanes, type LogLine } from "./support.js";

const HOOK = "process_client_phone";
const phone = fixture(HOOK);

describe("config reload on a non-loopback address", () => {
  let host: RunningHost;
  let lines: LogLine[];
  let configFile: string;
  let base: string;
  let work: string;
  const first = { tenants: { acme: { token: "acme-token" } } };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "hookhost-reload-"));
    configFile = join(work, "hookhost.json");
    writeFileSync(configFile, JSON.stringify(first));
    const kept = keepingLogger("info");
    lines = kept.lines;
    const dir = pluginsDir({ "tag/plugin.json": {}, [`tag/${HOOK}.js`]: `export default (input, ctx) => ({ phone: ctx.tenant + ":" + input.phone });` });
    host = await startHost({ port: 0, host: "0.0.0.0", pluginsDir: dir, configFile, logLevel: "info", config: hostConfigSchema.parse(withTestLanes(first)) }, kept.logger);
    base = `http://127.0.0.1:${host.port}`;
  });
  after(async () => {
    await host?.close(1000);
    rmSync(work, { recursive: true, force: true });
  });

  const refusals = () => lines.filter((l) => l.message === "config reload failed; the last good config stays in force");
  /** Writes `config` and waits until the host has either refused it or taken it. */
  async function reload(config: object): Promise<void> {
    const [refused, reloaded] = [refusals().length, lines.filter((l) => l.message === "config reloaded").length];
    writeFileSync(configFile, JSON.stringify(config));
    await eventually(async () => assert.ok(refusals().length > refused || lines.filter((l) => l.message === "config reloaded").length > reloaded, "no reload yet"));
    await sleep(50);
  }
  const call = (tenant: string, token?: string) => postHook(base, tenant, HOOK, phone, token ? { authorization: `Bearer ${token}` } : {});

  const cases: { why: string; config: object; tokenless: string[]; stillRefused: () => Promise<void> }[] = [
    {
      why: "a new tenant without a token",
      config: { tenants: { acme: { token: "acme-token" }, open: {} } },
      tokenless: ["open"],
      stillRefused: async () => assert.equal((await call("open")).status, 401),
    },
    {
      why: "an existing tenant's token removed",
      config: { tenants: { acme: {} } },
      tokenless: ["acme"],
      stillRefused: async () => assert.equal((await call("acme")).status, 401),
    },
    {
      why: "two token-less tenants among good ones",
      config: { tenants: { acme: { token: "acme-token" }, open: {}, wide: { recordsDir: "/tmp" }, hashed: { tokenSha256: "a".repeat(64) } } },
      tokenless: ["open", "wide"],
      stillRefused: async () => {
        assert.equal((await call("open")).status, 401);
        assert.equal((await call("wide")).status, 401);
        assert.equal((await call("hashed", "x")).status, 401);
      },
    },
  ];
  for (const c of cases) {
    it(`${c.why}: refused, every token-less tenant named, the last good config serves`, async function () {
      this.timeout(10_000);
      const before = refusals().length;
      await reload(c.config);
      assert.equal(refusals().length, before + 1, "the reload was taken");
      const problems = refusals().at(-1)!.problems as string[];
      assert.deepEqual(
        problems.map((p) => /tenant (\S+) has no token/.exec(p)?.[1]),
        c.tokenless,
        problems.join("\n"),
      );
      for (const p of problems) assert.match(p, /^HOST: 0\.0\.0\.0 is not a loopback address/);
      await c.stillRefused();
      const acme = await call("acme", "acme-token");
      assert.equal(acme.status, 200);
      assert.equal(acme.body.data.phone, "acme:89213451807");
    });
  }

  it("a reload where every tenant has a token is taken", async function () {
    this.timeout(10_000);
    const token = "globex-token";
    await reload({ tenants: { acme: { token: "acme-token" }, globex: { tokenSha256: createHash("sha256").update(token).digest("hex") } } });
    assert.equal((await call("globex", token)).status, 200);
  });
});
