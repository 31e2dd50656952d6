// The chain (docs/hooks.md, "Chaining" and "Time") proven end to end: real plugin folders, the real host on
// 127.0.0.1, the connector's fixtures posted over HTTP, the answer and x-hook-trace read back.
import assert from "node:assert/strict";
import { runChain } from "../core/chain.js";
import { hostConfigSchema } from "../core/config.js";
import { cancelsRequests } from "../core/connector-version.js";
import { HOOK_NAMES, type HookName } from "../core/hooks.js";
import { fixture, pluginsDir, startTestHost, statuses, type TestHost } from "./support.js";

type Obj = Record<string, any>;

/** Every file of a plugin that implements each listed hook with the same function source. */
function everyHook(folder: string, manifest: object, fn: string, hooks: readonly HookName[] = HOOK_NAMES): Record<string, string | object> {
  const files: Record<string, string | object> = { [`${folder}/plugin.json`]: manifest };
  for (const hook of hooks) files[`${folder}/${hook}.js`] = `export default ${fn};`;
  return files;
}

/** What the connector gets back for this hook's fixture when no plugin runs (docs/hooks.md, each hook's "Default"). */
function defaultData(hook: HookName): Obj {
  const f = fixture(hook);
  switch (hook) {
    case "customize_activity":
    case "customize_entity":
    case "post_registration":
      return {};
    case "need_registration":
      return { result: true };
    case "process_client_phone":
    case "process_user_phone":
      return { phone: f.phone };
    case "process_final_params":
      return { ADD_TO_CHAT: f.ADD_TO_CHAT, CALL_ID: f.CALL_ID, DURATION: f.DURATION, STATUS_CODE: f.STATUS_CODE, USER_ID: f.USER_ID };
    case "process_originate_params":
      return { ...f.params };
    case "process_record_file_path":
      return { file_path: f.file_path };
    case "process_registration_params": {
      const { CALL_START_DATE, CRM_CREATE, CRM_SOURCE, LINE_NUMBER, PHONE_NUMBER, SHOW, TYPE, USER_ID } = f;
      return { CALL_START_DATE, CRM_CREATE, CRM_SOURCE, LINE_NUMBER, PHONE_NUMBER, SHOW, TYPE, USER_ID };
    }
    case "process_task_creation_params":
      return { fields: f.fields };
    case "customize_autodistribution":
      return { number: f.number, name: f.name };
    case "customize_show_call_card":
      return { CALL_ID: f.CALL_ID, USER_ID: f.USER_ID };
    case "customize_attach_record_url":
      return { DESCRIPTION: f.DESCRIPTION, DESCRIPTION_TYPE: f.DESCRIPTION_TYPE };
  }
}

/**
 * Two plugins per hook: `first` (priority 10) and `second` (priority 20). `second` reports what
 * it was given (in a `seen` key, in the value it builds, or by throwing when it was wrong), so the
 * answer shows both the fold and the `input` view (docs/hooks.md, "Chaining").
 */
interface ChainCase {
  first: string;
  second: string;
  chained: (f: Obj) => Obj;
}

