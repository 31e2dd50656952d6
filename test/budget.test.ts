// One time budget per hook chain (docs/hooks.md, "Time"): plugins that each stay inside their own
// limit cannot add up past what the connector waits, and the shim's wait caps the host's budget.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { chainBudgetMs, callerWaitMs, RETURN_MARGIN_MS } from "../core/budget.js";
import { hostConfigSchema } from "../core/config.js";
import { HOOK_NAMES } from "../core/hooks.js";
import { fixture, pluginsDir, startTestHost, statuses, type TestHost } from "./support.js";

const SHIM = fileURLToPath(new URL("../bin/connector-shim", import.meta.url));

/** A plugin that holds the CPU for `ms` (real work, not an await), then answers `result`. */
const busy = (ms: number, result: string) => `export default () => { const end = Date.now() + ${ms}; while (Date.now() < end) {} return ${result}; };`;

/** Three plugins of 1500 ms each, every one far inside its own 3000 ms limit. */
function threeSlow(hook: string, results: [string, string, string]): Record<string, string | object> {
  const files: Record<string, string | object> = {};
  ["a-slow", "b-slow", "c-slow"].forEach((name, i) => {
    files[`${name}/plugin.json`] = { priority: 10 * (i + 1), timeouts: { [hook]: 3000 } };
    files[`${name}/${hook}.js`] = busy(1500, results[i]!);
  });
  return files;
}

function runShim(hook: string, input: unknown, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SHIM, hook], { env: { PATH: process.env.PATH ?? "", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  child.stdin.end(JSON.stringify(input));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("chain budget", function () {
  this.timeout(30_000);

  describe("three slow plugins on one hook", () => {
    let host: TestHost;
    before(async () => {
      host = await startTestHost(
        pluginsDir({
          ...threeSlow("customize_activity", [`{ SUBJECT: "a" }`, `{ PRIORITY: "3" }`, `{ DESCRIPTION: "c" }`]),
          ...threeSlow("process_final_params", [`{ USER_ID: 14 }`, `{ STATUS_CODE: "486" }`, `{ ADD_TO_CHAT: 0 }`]),
        }),
        { tenants: { acme: {}, roomy: {} }, timeouts: { default: 3000 } },
      );
    });
    after(() => host.close());

    for (const [hook, first] of [
      ["customize_activity", { SUBJECT: "a" }],
      ["process_final_params", { ...fixture("process_final_params"), call_full: undefined, USER_ID: 14 }],
    ] as const) {
      it(`${hook}: the answer comes within the 2000 ms budget with what finished; the rest is cut and traced`, async () => {
        const started = Date.now();
        const answer = await host.post("acme", hook, fixture(hook));
        const ms = Date.now() - started;
        // the first plugin fits; the second is cut to the ~500 ms left; the third never starts
        assert.deepEqual(statuses(answer.trace), ["a-slow;status=ok", "b-slow;status=timeout", "c-slow;status=timeout"]);
        assert.deepEqual(answer.body.data, JSON.parse(JSON.stringify(first)));
        const runs = answer.trace.map((t) => Number(/;ms=(\d+)(?:;v=[0-9a-f]{12})?$/.exec(t)![1]));
        assert.ok(runs[0]! + runs[1]! <= 2000 + 300, `the plugins ran ${runs.join(" + ")} ms`);
        // the third gets at most the few ms the second's timeout left over (0 when the budget is gone)
        assert.ok(runs[2]! <= 20, `the third plugin ran ${runs[2]} ms`);
        // before the change: 4500 ms and more, all three "ok"
        assert.ok(ms < 3500, `answered after ${ms} ms`);
      });
    }

    it("the shim gets the host's answer, not its fallback: the shim's wait caps the budget", async () => {
      const input = fixture("customize_activity");
      // the shim's default wait (2500 ms), then a shim set to wait less than the host's budget:
      // either way the host answers before the shim gives up (the first plugin fits only in the first)
      for (const [wait, data] of [
        [undefined, { SUBJECT: "a" }],
        ["1200", {}],
      ] as const) {
        const run = await runShim("customize_activity", input, { HOOKHOST_URL: host.url, HOOKHOST_TENANT: "acme", ...(wait ? { HOOKHOST_TIMEOUT_MS: wait } : {}) });
        assert.equal(run.code, 0);
        assert.equal(run.stderr, "", `the shim fell back: ${run.stderr}`);
        assert.deepEqual(JSON.parse(run.stdout), { state: "success", data });
      }
    });
  });

  it("host config: budgets per hook and a default; the record hook's can be lowered, never raised", () => {
    const budgets = hostConfigSchema.parse({ budgets: { default: 1500, need_registration: 700, process_record_file_path: 5000 } }).budgets;
    assert.equal(chainBudgetMs("need_registration", budgets), 700);
    assert.equal(chainBudgetMs("customize_entity", budgets), 1500);
    assert.equal(chainBudgetMs("process_record_file_path", budgets), 5000);
    // `default` is for the hooks under the customization timeout, not the record hook's 10 s
    assert.equal(chainBudgetMs("process_record_file_path", hostConfigSchema.parse({ budgets: { default: 1500 } }).budgets), 9000);
    const none = hostConfigSchema.parse({}).budgets;
    for (const hook of HOOK_NAMES) assert.equal(chainBudgetMs(hook, none), hook === "process_record_file_path" ? 9000 : 2000, hook);

    for (const bad of [{ process_record_file_path: 9001 }, { default: 0 }, { need_registration: 1.5 }, { need_registraton: 100 }]) {
      const r = hostConfigSchema.safeParse({ budgets: bad });
      assert.equal(r.success, false, JSON.stringify(bad));
      assert.equal(r.error!.issues[0]!.path[0], "budgets");
    }
  });

  it("the caller's wait, less the way back, caps any budget; a bad header is refused by name", async () => {
    const none = hostConfigSchema.parse({}).budgets;
    assert.equal(chainBudgetMs("process_record_file_path", none, 9500), 9000);
    assert.equal(chainBudgetMs("process_record_file_path", none, 5000), 5000 - RETURN_MARGIN_MS);
    assert.equal(chainBudgetMs("customize_entity", none, 2500), 2000);
    assert.equal(chainBudgetMs("customize_entity", none, 1000), 1000 - RETURN_MARGIN_MS);
    assert.equal(chainBudgetMs("customize_entity", none, RETURN_MARGIN_MS - 1), 0);
    assert.equal(callerWaitMs(undefined), undefined);
    assert.equal(callerWaitMs("2500"), 2500);
    for (const bad of ["0", "-1", "2.5", "abc", "99999999", " 100"]) assert.throws(() => callerWaitMs(bad), /x-hookhost-wait-ms must be a whole number of milliseconds/, bad);

    const host = await startTestHost(pluginsDir());
    try {
      const answer = await host.post("default", "customize_entity", fixture("customize_entity"), { "x-hookhost-wait-ms": "soon" });
      assert.equal(answer.status, 400);
      assert.match(answer.body.error.message, /x-hookhost-wait-ms must be a whole number of milliseconds/);
    } finally {
      await host.close();
    }
  });
});
