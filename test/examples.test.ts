// The example plugins in examples/plugins/, run by the real host over HTTP on the connector's
// recorded inputs (examples/inputs). Tenants differ only in their config overrides, the way an
// integrator would set one copy of a plugin up for several customers.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, ROOT, startTestHost, statuses, type TestHost } from "./support.js";

const SHIPPED = join(ROOT, "examples", "plugins");
const EXAMPLES = ["autodistribution", "call-filter", "crm-fields", "missed-call-task", "ru-phones"];

/** A temp copy of some entries of `dir`: the test host removes its folder when it closes. */
function copyOf(dir: string, entries: string[]): string {
  const copy = mkdtempSync(join(tmpdir(), "hookhost-examples-"));
  for (const entry of entries) cpSync(join(dir, entry), join(copy, entry), { recursive: true });
  return copy;
}

const WEEK = [1, 2, 3, 4, 5, 6, 7];
const tenant = (config: Record<string, Record<string, unknown>> = {}) => ({ config });
const CONFIG = {
  tenants: {
    plain: tenant(),
    "no-201": tenant({ "call-filter": { blacklist: ["201"] } }),
    "no-20x": tenant({ "call-filter": { blacklist: ["200-209"] } }),
    "only-555": tenant({ "call-filter": { whitelist: ["555-559"] } }),
    "only-20x": tenant({ "call-filter": { whitelist: [201, "202-209"] } }),
    "no-spb": tenant({ "call-filter": { ignoredTrunks: ["78123097700"] } }),
    "bad-filter": tenant({ "call-filter": { blacklist: ["20x"] } }),
    "eight": tenant({ "ru-phones": { format: "8" } }),
    "bad-phones": tenant({ "ru-phones": { format: "7" } }),
    "spb-high": tenant({ "crm-fields": { highPriorityLines: ["78123097700"], lastCallField: "" } }),
    "bad-fields": tenant({ "crm-fields": { lastCallField: "LAST_CALL" } }),
    "ekb": tenant({ "missed-call-task": { hour: 10, utcOffset: "+05:00", holidays: ["2025-06-18"] } }),
    "bad-task": tenant({ "missed-call-task": { title: "Перезвонить {client}" } }),
    "closed": tenant({ autodistribution: { dutyExtension: "299", workingDays: [], tag: "8-800" } }),
    "open": tenant({ autodistribution: { dutyExtension: "299", workingDays: WEEK, workingHours: "00:00-24:00", tag: "СПб" } }),
    "bad-hours": tenant({ autodistribution: { workingHours: "19:00-09:00" } }),
  },
};