const CASES: { [H in HookName]: ChainCase } = {
  customize_activity: {
    first: `() => ({ SUBJECT: "first", PRIORITY: "3" })`,
    second: `(input, ctx) => ({ SUBJECT: "second", seen: { SUBJECT: input.SUBJECT ?? null, activity: input.activity.id, data: ctx.data } })`,
    chained: (f) => ({ SUBJECT: "second", PRIORITY: "3", seen: { SUBJECT: null, activity: f.activity.id, data: { SUBJECT: "first", PRIORITY: "3" } } }),
  },
  customize_entity: {
    first: `() => ({ COMMENTS: "first", SOURCE_ID: "CALL" })`,
    second: `(input, ctx) => ({ COMMENTS: "second", seen: { COMMENTS: input.COMMENTS ?? null, entity: input.call_full.entity.id, data: ctx.data } })`,
    chained: (f) => ({ COMMENTS: "second", SOURCE_ID: "CALL", seen: { COMMENTS: null, entity: f.call_full.entity.id, data: { COMMENTS: "first", SOURCE_ID: "CALL" } } }),
  },
  need_registration: {
    first: `() => ({ result: true })`,
    // AND: a later false wins over an earlier true
    second: `(input, ctx) => ({ result: false, seen: { result: input.result ?? null, stage: input.call_stage, data: ctx.data } })`,
    chained: (f) => ({ result: false, seen: { result: null, stage: f.call_stage, data: { result: true } } }),
  },
  process_client_phone: {
    // replace: first's extra key does not survive second's answer
    first: `(input) => ({ phone: "+7" + input.phone.slice(1), note: "first" })`,
    second: `(input) => ({ phone: "[" + input.phone + "]" })`,
    chained: () => ({ phone: "[+79213451807]" }),
  },
  process_final_params: {
    first: `() => ({ USER_ID: 14 })`,
    second: `(input) => ({ STATUS_CODE: "486", seen: input.USER_ID })`,
    chained: (f) => ({ ADD_TO_CHAT: f.ADD_TO_CHAT, CALL_ID: f.CALL_ID, DURATION: f.DURATION, STATUS_CODE: "486", USER_ID: 14, seen: 14 }),
  },
  process_originate_params: {
    first: `(input) => ({ extension: "8" + input.params.extension.slice(-10) })`,
    second: `(input) => ({ caller_id: "205", seen: input.params.extension })`,
    chained: (f) => ({ ...f.params, extension: "89031186240", caller_id: "205", seen: "89031186240" }),
  },
  process_record_file_path: {
    first: `(input) => ({ file_path: input.file_path.replace(/\\.wav$/, ".mp3") })`,
    second: `(input) => ({ seen: input.file_path })`,
    chained: (f) => ({ file_path: f.file_path.replace(/\.wav$/, ".mp3"), seen: f.file_path.replace(/\.wav$/, ".mp3") }),
  },
  process_registration_params: {
    first: `() => ({ CRM_CREATE: 0 })`,
    second: `(input) => ({ CRM_SOURCE: "PARTNER", seen: input.CRM_CREATE })`,
    chained: () => ({ ...defaultData("process_registration_params"), CRM_CREATE: 0, CRM_SOURCE: "PARTNER", seen: 0 }),
  },
  process_task_creation_params: {
    // one level down: second's `fields` lacks most keys, and they stay
    first: `() => ({ fields: { TITLE: "first" } })`,
    second: `(input) => ({ fields: { DEADLINE: "2025-06-19T12:00:00+03:00", seen: input.fields.TITLE } })`,
    chained: (f) => ({ fields: { ...f.fields, TITLE: "first", DEADLINE: "2025-06-19T12:00:00+03:00", seen: "first" } }),
  },
  process_user_phone: {
    first: `(input) => ({ phone: "1" + input.phone })`,
    second: `(input) => ({ phone: "[" + input.phone + "]" })`,
    chained: () => ({ phone: "[1202]" }),
  },
  customize_autodistribution: {
    // read-only keys returned by a plugin are dropped, and the next plugin still sees the connector's
    first: `() => ({ number: "205", from: "forged", user: { id: 1 }, entity: null, error: "forged" })`,
    second: `(input) => ({ name: input.number + "/" + input.from + "/" + input.name, user: { id: 2 } })`,
    chained: () => ({ number: "205", name: "205/89213451807/Паве" }), // cut to 20 characters
  },
  post_registration: {
    first: `() => ({ ignored: "first" })`,
    // runs on the original input; throws (trace `error`) if it was handed first's result
    second: `(input, ctx) => { if ("ignored" in input || Object.keys(ctx.data).length) throw new Error("saw first's result"); return { ignored: "second" }; }`,
    chained: () => ({}),
  },
  customize_show_call_card: {
    first: `(input) => ({ USER_ID: [input.USER_ID, 14] })`,
    second: `(input) => ({ USER_ID: input.USER_ID.concat(31) })`,
    chained: (f) => ({ CALL_ID: f.CALL_ID, USER_ID: [22, 14, 31] }),
  },
  customize_attach_record_url: {
    first: `(input) => ({ DESCRIPTION: "Запись: " + /src="([^"]+)"/.exec(input.DESCRIPTION)[1], DESCRIPTION_TYPE: 1 })`,
    second: `(input) => ({ DESCRIPTION: input.DESCRIPTION + " (3 мин 12 с)", seen: input.DESCRIPTION_TYPE })`,
    chained: (f) => ({ DESCRIPTION: `Запись: ${/src="([^"]+)"/.exec(f.DESCRIPTION)![1]} (3 мин 12 с)`, DESCRIPTION_TYPE: 1, seen: 1 }),
  },
};

