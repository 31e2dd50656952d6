import assert from "node:assert/strict";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  HOOK_NAMES,
  RECORD_CHAIN_BUDGET_MS,
  dataSchemas,
  inputSchemas,
  isHookName,
  rules,
  type HookData,
  type HookRule,
  type HookInput,
  type HookName,
} from "../core/hooks.js";

type Obj = Record<string, unknown>;

const FIXTURES = fileURLToPath(new URL("../examples/inputs/", import.meta.url));

function fixture(hook: HookName): Obj {
  return JSON.parse(fs.readFileSync(`${FIXTURES}${hook}.input.json`, "utf8"));
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

/** What a plugin sees: the sandbox's bootstrap builds exactly this from the input and the overlay. */
function viewOf(rule: HookRule, input: Obj, data: Obj): Obj {
  return { ...input, ...rule.overlay(data) };
}

function without(obj: Obj, key: string): Obj {
  const copy = { ...obj };
  delete copy[key];
  return copy;
}

function issuePaths(hook: HookName, input: unknown): string[] {
  const r = inputSchemas[hook].safeParse(input);
  assert.equal(r.success, false, `${hook} should reject ${JSON.stringify(input)?.slice(0, 80)}`);
  return r.error!.issues.map((i) => i.path.join("."));
}

/** The keys hookhost must never let through a merge. */
function assertNoPollution(out: Obj): void {
  assert.equal(({} as Obj).x, undefined, "Object.prototype was polluted");
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  for (const key of ["__proto__", "constructor", "prototype"]) {
    assert.equal(Object.prototype.hasOwnProperty.call(out, key), false, `${key} kept`);
  }
}

// Compile-time checks (tsc fails on them if the types stop being precise for plugin authors).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typeChecks: [
  Equal<HookInput<"process_client_phone">["phone"], string>,
  Equal<HookInput<"process_final_params">["CALL_ID"], string | number>,
  Equal<HookInput<"process_final_params">["ADD_TO_CHAT"], 0 | 1 | boolean | undefined>,
  Equal<HookInput<"customize_show_call_card">["call_full"]["entity"] extends infer E ? E extends { responsible_id: string } | null ? true : false : false, true>,
  Equal<HookInput<"process_originate_params">["params"]["channel"], string>,
  Equal<HookData<"need_registration">["result"], boolean>,
  Equal<HookData<"customize_show_call_card">["USER_ID"], number | number[] | undefined>,
  // answers are typed in the connector's documented forms: flags 0/1, ids and codes strings
  Equal<HookData<"process_final_params">["ADD_TO_CHAT"], 0 | 1 | undefined>,
  Equal<HookData<"process_final_params">["STATUS_CODE"], string | undefined>,
  Equal<HookData<"process_final_params">["CALL_ID"], string | undefined>,
  Equal<HookData<"customize_show_call_card">["CALL_ID"], string | undefined>,
  Equal<HookData<"process_registration_params">["CRM_CREATE"], 0 | 1 | undefined>,
  Equal<HookData<"process_registration_params">["SHOW"], 0 | undefined>,
  Equal<HookData<"process_registration_params">["TYPE"], 1 | 2 | undefined>,
  Equal<HookInput<"process_record_file_path">["file_path"], string>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];

describe("hooks: names", () => {
  it("lists the 14 hooks once each, and isHookName knows exactly them", () => {
    assert.equal(HOOK_NAMES.length, 14);
    assert.equal(new Set(HOOK_NAMES).size, 14);
    for (const h of HOOK_NAMES) assert.ok(isHookName(h));
    for (const s of ["", "constructor", "__proto__", "toString", "need_registration.php", "Need_Registration"]) {
      assert.equal(isHookName(s), false, s);
    }
    assert.ok(typeChecks.every(Boolean));
  });
});

