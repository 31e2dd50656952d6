// Answers in the forms the connector documents (docs/hooks.md, "Answer forms"): what plugins
// return is converted to them, or refused as `invalid` with the field named. Real host over HTTP,
// and `hookhost simulate`'s connector model on the same plugins.
import assert from "node:assert/strict";
import { readCallRecord } from "../cli/call-record.js";
import { simulateCall } from "../cli/connector.js";
import { openLocalHost } from "../cli/local-host.js";
import { silentLogger } from "../core/log.js";
import { fixture, keepingLogger, pluginsDir, ROOT, startTestHost, statuses, type TestHost } from "./support.js";
import { join } from "node:path";

/** One plugin per hook answering `body` (a JS expression), serving only `tenant`. */
function answering(name: string, tenant: string, hook: string, body: string): Record<string, string | object> {
  return { [`${name}/plugin.json`]: { tenants: [tenant] }, [`${name}/${hook}.js`]: `export default (input) => (${body});` };
}

describe("answer forms", function () {
  this.timeout(30_000);
  let host: TestHost;
  const { logger, lines } = keepingLogger("warn");
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        ...answering("final-false", "final", "process_final_params", `{ ADD_TO_CHAT: false, STATUS_CODE: 304, CALL_ID: 17 }`),
        ...answering("reg-bools", "reg", "process_registration_params", `{ CRM_CREATE: false, SHOW: false, TYPE: 1 }`),
        ...answering("card-number", "card", "customize_show_call_card", `{ CALL_ID: 123456 }`),
        ...answering("show-1", "show", "process_registration_params", `{ SHOW: 1, CRM_SOURCE: "lost" }`),
        ...answering("type-3", "type", "process_registration_params", `{ TYPE: 3, CRM_SOURCE: "lost" }`),
        ...answering("flag-2", "flag", "process_final_params", `{ ADD_TO_CHAT: 2 }`),
        ...answering("code-obj", "code", "process_final_params", `{ STATUS_CODE: { code: 304 } }`),
        ...answering("nested", "nested", "process_originate_params", `{ params: { ...input.params, extension: "8" + input.params.extension.slice(-10) } }`),
        ...answering("nested-part", "part", "process_originate_params", `{ params: { context: "from-trunk-2" }, caller_id: "205" }`),
        ...answering("bare-false", "gate", "need_registration", `false`),
        ...answering("bare-true", "gate-true", "need_registration", `true`),
        ...answering("echo", "echo", "process_record_file_path", `{ file_path: input.file_path.replace(/\\.wav$/, ".mp3") }`),
      }),
      {
        tenants: Object.fromEntries(["final", "reg", "card", "show", "type", "flag", "code", "nested", "part", "gate", "gate-true", "echo", "plain"].map((t) => [t, {}])),
      },
      undefined,
      logger,
    );
  });
  after(() => host.close());

  it("[0/1] flags as numbers, STATUS_CODE and CALL_ID as strings, whatever a plugin returned", async () => {
    const final = await host.post("final", "process_final_params", fixture("process_final_params"));
    assert.deepEqual(statuses(final.trace), ["final-false;status=ok"]);
    assert.deepEqual(final.body.data, { ADD_TO_CHAT: 0, CALL_ID: "17", DURATION: 0, STATUS_CODE: "304", USER_ID: 22 });
    const reg = await host.post("reg", "process_registration_params", fixture("process_registration_params"));
    assert.deepEqual([reg.body.data.CRM_CREATE, reg.body.data.SHOW, reg.body.data.TYPE], [0, 0, 1]);
    const card = await host.post("card", "customize_show_call_card", fixture("customize_show_call_card"));
    assert.deepEqual(card.body.data, { CALL_ID: "123456", USER_ID: 22 });
  });

  it("the connector's own values come back in the documented form too", async () => {
    const input = { ...fixture("process_final_params"), ADD_TO_CHAT: true, CALL_ID: 99, STATUS_CODE: 200 };
    const answer = await host.post("plain", "process_final_params", input);
    assert.deepEqual(answer.body.data, { ADD_TO_CHAT: 1, CALL_ID: "99", DURATION: 0, STATUS_CODE: "200", USER_ID: 22 });
    const card = await host.post("plain", "customize_show_call_card", { ...fixture("customize_show_call_card"), CALL_ID: 5 });
    assert.equal(card.body.data.CALL_ID, "5");
  });

  it("SHOW other than 0, TYPE other than 1 or 2, a flag of 2, an object for a code: invalid, the field named, nothing of it applied", async () => {
    const cases: [string, string, string, RegExp][] = [
      ["show", "process_registration_params", "show-1", /SHOW: SHOW is always 0: the call card is shown through customize_show_call_card/],
      ["type", "process_registration_params", "type-3", /TYPE: TYPE must be 1 \(outgoing\) or 2 \(incoming\)/],
      ["flag", "process_final_params", "flag-2", /ADD_TO_CHAT: Invalid input: expected 0 or 1 \(true and false are converted\), received 2/],
      ["code", "process_final_params", "code-obj", /STATUS_CODE: Invalid input: expected a string \(a number is converted\), received object/],
    ];
    for (const [tenant, hook, plugin, reason] of cases) {
      lines.length = 0;
      const answer = await host.post(tenant, hook, fixture(hook));
      assert.deepEqual(statuses(answer.trace), [`${plugin};status=invalid`], tenant);
      assert.equal(answer.body.data.CRM_SOURCE === "lost", false, "nothing of an invalid answer is applied");
      const failed = lines.find((l) => l.message === "plugin run failed" && l.plugin === plugin);
      assert.match(String(failed?.error), reason, tenant);
    }
  });

  it("an originate answer in the nested { params } form is flattened and applied", async () => {
    const input = fixture("process_originate_params");
    const whole = await host.post("nested", "process_originate_params", input);
    assert.deepEqual(statuses(whole.trace), ["nested;status=ok"]);
    assert.deepEqual(whole.body.data, { ...input.params, extension: "89031186240" });
    assert.equal("params" in whole.body.data, false);
    const part = await host.post("part", "process_originate_params", input);
    assert.deepEqual(part.body.data, { ...input.params, context: "from-trunk-2", caller_id: "205" });
  });

  it("need_registration takes a bare false or true, as a PHP customization returns it", async () => {
    const no = await host.post("gate", "need_registration", fixture("need_registration"));
    assert.deepEqual([statuses(no.trace), no.body.data], [["bare-false;status=ok"], { result: false }]);
    const yes = await host.post("gate-true", "need_registration", fixture("need_registration"));
    assert.deepEqual([statuses(yes.trace), yes.body.data], [["bare-true;status=ok"], { result: true }]);
  });

  it("the record hook answers the path, never the legacy fields of its input", async () => {
    const input = { ...fixture("process_record_file_path"), conversation: { type: 2, from: "79852174490", to: "205" }, call: { id: "1" } };
    for (const tenant of ["plain", "echo"]) {
      const answer = await host.post(tenant, "process_record_file_path", input);
      assert.deepEqual(Object.keys(answer.body.data), ["file_path"], tenant);
    }
  });

  it("hookhost simulate shows the converted forms: 0/1 and strings", async () => {
    const dir = pluginsDir({
      "finish/plugin.json": {},
      "finish/process_final_params.js": `export default () => ({ ADD_TO_CHAT: false, STATUS_CODE: 486 });`,
      "register/plugin.json": {},
      "register/process_registration_params.js": `export default () => ({ CRM_CREATE: false });`,
    });
    const local = await openLocalHost({ tenant: "default", plugins: dir }, silentLogger());
    try {
      const record = readCallRecord(join(ROOT, "examples", "calls", "missed.json"));
      const { steps } = await simulateCall(record, (hook, input) => local.run(hook, input, "t"));
      const finish = steps.find((s) => s.hook === "process_final_params")!;
      assert.deepEqual([finish.data.ADD_TO_CHAT, finish.data.STATUS_CODE], [0, "486"]);
      assert.match(finish.action, /STATUS_CODE 486, .*ADD_TO_CHAT 0$/);
      const register = steps.find((s) => s.hook === "process_registration_params")!;
      assert.equal(register.data.CRM_CREATE, 0);
      assert.match(register.action, /with no CRM entity \(CRM_CREATE is 0/);
    } finally {
      await local.close();
    }
  });
});