describe("chain: every hook's default and two-plugin fold", () => {
  let host: TestHost;
  before(async () => {
    // Names sort opposite to priorities: the trace order below is the priority order.
    const files: Record<string, string | object> = {
      "zz-first/plugin.json": { priority: 10, tenants: ["acme"] },
      "aa-second/plugin.json": { priority: 20, tenants: ["acme"] },
    };
    for (const hook of HOOK_NAMES) {
      files[`zz-first/${hook}.ts`] = `export default defineHook("${hook}", ${CASES[hook].first});`;
      files[`aa-second/${hook}.js`] = `export default ${CASES[hook].second};`;
    }
    // `bare` is served by no plugin at all
    host = await startTestHost(pluginsDir(files), { tenants: { acme: {}, bare: {} } });
  });
  after(() => host.close());

  for (const hook of HOOK_NAMES) {
    it(`${hook}: with no plugin, the default data and no trace`, async () => {
      const answer = await host.post("bare", hook, fixture(hook));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { state: "success", data: defaultData(hook) });
      assert.equal(answer.headers.get("x-hook-trace"), null);
    });

    it(`${hook}: two plugins fold as the table says`, async () => {
      const answer = await host.post("acme", hook, fixture(hook));
      assert.equal(answer.status, 200);
      assert.deepEqual(statuses(answer.trace), ["zz-first;status=ok", "aa-second;status=ok"]);
      assert.deepEqual(answer.body, { state: "success", data: CASES[hook].chained(fixture(hook)) });
    });
  }

  it("never answers call_full or call_stage, even when a plugin returns them", async () => {
    const forge = `() => ({ call_full: "forged", call_stage: "forged" })`;
    const dir = pluginsDir(everyHook("echo", {}, forge, ["process_record_file_path", "customize_activity", "process_final_params"]));
    const echo = await startTestHost(dir);
    try {
      for (const hook of ["process_record_file_path", "customize_activity", "process_final_params"] as const) {
        const answer = await echo.post("default", hook, fixture(hook));
        assert.deepEqual(statuses(answer.trace), ["echo;status=ok"], hook);
        assert.equal("call_full" in answer.body.data, false, hook);
        assert.equal("call_stage" in answer.body.data, false, hook);
      }
    } finally {
      await echo.close();
    }
  });
});

describe("chain: which plugins run, in what order, with what ctx", () => {
  const order = `(input, ctx) => ({ order: (ctx.data.order ?? "") + ctx.plugin + " " })`;
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        ...everyHook("early", { priority: 5 }, order, ["customize_entity"]),
        // a tie at 50 runs in *name* order: the folders sort the other way round
        ...everyHook("z-folder", { name: "a-tie", priority: 50 }, order, ["customize_entity"]),
        ...everyHook("a-folder", { name: "b-tie", priority: 50 }, order, ["customize_entity"]),
        ...everyHook("off", { priority: 1, enabled: false }, order, ["customize_entity"]),
        ...everyHook("acme-only", { priority: 60, tenants: ["acme"] }, order, ["customize_entity"]),
        ...everyHook("default-priority", {}, order, ["customize_entity"]),
        ...everyHook(
          "configured",
          { config: { greeting: "hello", nested: { a: 1, b: 2 }, list: [1, 2, 3] } },
          `(input, ctx) => ({ seen: { keys: Object.keys(ctx).sort(), tenant: ctx.tenant, hook: ctx.hook, plugin: ctx.plugin, config: ctx.config, data: ctx.data } })`,
          ["process_final_params"],
        ),
      }),
      {
        tenants: {
          acme: { config: { configured: { greeting: "privet", nested: { b: 3 }, list: [9] } } },
          globex: {},
        },
      },
    );
  });
  after(() => host.close());

  it("runs in priority order, ties by name, disabled never, tenant-restricted only for its tenants", async () => {
    const acme = await host.post("acme", "customize_entity", fixture("customize_entity"));
    assert.equal(acme.body.data.order, "early a-tie b-tie acme-only default-priority ");
    assert.deepEqual(statuses(acme.trace), ["early;status=ok", "a-tie;status=ok", "b-tie;status=ok", "acme-only;status=ok", "default-priority;status=ok"]);

    const globex = await host.post("globex", "customize_entity", fixture("customize_entity"));
    assert.equal(globex.body.data.order, "early a-tie b-tie default-priority ");
    assert.deepEqual(statuses(globex.trace), ["early;status=ok", "a-tie;status=ok", "b-tie;status=ok", "default-priority;status=ok"]);
  });

  it("a plugin that does not implement the hook is not in its chain", async () => {
    const answer = await host.post("acme", "customize_activity", fixture("customize_activity"));
    assert.deepEqual(answer.body, { state: "success", data: {} });
    assert.deepEqual(answer.trace, []);
  });

  it("ctx carries tenant, hook, plugin, data and config with the tenant's overrides merged in", async () => {
    const input = fixture("process_final_params");
    const acme = await host.post("acme", "process_final_params", input);
    assert.deepEqual(acme.body.data.seen, {
      keys: ["config", "data", "hook", "log", "plugin", "tenant"],
      tenant: "acme",
      hook: "process_final_params",
      plugin: "configured",
      config: { greeting: "privet", nested: { a: 1, b: 3 }, list: [9] },
      data: defaultData("process_final_params"),
    });

    const globex = await host.post("globex", "process_final_params", input);
    assert.equal(globex.body.data.seen.tenant, "globex");
    assert.deepEqual(globex.body.data.seen.config, { greeting: "hello", nested: { a: 1, b: 2 }, list: [1, 2, 3] });
  });
});