describe("hooks: input schemas", () => {
  for (const hook of HOOK_NAMES) {
    it(`${hook}: its fixture passes and comes out unchanged`, () => {
      const input = fixture(hook);
      const r = inputSchemas[hook].safeParse(input);
      assert.ok(r.success, JSON.stringify(r.error?.issues));
      assert.deepEqual(r.data, input);
    });
  }

  const required: { [H in HookName]: string[] } = {
    customize_activity: ["activity", "call_full"],
    customize_entity: ["call_full"],
    need_registration: ["call_full", "call_stage"],
    process_client_phone: ["phone", "call_full", "call_stage"],
    process_final_params: ["CALL_ID", "DURATION", "STATUS_CODE", "USER_ID", "call_full"],
    process_originate_params: ["params"],
    process_record_file_path: ["file_path"],
    process_registration_params: ["PHONE_NUMBER", "TYPE", "USER_ID", "call_full", "call_stage"],
    process_task_creation_params: ["fields", "call_full"],
    process_user_phone: ["phone", "call_full", "call_stage"],
    customize_autodistribution: ["number", "name"],
    post_registration: ["call_full", "call_stage"],
    customize_show_call_card: ["CALL_ID", "USER_ID", "call_full", "call_stage"],
    customize_attach_record_url: ["DESCRIPTION", "activity", "call_full"],
  };
  for (const hook of HOOK_NAMES) {
    for (const field of required[hook]) {
      it(`${hook}: missing ${field} fails at path "${field}"`, () => {
        assert.deepEqual(issuePaths(hook, without(fixture(hook), field)), [field]);
      });
    }
  }

  it("optional fields may be absent (ADD_TO_CHAT, the five optional registration keys, autodistribution's read-only keys)", () => {
    let input = without(fixture("process_final_params"), "ADD_TO_CHAT");
    assert.ok(inputSchemas.process_final_params.safeParse(input).success);
    input = fixture("process_registration_params");
    for (const k of ["CALL_START_DATE", "CRM_CREATE", "CRM_SOURCE", "LINE_NUMBER", "SHOW"]) input = without(input, k);
    assert.ok(inputSchemas.process_registration_params.safeParse(input).success);
    assert.ok(inputSchemas.customize_autodistribution.safeParse({ number: "201", name: "" }).success);
  });

  it("process_originate_params: channel, context, extension are required strings inside params", () => {
    const input = fixture("process_originate_params");
    const params = input.params as Obj;
    for (const key of ["channel", "context", "extension"]) {
      assert.deepEqual(issuePaths("process_originate_params", { params: without(params, key) }), [`params.${key}`]);
      assert.deepEqual(issuePaths("process_originate_params", { params: { ...params, [key]: 205 } }), [`params.${key}`]);
    }
    assert.deepEqual(issuePaths("process_originate_params", { params: { ...params, priority: 1 } }), ["params.priority"]);
    assert.deepEqual(issuePaths("process_originate_params", { params: "PJSIP/205" }), ["params"]);
  });

  it("process_record_file_path: only file_path is required; call_full, call_stage and anything else pass through", () => {
    const input = fixture("process_record_file_path");
    for (const body of [
      { file_path: input.file_path },
      { file_path: input.file_path, call_full: input.call_full },
      { file_path: input.file_path, call_stage: "call_ended", conversation: { type: 2 }, record_path: "/b.wav" },
    ]) {
      const r = inputSchemas.process_record_file_path.safeParse(body);
      assert.ok(r.success, JSON.stringify(r.error?.issues));
      assert.deepEqual(r.data, body);
    }
    assert.deepEqual(issuePaths("process_record_file_path", { call_full: input.call_full, record_path: "/a.wav" }), ["file_path"]);
    assert.deepEqual(issuePaths("process_record_file_path", { file_path: 5 }), ["file_path"]);
    assert.deepEqual(issuePaths("process_record_file_path", { file_path: "/a.wav", call_full: "x" }), ["call_full"]);
  });

  it("objects are checked as objects: null, arrays and strings fail with a clear message", () => {
    const input = fixture("customize_activity");
    for (const bad of [null, [], "x", 1]) {
      const r = inputSchemas.customize_activity.safeParse({ ...input, call_full: bad });
      assert.equal(r.success, false);
      assert.deepEqual(r.error!.issues.map((i) => i.path), [["call_full"]]);
      assert.match(r.error!.issues[0]!.message, /expected object, received (null|array|string|number)/);
    }
    assert.match(inputSchemas.customize_entity.safeParse({}).error!.issues[0]!.message, /received undefined/);
  });

  it("call_full is not validated deeper than an object", () => {
    const input = { ...fixture("customize_entity"), call_full: { channel: "not a channel", anything: [1, 2] } };
    assert.ok(inputSchemas.customize_entity.safeParse(input).success);
  });

  it("bodies that are not objects are rejected by every hook", () => {
    for (const hook of HOOK_NAMES) {
      for (const bad of [[], "x", 3, null]) assert.equal(inputSchemas[hook].safeParse(bad).success, false, `${hook} ${bad}`);
    }
  });

  it("0/1 flags accept booleans too, and nothing else", () => {
    for (const v of [0, 1, true, false]) {
      assert.ok(inputSchemas.process_final_params.safeParse({ ...fixture("process_final_params"), ADD_TO_CHAT: v }).success);
      const reg = { ...fixture("process_registration_params"), CRM_CREATE: v, SHOW: v };
      assert.ok(inputSchemas.process_registration_params.safeParse(reg).success);
    }
    for (const v of [2, "1", null]) {
      assert.deepEqual(issuePaths("process_final_params", { ...fixture("process_final_params"), ADD_TO_CHAT: v }), ["ADD_TO_CHAT"]);
      assert.deepEqual(issuePaths("process_registration_params", { ...fixture("process_registration_params"), SHOW: v }), ["SHOW"]);
    }
    const r = inputSchemas.process_final_params.safeParse({ ...fixture("process_final_params"), ADD_TO_CHAT: 7 });
    assert.match(r.error!.issues[0]!.message, /expected 0, 1, true or false/);
  });

  it("string ids accept a number and keep the form received", () => {
    const final = inputSchemas.process_final_params.parse({ ...fixture("process_final_params"), CALL_ID: 123, STATUS_CODE: 304 });
    assert.equal(final.CALL_ID, 123);
    assert.equal(final.STATUS_CODE, 304);
    const card = inputSchemas.customize_show_call_card.parse({ ...fixture("customize_show_call_card"), CALL_ID: 42 });
    assert.equal(card.CALL_ID, 42);
    assert.deepEqual(issuePaths("process_final_params", { ...fixture("process_final_params"), CALL_ID: true }), ["CALL_ID"]);
    const r = inputSchemas.customize_show_call_card.safeParse({ ...fixture("customize_show_call_card"), CALL_ID: {} });
    assert.match(r.error!.issues[0]!.message, /expected string or number, received object/);
  });

  it("numbers stay numbers: USER_ID, DURATION, TYPE as strings fail at their paths", () => {
    assert.deepEqual(issuePaths("process_final_params", { ...fixture("process_final_params"), USER_ID: "22", DURATION: "0" }), ["DURATION", "USER_ID"]);
    assert.deepEqual(issuePaths("process_registration_params", { ...fixture("process_registration_params"), TYPE: "2" }), ["TYPE"]);
    assert.deepEqual(issuePaths("customize_show_call_card", { ...fixture("customize_show_call_card"), USER_ID: ["22"] }), ["USER_ID"]);
  });

  it("unknown fields pass through untouched", () => {
    const input = { ...fixture("need_registration"), new_field: { nested: [1, { a: "b" }] }, call: { id: 5 } };
    const parsed = inputSchemas.need_registration.parse(input) as Obj;
    assert.deepEqual(parsed.new_field, { nested: [1, { a: "b" }] });
    assert.deepEqual(parsed.conversation, { type: 2, from: "89213451807", to: "201" });
    assert.deepEqual(parsed.call, { id: 5 });
    const params = { ...(fixture("process_originate_params").params as Obj), account: "c2c" };
    assert.equal((inputSchemas.process_originate_params.parse({ params }).params as Obj).account, "c2c");
  });

  it("a __proto__ key in the body neither pollutes nor reaches the parsed input", () => {
    const input = JSON.parse(`{"__proto__":{"x":1},"phone":"201","call_full":{},"call_stage":"call_ended"}`);
    const parsed = inputSchemas.process_user_phone.parse(input);
    assertNoPollution(parsed);
  });
});