describe("example plugins (examples/plugins/)", () => {
  it("the whole shipped folder loads in the host, nothing broken", async () => {
    const whole = await startTestHost(copyOf(SHIPPED, readdirSync(SHIPPED)));
    try {
      assert.deepEqual(whole.registry.broken, []);
      const names = whole.registry.loaded.map((p) => p.manifest.name);
      for (const example of EXAMPLES) assert.ok(names.includes(example), `${example} is not among ${names.join(", ")}`);
    } finally {
      await whole.close();
    }
  });

  let host: TestHost;
  before(async () => {
    // Only the examples, so another shipped plugin on the same hooks cannot change these traces.
    host = await startTestHost(copyOf(SHIPPED, EXAMPLES), CONFIG);
  });
  after(() => host.close());

  async function run(tenantId: string, hook: string, input: unknown) {
    const answer = await host.post(tenantId, hook, input);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.state, "success");
    return { data: answer.body.data, trace: statuses(answer.trace) };
  }

  it("all five load in the test host, in priority order", () => {
    assert.deepEqual(host.registry.broken, []);
    assert.deepEqual(
      host.registry.loaded.map((p) => [p.manifest.name, p.manifest.priority, p.manifest.tenants, [...p.hooks].sort()]),
      [
        ["ru-phones", 10, "*", ["process_client_phone"]],
        ["call-filter", 20, "*", ["need_registration"]],
        ["autodistribution", 100, "*", ["customize_autodistribution"]],
        ["crm-fields", 100, "*", ["customize_activity", "customize_entity"]],
        ["missed-call-task", 100, "*", ["process_task_creation_params"]],
      ],
    );
  });

  describe("ru-phones", () => {
    const phone = (p: string) => ({ ...fixture("process_client_phone"), phone: p });

    it("turns the fixture's 89213451807 into +79213451807", async () => {
      assert.equal(fixture("process_client_phone").phone, "89213451807");
      assert.deepEqual(await run("plain", "process_client_phone", fixture("process_client_phone")), {
        data: { phone: "+79213451807" },
        trace: ["ru-phones;status=ok"],
      });
    });

    for (const written of ["8 921 345-18-07", "79213451807", "+7 (921) 345-18-07", "9213451807", " 8(921)345.18.07 "]) {
      it(`normalises ${JSON.stringify(written)}`, async () => {
        assert.deepEqual((await run("plain", "process_client_phone", phone(written))).data, { phone: "+79213451807" });
      });
    }

    for (const other of ["+79213451807", "201", "+375291234567", "+49 30 1234567", "89213451", "+8 921 345-18-07", "anonymous", "*201#"]) {
      it(`leaves ${JSON.stringify(other)} alone`, async () => {
        assert.deepEqual(await run("plain", "process_client_phone", phone(other)), { data: { phone: other }, trace: ["ru-phones;status=skip"] });
      });
    }

    it('writes numbers with 8 when config.format is "8"', async () => {
      assert.deepEqual((await run("eight", "process_client_phone", phone("+7 (921) 345-18-07"))).data, { phone: "89213451807" });
      assert.deepEqual((await run("eight", "process_client_phone", phone("+78005553311"))).data, { phone: "88005553311" });
    });

    it("a bad config.format is an error, and the number goes on unchanged", async () => {
      assert.deepEqual(await run("bad-phones", "process_client_phone", fixture("process_client_phone")), {
        data: { phone: "89213451807" },
        trace: ["ru-phones;status=error"],
      });
    });

    it("does not touch employees' numbers (no process_user_phone)", async () => {
      assert.deepEqual(await run("plain", "process_user_phone", fixture("process_user_phone")), { data: { phone: "202" }, trace: [] });
    });
  });

  describe("call-filter", () => {
    const gate = (call_full: unknown, call_stage = "conversation_requested") => ({ call_full, call_stage });
    const missedCallEnded = () => gate(fixture("process_final_params").call_full, "call_ended"); // 201 and 205 rang
    const outgoing = () => gate(fixture("post_registration").call_full); // 205 dials out, trunk not yet known

    it("registers everything with the shipped (empty) lists", async () => {
      assert.deepEqual(await run("plain", "need_registration", fixture("need_registration")), {
        data: { result: true },
        trace: ["call-filter;status=ok"],
      });
    });

    const cases: [string, string, () => unknown, boolean][] = [
      ["black-listed 201 answering", "no-201", () => fixture("need_registration"), false],
      ["201 inside the black-listed range 200-209", "no-20x", () => fixture("need_registration"), false],
      ["201 off the white list 555-559", "only-555", () => fixture("need_registration"), false],
      ["201 on the white list [201, 202-209]", "only-20x", () => fixture("need_registration"), true],
      ["a call through the ignored trunk", "no-spb", () => fixture("need_registration"), false],
      ["at call_ended, 205 of the ring group is not black-listed", "no-201", missedCallEnded, true],
      ["at call_ended, both 201 and 205 are black-listed", "no-20x", missedCallEnded, false],
      ["an outgoing call, judged by the dialling extension 205", "no-20x", outgoing, false],
      ["an outgoing call from 205, which is not black-listed 201", "no-201", outgoing, true],
    ];
    for (const [name, tenantId, input, result] of cases) {
      it(`${result ? "registers" : "does not register"} ${name}`, async () => {
        assert.deepEqual(await run(tenantId, "need_registration", input()), { data: { result }, trace: ["call-filter;status=ok"] });
      });
    }

    it("a call that rang nobody (IVR) is judged by its trunk only", async () => {
      const ivr = gate({ ...fixture("need_registration").call_full, active_conversation_id: "", conversations: {} }, "call_ended");
      assert.deepEqual((await run("only-555", "need_registration", ivr)).data, { result: true });
      assert.deepEqual((await run("no-spb", "need_registration", ivr)).data, { result: false });
    });

    it("a bad list entry is an error, and the call is registered as without the plugin", async () => {
      assert.deepEqual(await run("bad-filter", "need_registration", fixture("need_registration")), {
        data: { result: true },
        trace: ["call-filter;status=error"],
      });
    });
  });

  describe("crm-fields", () => {
    // Scenario B's activity at call_ended: the 8-800 line, 205 answered, then transferred to 202.
    const transferred = () => {
      const { activity, call_full } = fixture("customize_attach_record_url");
      return { activity, call_full };
    };

    it("prefixes the fixture's SUBJECT with the line and the answering extension", async () => {
      assert.deepEqual(await run("plain", "customize_activity", fixture("customize_activity")), {
        data: { SUBJECT: "[СПб, основной, 201] Входящий звонок +79213451807" },
        trace: ["crm-fields;status=ok"],
      });
    });

    it("on the 8-800 line: both extensions of a transfer, in answer order, and PRIORITY 3", async () => {
      assert.deepEqual((await run("plain", "customize_activity", transferred())).data, {
        SUBJECT: "[8-800 горячая линия, 205→202] Входящий звонок +79852174490",
        PRIORITY: 3,
      });
    });

    it("a missed call has only the line in its SUBJECT", async () => {
      const input = { ...fixture("customize_activity"), call_full: fixture("process_task_creation_params").call_full };
      assert.deepEqual((await run("plain", "customize_activity", input)).data, { SUBJECT: "[СПб, основной] Входящий звонок +79213451807" });
    });

    it("the high-priority lines come from config", async () => {
      assert.deepEqual((await run("spb-high", "customize_activity", fixture("customize_activity"))).data, {
        SUBJECT: "[СПб, основной, 201] Входящий звонок +79213451807",
        PRIORITY: 3,
      });
    });

    it("writes the call's start time, PBX zone, into UF_CRM_LAST_CALL of the fixture's lead", async () => {
      assert.deepEqual(await run("plain", "customize_entity", fixture("customize_entity")), {
        data: { UF_CRM_LAST_CALL: "2025-06-17T12:15:02+03:00" },
        trace: ["crm-fields;status=ok"],
      });
    });

    it("writes no field when config.lastCallField is empty, there is no lead or contact, or no start time", async () => {
      assert.deepEqual(await run("spb-high", "customize_entity", fixture("customize_entity")), { data: {}, trace: ["crm-fields;status=skip"] });
      const noEntity = fixture("customize_entity");
      noEntity.call_full.entity = null;
      assert.deepEqual(await run("plain", "customize_entity", noEntity), { data: {}, trace: ["crm-fields;status=skip"] });
      const neverStarted = fixture("customize_entity");
      neverStarted.call_full.channel.start_time = "0001-01-01 00:00:00";
      assert.deepEqual(await run("plain", "customize_entity", neverStarted), { data: {}, trace: ["crm-fields;status=skip"] });
    });

    it("a field name that is not a custom field is an error", async () => {
      assert.deepEqual(await run("bad-fields", "customize_entity", fixture("customize_entity")), { data: {}, trace: ["crm-fields;status=error"] });
    });
  });

  describe("missed-call-task", () => {
    const task = fixture("process_task_creation_params").fields;
    const endingOn = (endTime: string) => {
      const input = fixture("process_task_creation_params");
      input.call_full.channel.end_time = endTime;
      return input;
    };

    it("the fixture's call missed on Tuesday 18:41: due Wednesday 12:00, titled with the number", async () => {
      assert.deepEqual(await run("plain", "process_task_creation_params", fixture("process_task_creation_params")), {
        data: { fields: { ...task, DEADLINE: "2025-06-18T12:00:00+03:00", TITLE: "Перезвонить: 89164082355 (СПб, основной)" } },
        trace: ["missed-call-task;status=ok"],
      });
    });

    it("a call missed on Friday evening is due on Monday", async () => {
      const { data } = await run("plain", "process_task_creation_params", endingOn("2025-06-20 18:41:52"));
      assert.equal(data.fields.DEADLINE, "2025-06-23T12:00:00+03:00");
    });

    it("hour, time zone and holidays come from config", async () => {
      const { data } = await run("ekb", "process_task_creation_params", fixture("process_task_creation_params"));
      assert.equal(data.fields.DEADLINE, "2025-06-19T10:00:00+05:00");
    });

    it("an unanswered outgoing call names the number dialled", async () => {
      const input = { fields: task, call_full: fixture("post_registration").call_full };
      assert.deepEqual((await run("plain", "process_task_creation_params", input)).data.fields, {
        ...task,
        DEADLINE: "2025-06-18T12:00:00+03:00",
        TITLE: "Перезвонить: 89031186240 (—)",
      });
    });

    it("an unknown placeholder in the title is an error, and the connector's task stays", async () => {
      assert.deepEqual(await run("bad-task", "process_task_creation_params", fixture("process_task_creation_params")), {
        data: { fields: task },
        trace: ["missed-call-task;status=error"],
      });
    });

    it("a call time that is not a date is an error", async () => {
      assert.deepEqual((await run("plain", "process_task_creation_params", endingOn("yesterday"))).trace, ["missed-call-task;status=error"]);
    });
  });

  describe("autodistribution", () => {
    it("keeps the connector's extension and shows the client's CRM name with the shipped config", async () => {
      assert.deepEqual(await run("plain", "customize_autodistribution", fixture("customize_autodistribution")), {
        data: { number: "201", name: "Павел Григорьев" },
        trace: ["autodistribution;status=ok"],
      });
    });

    it("outside working hours routes to the duty extension; the tagged name is cut to 20 characters", async () => {
      assert.deepEqual((await run("closed", "customize_autodistribution", fixture("customize_autodistribution"))).data, {
        number: "299",
        name: "8-800 Павел Григорье",
      });
    });

    it("within working hours keeps the connector's extension", async () => {
      assert.deepEqual((await run("open", "customize_autodistribution", fixture("customize_autodistribution"))).data, {
        number: "201",
        name: "СПб Павел Григорьев",
      });
    });

    it("shows the caller's number when the CRM does not know the client", async () => {
      const { entity: _, ...unknownCaller } = fixture("customize_autodistribution");
      assert.deepEqual((await run("open", "customize_autodistribution", unknownCaller)).data, { number: "201", name: "СПб 89213451807" });
    });

    it("working hours that end before they start are an error, and routing stays as it was", async () => {
      assert.deepEqual(await run("bad-hours", "customize_autodistribution", fixture("customize_autodistribution")), {
        data: { number: "201", name: "Павел Григорьев" },
        trace: ["autodistribution;status=error"],
      });
    });
  });
});