describe("chain: cancel() follows the tenant's connector version", () => {
  const CANCELLABLE: ReadonlySet<HookName> = new Set([
    "customize_activity",
    "customize_entity",
    "process_final_params",
    "process_registration_params",
    "process_task_creation_params",
    "customize_show_call_card",
    "customize_attach_record_url",
  ]);
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        ...everyHook("canceller", { priority: 10 }, `() => cancel("client asked")`),
        ...everyHook("after", { priority: 20 }, `() => null`),
        // its result comes before the cancel and must not survive it
        ...everyHook("before", { priority: 5, tenants: ["early", "early13"] }, `() => ({ USER_ID: 14 })`, ["process_final_params"]),
      }),
      {
        tenants: {
          // no version: 3.10, the documented one
          acme: {},
          v313: { connectorVersion: "3.13" },
          v4: { connectorVersion: "4.0.1" },
          early: { connectorVersion: "3.10" },
          early13: { connectorVersion: "3.13" },
        },
      },
    );
  });
  after(() => host.close());

  for (const hook of HOOK_NAMES) {
    if (CANCELLABLE.has(hook)) {
      it(`${hook}: under 3.10, cancel() answers the hook's default, stops the chain and says why in the trace`, async () => {
        const answer = await host.post("acme", hook, fixture(hook));
        assert.deepEqual(answer.body, { state: "success", data: defaultData(hook) });
        assert.deepEqual(statuses(answer.trace), ["canceller;status=cancel"]);
      });
      it(`${hook}: from 3.13 on, cancel() answers {} and stops the chain`, async () => {
        for (const tenant of ["v313", "v4"]) {
          const answer = await host.post(tenant, hook, fixture(hook));
          assert.deepEqual(answer.body, { state: "success", data: {} }, tenant);
          assert.deepEqual(statuses(answer.trace), ["canceller;status=cancel"], tenant);
        }
      });
    } else {
      it(`${hook}: cancel() is not allowed under any version: invalid, and the chain goes on`, async () => {
        for (const tenant of ["acme", "v313"]) {
          const answer = await host.post(tenant, hook, fixture(hook));
          assert.deepEqual(answer.body, { state: "success", data: defaultData(hook) }, tenant);
          assert.deepEqual(statuses(answer.trace), ["canceller;status=invalid", "after;status=skip"], tenant);
        }
      });
    }
  }

  it("drops what earlier plugins had returned: the default under 3.10, {} under 3.13", async () => {
    const old = await host.post("early", "process_final_params", fixture("process_final_params"));
    assert.deepEqual(old.body, { state: "success", data: defaultData("process_final_params") });
    assert.deepEqual(statuses(old.trace), ["before;status=ok", "canceller;status=cancel"]);
    const current = await host.post("early13", "process_final_params", fixture("process_final_params"));
    assert.deepEqual(current.body, { state: "success", data: {} });
    assert.deepEqual(statuses(current.trace), ["before;status=ok", "canceller;status=cancel"]);
  });

  it("connectorVersion: 3.10 unless set; a version before 3.10, or not a version, is refused by name", () => {
    assert.equal(hostConfigSchema.parse({ tenants: { a: {} } }).tenants.a!.connectorVersion, "3.10");
    for (const [version, cancels] of [["3.10", false], ["3.12.9", false], ["3.13", true], ["3.13.0", true], ["3.20", true], ["4.0", true]] as const) {
      assert.equal(cancelsRequests(hostConfigSchema.parse({ tenants: { a: { connectorVersion: version } } }).tenants.a!.connectorVersion), cancels, version);
    }
    for (const [bad, message] of [["3.9", /3\.10 and later/], ["2.13.0", /3\.10 and later/], ["3.x", /e\.g\. "3\.10"/], ["", /e\.g\. "3\.10"/], [3.13, /expected string/]] as const) {
      const r = hostConfigSchema.safeParse({ tenants: { a: { connectorVersion: bad } } });
      assert.equal(r.success, false, String(bad));
      assert.deepEqual(r.error!.issues[0]!.path, ["tenants", "a", "connectorVersion"]);
      assert.match(r.error!.issues[0]!.message, message);
    }
  });

  it("the 3.10 warning names the plugin, the version rule and the reason given (runChain, as hookhost run prints it)", async () => {
    const input = fixture("process_registration_params");
    const step = (reason: string) => ({ plugin: "p", timeoutMs: 1000, run: async () => ({ status: "cancel" as const, reason }) });
    const old = await runChain("process_registration_params", input, [step("partner trunk")], { budgetMs: 2000, cancellation: false });
    assert.equal(old.cancelled, false);
    assert.equal(old.data.CRM_CREATE, 1);
    assert.match(old.trace[0]!.error!, /cancel\(\) by p: the tenant's connector \(before 3\.13\) cannot skip the request, so the hook's default is answered \(reason given: partner trunk\)/);
    assert.deepEqual(old.warnings, [old.trace[0]!.error]);
    const current = await runChain("process_registration_params", input, [step("partner trunk")], { budgetMs: 2000, cancellation: true });
    assert.deepEqual([current.cancelled, current.data, current.warnings], [true, {}, []]);
    assert.equal(current.trace[0]!.error, "partner trunk");
  });
});