describe("hooks: data schemas", () => {
  it("reject non-objects for every hook but post_registration (and need_registration's bare true/false)", () => {
    for (const hook of HOOK_NAMES) {
      if (hook === "post_registration") continue;
      for (const bad of ["x", [], [{ phone: "1" }], 5, ...(hook === "need_registration" ? [] : [true, false]), null]) {
        assert.equal(dataSchemas[hook].safeParse(bad).success, false, `${hook} accepted ${JSON.stringify(bad)}`);
      }
    }
  });

  it("post_registration accepts anything (its data is ignored)", () => {
    for (const v of ["x", [], 5, null, { a: 1 }]) assert.ok(dataSchemas.post_registration.safeParse(v).success);
  });

  it("each hook's documented answer passes, and extra keys a plugin adds are kept", () => {
    const good: { [H in HookName]: Obj } = {
      customize_activity: { SUBJECT: "x", PRIORITY: 3 },
      customize_entity: { SOURCE_ID: "CALL", UF_CRM_LAST_CALL: "2025-06-17" },
      need_registration: { result: false },
      process_client_phone: { phone: "+79213451807" },
      process_final_params: { USER_ID: 14, ADD_TO_CHAT: false, CALL_ID: 1, STATUS_CODE: "304" },
      process_originate_params: { extension: "89031186240" },
      process_record_file_path: { file_path: "/r/a.mp3" },
      process_registration_params: { CRM_CREATE: 0, CRM_SOURCE: "PARTNER" },
      process_task_creation_params: { fields: { TITLE: "t" } },
      process_user_phone: { phone: "205" },
      customize_autodistribution: { number: "299", name: "Дежурный" },
      post_registration: {},
      customize_show_call_card: { USER_ID: [22, 14] },
      customize_attach_record_url: { DESCRIPTION: "Запись", DESCRIPTION_TYPE: 1 },
    };
    for (const hook of HOOK_NAMES) {
      const r = dataSchemas[hook].safeParse({ ...good[hook], extra_key: "kept" });
      assert.ok(r.success, `${hook}: ${JSON.stringify(r.error?.issues)}`);
      assert.equal((r.data as Obj).extra_key, "kept", hook);
    }
  });

  it("wrong answers fail at the offending path", () => {
    const bad: [HookName, Obj, string][] = [
      ["need_registration", { result: "false" }, "result"],
      ["need_registration", {}, "result"],
      ["process_client_phone", { phone: 79213451807 }, "phone"],
      ["process_user_phone", {}, "phone"],
      ["process_final_params", { ADD_TO_CHAT: 2 }, "ADD_TO_CHAT"],
      ["process_originate_params", { channel: ["PJSIP/205"] }, "channel"],
      ["process_record_file_path", { file_path: 5 }, "file_path"],
      ["process_registration_params", { TYPE: "1" }, "TYPE"],
      ["process_registration_params", { TYPE: 3 }, "TYPE"],
      ["process_registration_params", { SHOW: 1 }, "SHOW"],
      ["process_registration_params", { SHOW: true }, "SHOW"],
      ["process_registration_params", { CRM_CREATE: "0" }, "CRM_CREATE"],
      ["process_final_params", { STATUS_CODE: null }, "STATUS_CODE"],
      ["process_final_params", { CALL_ID: { id: 1 } }, "CALL_ID"],
      ["customize_show_call_card", { CALL_ID: ["x"] }, "CALL_ID"],
      ["need_registration", { result: 0 }, "result"],
      ["process_task_creation_params", { fields: [] }, "fields"],
      ["process_task_creation_params", { TITLE: "t" }, "fields"],
      ["customize_autodistribution", { name: 5 }, "name"],
      ["customize_show_call_card", { USER_ID: "22" }, "USER_ID"],
      ["customize_attach_record_url", { DESCRIPTION_TYPE: "1" }, "DESCRIPTION_TYPE"],
    ];
    for (const [hook, data, path] of bad) {
      const r = dataSchemas[hook].safeParse(data);
      assert.equal(r.success, false, `${hook} accepted ${JSON.stringify(data)}`);
      assert.deepEqual(r.error!.issues.map((i) => i.path.join(".")), [path], hook);
    }
  });

  it("SHOW and TYPE are refused with the reason", () => {
    const show = dataSchemas.process_registration_params.safeParse({ SHOW: 1 });
    assert.match(show.error!.issues[0]!.message, /SHOW is always 0.*customize_show_call_card/);
    const type = dataSchemas.process_registration_params.safeParse({ TYPE: 0 });
    assert.match(type.error!.issues[0]!.message, /TYPE must be 1 \(outgoing\) or 2 \(incoming\)/);
  });

  it("converts to the connector's forms: true/false → 1/0, numbers → strings for STATUS_CODE and CALL_ID", () => {
    const cases: [HookName, unknown, Obj][] = [
      ["process_final_params", { ADD_TO_CHAT: false, STATUS_CODE: 304, CALL_ID: 17 }, { ADD_TO_CHAT: 0, STATUS_CODE: "304", CALL_ID: "17" }],
      ["process_final_params", { ADD_TO_CHAT: true, STATUS_CODE: "603-S" }, { ADD_TO_CHAT: 1, STATUS_CODE: "603-S" }],
      ["process_registration_params", { CRM_CREATE: false, SHOW: false, TYPE: 2 }, { CRM_CREATE: 0, SHOW: 0, TYPE: 2 }],
      ["process_registration_params", { CRM_CREATE: true }, { CRM_CREATE: 1 }],
      ["customize_show_call_card", { CALL_ID: 123 }, { CALL_ID: "123" }],
      ["need_registration", false, { result: false }],
      ["need_registration", true, { result: true }],
      ["need_registration", { result: false, note: "kept" }, { result: false, note: "kept" }],
    ];
    for (const [hook, given, expected] of cases) {
      const r = dataSchemas[hook].safeParse(given);
      assert.ok(r.success, `${hook} ${JSON.stringify(given)}: ${JSON.stringify(r.error?.issues)}`);
      assert.deepEqual(r.data, expected, `${hook} ${JSON.stringify(given)}`);
    }
  });

  it("process_originate_params: the nested { params } form is flattened, its keys winning", () => {
    const cases: [unknown, Obj][] = [
      [{ params: { extension: "89031186240" } }, { extension: "89031186240" }],
      [{ params: { extension: "8903", context: "c2" }, caller_id: "205" }, { extension: "8903", context: "c2", caller_id: "205" }],
      [{ params: { extension: "nested" }, extension: "flat" }, { extension: "nested" }],
      [{ extension: "flat" }, { extension: "flat" }],
    ];
    for (const [given, expected] of cases) assert.deepEqual(dataSchemas.process_originate_params.parse(given), expected);
    const bad = dataSchemas.process_originate_params.safeParse({ params: { channel: 205 } });
    assert.deepEqual(bad.error!.issues.map((i) => i.path.join(".")), ["channel"]);
  });
});

describe("hooks: chain rules", () => {
  const defaults: { [H in HookName]: Obj } = {
    customize_activity: {},
    customize_entity: {},
    need_registration: { result: true },
    process_client_phone: { phone: "89213451807" },
    process_final_params: {
      ADD_TO_CHAT: 1,
      CALL_ID: "externalCall.96d94130251d3b2cf77edad31a2db2a2.1750174871",
      DURATION: 0,
      STATUS_CODE: "304",
      USER_ID: 22,
    },
    process_originate_params: fixture("process_originate_params").params as Obj,
    process_record_file_path: {
      file_path: "/var/spool/asterisk/monitor/2025/06/17/in-88005553311-79852174490-20250617-121502-1750151702.3107.wav",
    },
    process_registration_params: {
      CALL_START_DATE: "2025-06-17T10:12:05+03:00",
      CRM_CREATE: 1,
      CRM_SOURCE: "CALL",
      LINE_NUMBER: "78123097700",
      PHONE_NUMBER: "+79213451807",
      SHOW: 0,
      TYPE: 2,
      USER_ID: 14,
    },
    process_task_creation_params: { fields: fixture("process_task_creation_params").fields as Obj },
    process_user_phone: { phone: "202" },
    customize_autodistribution: { number: "201", name: "Павел Григорьев" },
    post_registration: {},
    customize_show_call_card: { CALL_ID: "externalCall.4c234365f16a73483bda33f8d708be37.1750151703", USER_ID: 22 },
    customize_attach_record_url: {
      DESCRIPTION: (fixture("customize_attach_record_url").DESCRIPTION as string),
      DESCRIPTION_TYPE: 3,
    },
  };

  for (const hook of HOOK_NAMES) {
    it(`${hook}: initial() on the fixture is the §6 default, and finalize() of it answers the same`, () => {
      const input = deepFreeze(fixture(hook));
      const data = rules[hook].initial(input);
      assert.deepEqual(data, defaults[hook]);
      assert.deepEqual(rules[hook].finalize(deepFreeze(data)), defaults[hook]);
    });
  }

  it("process_final_params and process_registration_params defaults hold only the keys the input has", () => {
    const input = without(fixture("process_final_params"), "ADD_TO_CHAT");
    assert.deepEqual(Object.keys(rules.process_final_params.initial(input)), ["CALL_ID", "DURATION", "STATUS_CODE", "USER_ID"]);
    const reg = without(fixture("process_registration_params"), "SHOW");
    assert.equal("SHOW" in rules.process_registration_params.initial(reg), false);
  });

  it("process_record_file_path default: the path only, never legacy or unknown input fields", () => {
    const input = { ...fixture("process_record_file_path"), call_stage: "call_ended", conversation: { type: 2, from: "1", to: "2" }, call: {}, mp3_path: "/r/b.mp3" };
    assert.deepEqual(rules.process_record_file_path.initial(input), { file_path: (input as Obj).file_path });
    assert.deepEqual(rules.process_record_file_path.initial({ file_path: "/r/a.wav" }), { file_path: "/r/a.wav" });
  });

  it("final shaping answers the connector's own values in their documented forms too", () => {
    const final = rules.process_final_params;
    assert.deepEqual(final.finalize(final.initial({ ...fixture("process_final_params"), ADD_TO_CHAT: true, CALL_ID: 42, STATUS_CODE: 200 })), {
      ADD_TO_CHAT: 1,
      CALL_ID: "42",
      DURATION: 0,
      STATUS_CODE: "200",
      USER_ID: 22,
    });
    const reg = rules.process_registration_params;
    const data = reg.finalize(reg.initial({ ...fixture("process_registration_params"), CRM_CREATE: false, SHOW: false }));
    assert.deepEqual([data.CRM_CREATE, data.SHOW], [0, 0]);
    const card = rules.customize_show_call_card;
    assert.equal(card.finalize(card.initial({ ...fixture("customize_show_call_card"), CALL_ID: 7 })).CALL_ID, "7");
  });

  const expected: {
    [H in HookName]: { r1: Obj; r2: Obj; after1: Obj; after2: Obj; view1: (input: Obj) => Obj };
  } = {
    customize_activity: {
      r1: { SUBJECT: "a", PRIORITY: 2 },
      r2: { SUBJECT: "b", DESCRIPTION: "d" },
      after1: { SUBJECT: "a", PRIORITY: 2 },
      after2: { SUBJECT: "b", PRIORITY: 2, DESCRIPTION: "d" },
      view1: (input) => input,
    },
    customize_entity: {
      r1: { COMMENTS: "c" },
      r2: { SOURCE_ID: "CALL" },
      after1: { COMMENTS: "c" },
      after2: { COMMENTS: "c", SOURCE_ID: "CALL" },
      view1: (input) => input,
    },
    need_registration: {
      r1: { result: true },
      r2: { result: false },
      after1: { result: true },
      after2: { result: false },
      view1: (input) => input,
    },
    process_client_phone: {
      r1: { phone: "+79213451807", note: "normalised" },
      r2: { phone: "79213451807" },
      after1: { phone: "+79213451807", note: "normalised" },
      after2: { phone: "79213451807" }, // replace: the first plugin's extra key goes too
      view1: (input) => ({ ...input, phone: "+79213451807" }),
    },
    process_final_params: {
      r1: { USER_ID: 14 },
      r2: { STATUS_CODE: "200", ADD_TO_CHAT: false },
      after1: { ...defaults.process_final_params, USER_ID: 14 },
      after2: { ...defaults.process_final_params, USER_ID: 14, STATUS_CODE: "200", ADD_TO_CHAT: false },
      view1: (input) => ({ ...input, USER_ID: 14 }),
    },
    process_originate_params: {
      r1: { extension: "89031186240" },
      r2: { context: "from-trunk-2", caller_id: "205" },
      after1: { ...defaults.process_originate_params, extension: "89031186240" },
      after2: { ...defaults.process_originate_params, extension: "89031186240", context: "from-trunk-2", caller_id: "205" },
      view1: (input) => ({ ...input, params: { ...(input.params as Obj), extension: "89031186240" } }),
    },
    process_record_file_path: {
      r1: { file_path: "/r/a.mp3" },
      r2: { file_path: "/r/a-32k.mp3" },
      after1: { file_path: "/r/a.mp3" },
      after2: { file_path: "/r/a-32k.mp3" },
      view1: (input) => ({ ...input, file_path: "/r/a.mp3" }),
    },
    process_registration_params: {
      r1: { CRM_CREATE: 0 },
      r2: { CRM_SOURCE: "PARTNER", CRM_CREATE: true },
      after1: { ...defaults.process_registration_params, CRM_CREATE: 0 },
      after2: { ...defaults.process_registration_params, CRM_CREATE: true, CRM_SOURCE: "PARTNER" },
      view1: (input) => ({ ...input, CRM_CREATE: 0 }),
    },
    process_task_creation_params: {
      r1: { fields: { TITLE: "Перезвонить" } },
      r2: { fields: { DEADLINE: "2025-06-18T10:00:00+03:00" }, note: "kept" },
      after1: { fields: { ...(defaults.process_task_creation_params.fields as Obj), TITLE: "Перезвонить" } },
      after2: {
        fields: {
          ...(defaults.process_task_creation_params.fields as Obj),
          TITLE: "Перезвонить",
          DEADLINE: "2025-06-18T10:00:00+03:00",
        },
        note: "kept",
      },
      view1: (input) => ({ ...input, fields: { ...(input.fields as Obj), TITLE: "Перезвонить" } }),
    },
    process_user_phone: {
      r1: { phone: "205" },
      r2: { phone: "206" },
      after1: { phone: "205" },
      after2: { phone: "206" },
      view1: (input) => ({ ...input, phone: "205" }),
    },
    customize_autodistribution: {
      r1: { number: "299", user: { id: 1 }, error: "x" },
      r2: { name: "Дежурный" },
      after1: { number: "299", name: "Павел Григорьев" },
      after2: { number: "299", name: "Дежурный" },
      // read-only keys stay those of the connector's input, whatever a plugin returned
      view1: (input) => ({ ...input, number: "299" }),
    },
    post_registration: {
      r1: { anything: 1 },
      r2: { more: 2 },
      after1: {},
      after2: {},
      view1: (input) => input,
    },
    customize_show_call_card: {
      r1: { USER_ID: [22, 14] },
      r2: { USER_ID: [31] },
      after1: { ...defaults.customize_show_call_card, USER_ID: [22, 14] },
      after2: { ...defaults.customize_show_call_card, USER_ID: [31] }, // replaced whole, not concatenated
      view1: (input) => ({ ...input, USER_ID: [22, 14] }),
    },
    customize_attach_record_url: {
      r1: { DESCRIPTION: "Запись: link" },
      r2: { DESCRIPTION_TYPE: 1 },
      after1: { ...defaults.customize_attach_record_url, DESCRIPTION: "Запись: link" },
      after2: { DESCRIPTION: "Запись: link", DESCRIPTION_TYPE: 1 },
      view1: (input) => ({ ...input, DESCRIPTION: "Запись: link" }),
    },
  };

  for (const hook of HOOK_NAMES) {
    it(`${hook}: two plugins fold and view per §6, mutating nothing`, () => {
      const rule = rules[hook];
      const { r1, r2, after1, after2, view1 } = expected[hook];
      for (const r of [r1, r2]) assert.ok(dataSchemas[hook].safeParse(r).success, `${hook} test result is not valid data`);
      const input = deepFreeze(fixture(hook));
      const data0 = deepFreeze(rule.initial(input));
      const data1 = deepFreeze(rule.fold(data0, deepFreeze(r1)));
      assert.deepEqual(data1, after1);
      const view = viewOf(rule, input, data1);
      assert.notEqual(view, input);
      assert.deepEqual(view, view1(fixture(hook)));
      const data2 = rule.fold(data1, deepFreeze(r2));
      assert.deepEqual(data2, after2);
      assert.notEqual(data2, data1);
      assert.deepEqual(input, fixture(hook));
    });
  }

  it("the view of the default data is the input itself (but a new object)", () => {
    for (const hook of HOOK_NAMES) {
      const input = deepFreeze(fixture(hook));
      const view = viewOf(rules[hook], input, rules[hook].initial(input));
      assert.notEqual(view, input);
      assert.deepEqual(view, fixture(hook), hook);
    }
  });

  it("a returned call_full or call_stage never enters data nor replaces the input's", () => {
    for (const hook of ["customize_activity", "process_final_params", "process_record_file_path", "process_client_phone"] as const) {
      const input = fixture(hook);
      const base = hook === "process_client_phone" ? { phone: "1" } : {};
      const data = rules[hook].fold(rules[hook].initial(input), { ...base, call_full: { evil: 1 }, call_stage: "x" });
      assert.equal("call_full" in data || "call_stage" in data, false, hook);
      assert.deepEqual(viewOf(rules[hook], input, { ...data, call_full: { evil: 1 } }).call_full, input.call_full, hook);
    }
  });

  it("undefined values in a result change nothing", () => {
    const input = fixture("process_originate_params");
    const data = rules.process_originate_params.fold(rules.process_originate_params.initial(input), { channel: undefined });
    assert.equal(data.channel, "PJSIP/205");
  });

  it("need_registration: AND, and the chain stops at the first false", () => {
    const rule = rules.need_registration;
    let data = rule.initial(fixture("need_registration"));
    assert.equal(rule.stops(data), false);
    data = rule.fold(data, { result: true });
    assert.equal(rule.stops(data), false);
    data = rule.fold(data, { result: false });
    assert.deepEqual(data, { result: false });
    assert.equal(rule.stops(data), true);
    assert.deepEqual(rule.fold(data, { result: true }), { result: false });
  });

  it("no other hook stops early", () => {
    for (const hook of HOOK_NAMES) {
      if (hook === "need_registration") continue;
      const data = rules[hook].initial(fixture(hook));
      assert.equal(rules[hook].stops(data), false, hook);
    }
  });

  it("prototype-polluting keys are dropped at every merge level", () => {
    const polluted = (): Obj => JSON.parse('{"__proto__":{"x":1},"constructor":{"prototype":{"x":1}},"prototype":{"x":1}}');
    const validBase: { [H in HookName]: Obj } = {
      customize_activity: {},
      customize_entity: {},
      need_registration: { result: true },
      process_client_phone: { phone: "1" },
      process_final_params: {},
      process_originate_params: {},
      process_record_file_path: {},
      process_registration_params: {},
      process_task_creation_params: { fields: polluted() },
      process_user_phone: { phone: "1" },
      customize_autodistribution: {},
      post_registration: {},
      customize_show_call_card: {},
      customize_attach_record_url: {},
    };
    for (const hook of HOOK_NAMES) {
      const rule = rules[hook];
      const result = { ...polluted(), ...validBase[hook] };
      assert.equal(Object.prototype.hasOwnProperty.call(result, "__proto__"), true, "test input must carry an own __proto__");
      const data = rule.fold(rule.initial(fixture(hook)), result);
      assertNoPollution(data);
      assertNoPollution(rule.finalize(data));
      if (hook === "process_task_creation_params") assertNoPollution(data.fields as Obj);
    }
    // defaults built from the raw body drop them too
    const raw = { ...fixture("process_record_file_path"), ...polluted() };
    assertNoPollution(rules.process_record_file_path.initial(raw));
    const originate = { params: { ...(fixture("process_originate_params").params as Obj), ...polluted() } };
    assertNoPollution(rules.process_originate_params.initial(originate));
    assertNoPollution(viewOf(rules.process_originate_params, originate, rules.process_originate_params.initial(originate)).params as Obj);
    const task = { ...fixture("process_task_creation_params"), fields: { TITLE: "t", ...polluted() } };
    assertNoPollution(rules.process_task_creation_params.initial(task).fields as Obj);
  });

  it("finalize drops call_full and call_stage and keeps keys plugins added", () => {
    for (const hook of HOOK_NAMES) {
      const data = deepFreeze({ call_full: {}, call_stage: "call_ended", added: 1 });
      assert.deepEqual(rules[hook].finalize(data), { added: 1 }, hook);
    }
  });

  it("customize_autodistribution: read-only keys dropped, name cut to 20 code points", () => {
    const rule = rules.customize_autodistribution;
    const input = fixture("customize_autodistribution");
    const name = "8-800 горячая линия: Павел Григорьев";
    let data = rule.fold(rule.initial(input), { name, from: "x", user: {}, entity: {}, error: "e", extra: true });
    assert.deepEqual(Object.keys(data).sort(), ["extra", "name", "number"]);
    data = rule.finalize(deepFreeze({ ...data, from: "89213451807", user: {}, entity: {}, error: "e" }));
    assert.deepEqual(data, { number: "201", name: "8-800 горячая линия:", extra: true });
    assert.equal(Array.from(data.name as string).length, 20);
    // code points, not UTF-16 units: 20 emoji are 40 units long
    const emoji = rule.finalize({ number: "201", name: "😀".repeat(25) }).name as string;
    assert.equal(emoji, "😀".repeat(20));
    assert.equal(rule.finalize({ number: "201", name: "short" }).name, "short");
    // the next plugin still sees the connector's read-only keys
    const view = viewOf(rule, input, { ...data, user: { id: 0 }, from: "spoofed" });
    assert.deepEqual(view.user, input.user);
    assert.equal(view.from, "89213451807");
    assert.equal(view.name, "8-800 горячая линия:");
  });

  it("cancel() is allowed exactly where §6 says", () => {
    const cancellable = HOOK_NAMES.filter((h) => rules[h].cancellable).sort();
    assert.deepEqual(cancellable, [
      "customize_activity",
      "customize_attach_record_url",
      "customize_entity",
      "customize_show_call_card",
      "process_final_params",
      "process_registration_params",
      "process_task_creation_params",
    ]);
  });

  it("kinds, recommended limits and chain budgets", () => {
    const kinds = Object.fromEntries(HOOK_NAMES.map((h) => [h, rules[h].kind]));
    assert.equal(kinds.need_registration, "gate");
    assert.equal(kinds.post_registration, "effect");
    assert.equal(kinds.customize_activity, "fields");
    assert.equal(kinds.customize_entity, "fields");
    assert.equal(HOOK_NAMES.filter((h) => kinds[h] === "transform").length, 10);
    const ms = Object.fromEntries(HOOK_NAMES.map((h) => [h, rules[h].defaultTimeoutMs]));
    assert.deepEqual(ms, {
      customize_activity: 2000,
      customize_entity: 2000,
      need_registration: 1000,
      process_client_phone: 1000,
      process_final_params: 2000,
      process_originate_params: 2000,
      process_record_file_path: 9000,
      process_registration_params: 2000,
      process_task_creation_params: 2000,
      process_user_phone: 1000,
      customize_autodistribution: 800,
      post_registration: 2000,
      customize_show_call_card: 2000,
      customize_attach_record_url: 2000,
    });
    assert.equal(RECORD_CHAIN_BUDGET_MS, 9000);
    // no plugin's own limit outlasts its chain: the budget is the ceiling
    for (const hook of HOOK_NAMES) {
      assert.equal(rules[hook].budgetMs, hook === "process_record_file_path" ? 9000 : 2000, hook);
      assert.ok(rules[hook].defaultTimeoutMs <= rules[hook].budgetMs, hook);
    }
  });
});