describe("chain: plugins that return nothing, throw, or return the wrong thing", () => {
  const SLOW = Object.fromEntries(HOOK_NAMES.map((h) => [h, 100]));
  let host: TestHost;
  before(async () => {
    const mixed = { tenants: ["mixed"] };
    const doomed = { tenants: ["doomed"] };
    const gate = { tenants: ["gate"] };
    host = await startTestHost(
      pluginsDir({
        ...everyHook("a-undefined", mixed, `() => undefined`, ["process_client_phone"]),
        ...everyHook("b-null", mixed, `() => null`, ["process_client_phone"]),
        ...everyHook("c-throws", mixed, `() => { throw new Error("bad number"); }`, ["process_client_phone"]),
        ...everyHook("d-rejects", mixed, `async () => { throw new TypeError("later"); }`, ["process_client_phone"]),
        ...everyHook("e-invalid", mixed, `() => ({ phone: 79213451807 })`, ["process_client_phone"]),
        ...everyHook("f-ok", mixed, `(input) => ({ phone: "[" + input.phone + "]" })`, ["process_client_phone"]),

        ...everyHook("crash", doomed, `() => { throw new Error("crash"); }`),
        ...everyHook("empty", doomed, `() => ({})`),
        ...everyHook("garbage", doomed, `() => ["not", "an", "object"]`),
        ...everyHook("stuck", { ...doomed, timeouts: SLOW }, `() => new Promise(() => {})`),

        ...everyHook("allow", { ...gate, priority: 5 }, `() => ({ result: true })`, ["need_registration"]),
        ...everyHook("deny", { ...gate, priority: 10 }, `() => ({ result: false })`, ["need_registration"]),
        ...everyHook("never", { ...gate, priority: 20 }, `() => ({ result: true })`, ["need_registration"]),
      }),
      { tenants: { mixed: {}, doomed: {}, gate: {} } },
    );
  });
  after(() => host.close());

  it("skip for undefined and null, error for a throw or a rejection, invalid for a bad result; the chain goes on unchanged", async () => {
    const answer = await host.post("mixed", "process_client_phone", fixture("process_client_phone"));
    assert.deepEqual(statuses(answer.trace), [
      "a-undefined;status=skip",
      "b-null;status=skip",
      "c-throws;status=error",
      "d-rejects;status=error",
      "e-invalid;status=invalid",
      "f-ok;status=ok",
    ]);
    // f-ok saw the connector's number: nothing before it changed data
    assert.deepEqual(answer.body, { state: "success", data: { phone: "[89213451807]" } });
  });

  // {} is a valid "no change" for most hooks, and must never turn into an empty answer.
  const EMPTY_IS_INVALID: ReadonlySet<HookName> = new Set(["need_registration", "process_client_phone", "process_user_phone", "process_task_creation_params"]);
  for (const hook of HOOK_NAMES) {
    it(`${hook}: when every plugin fails, the answer is still the default`, async () => {
      const answer = await host.post("doomed", hook, fixture(hook));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { state: "success", data: defaultData(hook) });
      assert.deepEqual(statuses(answer.trace), [
        "crash;status=error",
        `empty;status=${EMPTY_IS_INVALID.has(hook) ? "invalid" : "ok"}`,
        // post_registration's data is ignored, so any value is accepted
        `garbage;status=${hook === "post_registration" ? "ok" : "invalid"}`,
        "stuck;status=timeout",
      ]);
    });
  }

  it("need_registration: the first false answers false and stops the chain", async () => {
    const answer = await host.post("gate", "need_registration", fixture("need_registration"));
    assert.deepEqual(answer.body, { state: "success", data: { result: false } });
    assert.deepEqual(statuses(answer.trace), ["allow;status=ok", "deny;status=ok"]);
  });
});

describe("chain: time limits", () => {
  /** Plain JS that keeps the CPU for `ms` (a plugin doing real work, not awaiting). */
  const busy = (ms: number, result: string) => `() => { const end = Date.now() + ${ms}; while (Date.now() < end) {} return ${result}; }`;

  it("process_record_file_path: one 9 s budget for the whole chain, however high the limits", async function () {
    this.timeout(15_000);
    const lifted = { process_record_file_path: 60_000 };
    const host = await startTestHost(
      pluginsDir({
        ...everyHook("convert", { priority: 10, timeouts: lifted }, busy(1500, `{ file_path: "/records/call.mp3" }`), ["process_record_file_path"]),
        ...everyHook("hang", { priority: 20, timeouts: lifted }, `() => new Promise(() => {})`, ["process_record_file_path"]),
        ...everyHook("late", { priority: 30, timeouts: lifted }, `() => ({ file_path: "/records/late.mp3" })`, ["process_record_file_path"]),
      }),
      { tenants: { acme: {} }, timeouts: { default: 60_000, process_record_file_path: 60_000 } },
    );
    try {
      const started = Date.now();
      const answer = await host.post("acme", "process_record_file_path", fixture("process_record_file_path"));
      const elapsed = Date.now() - started;
      // the last completed data: convert's path, not the original and not late's
      assert.deepEqual(answer.body, { state: "success", data: { file_path: "/records/call.mp3" } });
      assert.deepEqual(statuses(answer.trace), ["convert;status=ok", "hang;status=timeout", "late;status=timeout"]);
      const ms = answer.trace.map((t) => Number(/;ms=(\d+)(?:;v=[0-9a-f]{12})?$/.exec(t)![1]));
      // hang got only what convert left of the 9 s, not its own 60 s
      assert.ok(ms[0] >= 1500, `convert ran ${ms[0]} ms`);
      assert.ok(ms[1] <= 9000 - ms[0] + 300, `hang ran ${ms[1]} ms after convert's ${ms[0]} ms`);
      assert.ok(ms[0] + ms[1] >= 8900, `the chain gave up after ${ms[0] + ms[1]} ms`);
      assert.ok(ms[2] < 50, `late ran ${ms[2]} ms: it should never have started`);
      assert.ok(elapsed < 9700, `answered after ${elapsed} ms, the connector gives up at 10 s`);
    } finally {
      await host.close();
    }
  });

  it("process_record_file_path: a chain where nothing completes answers the original path", async function () {
    this.timeout(5000);
    const host = await startTestHost(
      pluginsDir(everyHook("hang", { timeouts: { process_record_file_path: 300 } }, `() => new Promise(() => {})`, ["process_record_file_path"])),
    );
    try {
      const input = fixture("process_record_file_path");
      const answer = await host.post("default", "process_record_file_path", input);
      assert.deepEqual(answer.body, { state: "success", data: { file_path: input.file_path } });
      assert.deepEqual(statuses(answer.trace), ["hang;status=timeout"]);
    } finally {
      await host.close();
    }
  });

  it("a plugin's limit: plugin.json timeouts[hook], else host timeouts[hook], else host timeouts.default", async function () {
    this.timeout(10_000);
    // Each plugin holds the CPU for 600 ms; the limits are set far on either side of it.
    const work = busy(600, `{ done: true }`);
    const host = await startTestHost(
      pluginsDir({
        ...everyHook("host-limits", {}, work, ["customize_activity", "customize_entity"]),
        ...everyHook("own-limits", { timeouts: { customize_activity: 2000, customize_entity: 200 } }, work, ["customize_activity", "customize_entity"]),
      }),
      // own-limits may ask for up to 2000 on customize_activity: the host raised its ceiling
      { tenants: { acme: {} }, timeouts: { default: 200, customize_entity: 2000 }, pluginLimits: { "own-limits": { timeouts: { customize_activity: 2000 } } } },
    );
    try {
      const activity = await host.post("acme", "customize_activity", fixture("customize_activity"));
      assert.deepEqual(statuses(activity.trace), [
        "host-limits;status=timeout", // host default 200
        "own-limits;status=ok", // its own 2000 over the host default, within its raised ceiling
      ]);
      const entity = await host.post("acme", "customize_entity", fixture("customize_entity"));
      assert.deepEqual(statuses(entity.trace), [
        "host-limits;status=ok", // host customize_entity 2000 over the host default
        "own-limits;status=timeout", // its own 200 over the host's 2000
      ]);
    } finally {
      await host.close();
    }
  });

  it("without any configured limit, the hook's own limit applies", async function () {
    this.timeout(10_000);
    const work = busy(1300, `{}`);
    const host = await startTestHost(pluginsDir(everyHook("worker", {}, work, ["customize_autodistribution", "process_final_params"])));
    try {
      const routed = await host.post("default", "customize_autodistribution", fixture("customize_autodistribution"));
      assert.deepEqual(statuses(routed.trace), ["worker;status=timeout"]); // 800 ms: a caller is waiting
      const finished = await host.post("default", "process_final_params", fixture("process_final_params"));
      assert.deepEqual(statuses(finished.trace), ["worker;status=ok"]); // 2000 ms
    } finally {
      await host.close();
    }
  });
});

describe("chain: what each plugin sees of the input", () => {
  const BIG = "ж".repeat(800) + "😀".repeat(300) + "a" + "😀".repeat(300);
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        // mutates its copy of the input everywhere it can, then answers a new phone
        ...everyHook("first", { priority: 10 }, `(input) => { input.call_full.channel.trunk.number = "mutated"; input.call_stage = "mutated"; input.phone = "mutated"; return { phone: "+79213451807" }; }`, ["process_client_phone"]),
        ...everyHook("second", { priority: 20 }, `(input) => ({ phone: JSON.stringify([input.phone, input.call_stage, input.call_full.channel.trunk.number]) })`, ["process_client_phone"]),
        ...everyHook("big-answer", { priority: 10 }, `() => ({ BIG: ${JSON.stringify(BIG)} })`, ["process_final_params"]),
        ...everyHook("reads-big", { priority: 20, config: { big: BIG } }, `(input, ctx) => ({ OVERLAY_IS_CONFIG: input.BIG === ctx.config.big, NOTE: input.note })`, ["process_final_params"]),
      }),
    );
  });
  after(() => host.close());

  it("long input, overlay and config with two-byte characters and surrogate pairs arrive intact (they cross into the sandbox in pieces)", async () => {
    const note = "😀".repeat(700) + "a" + "😀".repeat(700);
    const answer = await host.post("default", "process_final_params", { ...fixture("process_final_params"), note });
    assert.deepEqual(statuses(answer.trace), ["big-answer;status=ok", "reads-big;status=ok"]);
    assert.equal(answer.body.data.BIG, BIG);
    assert.equal(answer.body.data.OVERLAY_IS_CONFIG, true);
    assert.equal(answer.body.data.NOTE, note);
  });

  it("the connector's input, with only what earlier plugins decided laid over it; one plugin's changes to its copy never reach the next", async () => {
    const input = fixture("process_client_phone");
    const answer = await host.post("default", "process_client_phone", input);
    assert.deepEqual(statuses(answer.trace), ["first;status=ok", "second;status=ok"]);
    assert.deepEqual(JSON.parse(answer.body.data.phone), ["+79213451807", input.call_stage, input.call_full.channel.trunk.number]);
  });
});
