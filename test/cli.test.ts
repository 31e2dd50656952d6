// The `hookhost` command as an integrator runs it: a child process started through bin/hookhost.js
// from a directory outside the package, on real plugin folders in temp dirs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChain, type ChainResult } from "../core/chain.js";
import { parseCallRecord } from "../cli/call-record.js";
import { simulateCall, type RunHook } from "../cli/connector.js";
import type { HookName } from "../core/hooks.js";
import { fixture, outputOf, pluginsDir, ROOT, writePlugins, type Ran } from "./support.js";

const BIN = join(ROOT, "bin", "hookhost.js");
const CALLS = join(ROOT, "examples", "calls");

/** Runs `hookhost …` from a temp directory (not the package's), with `stdin` piped in. */
function hookhost(args: string[], stdin = ""): Promise<Ran> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tmpdir(), env: { ...process.env, LOG_LEVEL: "info" } });
  const ran = outputOf(child);
  child.stdin.end(stdin);
  return ran;
}

function tempFile(name: string, content: unknown): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "hookhost-cli-"));
  writePlugins(dir, { [name]: typeof content === "string" ? content : (content as object) });
  return { path: join(dir, name), dir };
}

const GOOD = {
  "good/plugin.json": { tenants: ["acme"], priority: 7 },
  "good/process_client_phone.ts": 'import { digits } from "./lib/digits.js";\nexport default defineHook("process_client_phone", (input) => ({ phone: "+" + digits(input.phone) }));\n',
  "good/lib/digits.ts": "export function digits(phone: string): string {\n  return phone.replace(/\\D/g, \"\");\n}\n",
};

const BROKEN = {
  ...GOOD,
  // loads (types are stripped) but returns a number where plugins.d.ts says string
  "typed/plugin.json": {},
  "typed/process_client_phone.ts": 'export default defineHook("process_client_phone", () => {\n  return { phone: 42 };\n});\n',
  "syntax/plugin.json": {},
  "syntax/need_registration.js": "export default function () {\n  return { result: true ;\n}\n",
  "misnamed/plugin.json": {},
  "misnamed/proces_client_phone.ts": "export default () => undefined;\n",
};

describe("hookhost check", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  let good: Ran, broken: Ran, brokenJson: Ran;

  before(async () => {
    const goodDir = pluginsDir(GOOD);
    const brokenDir = pluginsDir(BROKEN);
    dirs.push(goodDir, brokenDir);
    // Each run type-checks with the TypeScript compiler (seconds): the three run side by side.
    [good, broken, brokenJson] = await Promise.all([hookhost(["check", goodDir]), hookhost(["check", brokenDir]), hookhost(["check", brokenDir, "--json"])]);
  });
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("exits 0 and lists each plugin's state, priority, tenants and hooks when all are good", () => {
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^ok\s+good: priority 7; tenants acme; hooks process_client_phone$/m);
    assert.match(good.stdout, /1 plugin folder: 1 ok, 0 with errors/);
  });

  it("exits 1 and gives every error as file:line:column and a one-line reason", () => {
    assert.equal(broken.code, 1, broken.stderr);
    const out = broken.stdout;
    assert.match(out, /^ok\s+good:/m);
    assert.match(out, /^error\s+typed:/m);
    assert.match(out, /typed\/process_client_phone\.ts:\d+:\d+: .*Type 'number' is not assignable to type 'string'\. \(TS\d+\)$/m);
    assert.match(out, /syntax\/need_registration\.js:2:\d+: Unexpected token ';'/m);
    assert.match(out, /misnamed\/proces_client_phone\.ts: "proces_client_phone" is not a hook name \(did you mean process_client_phone\?\)/);
    assert.match(out, /4 plugin folders: 1 ok, 3 with errors/);
  });

  it("--json prints one entry per folder with the errors' file, line and column", () => {
    assert.equal(brokenJson.code, 1, brokenJson.stderr);
    const entries = JSON.parse(brokenJson.stdout) as any[];
    assert.deepEqual(
      entries.map((e) => [e.folder, e.state]),
      [["good", "ok"], ["misnamed", "error"], ["syntax", "error"], ["typed", "error"]],
    );
    assert.deepEqual(entries[0], { folder: "good", name: "good", state: "ok", priority: 7, tenants: ["acme"], hooks: ["process_client_phone"], enabled: true, errors: [] });
    const typed = entries[3];
    assert.deepEqual([typed.priority, typed.tenants, typed.hooks], [100, "*", ["process_client_phone"]]);
    assert.equal(typed.errors.length, 1);
    assert.equal(typed.errors[0].file, "process_client_phone.ts");
    assert.ok(Number.isInteger(typed.errors[0].line) && Number.isInteger(typed.errors[0].column), JSON.stringify(typed.errors[0]));
    assert.match(typed.errors[0].message, /Type 'number' is not assignable to type 'string'/);
    // the loader's syntax error only, not the compiler's copy of it
    assert.deepEqual(entries[2].errors.map((e: any) => [e.file, e.line]), [["need_registration.js", 2]]);
    assert.deepEqual(entries[1].errors.map((e: any) => [e.file, e.line, e.column]), [["proces_client_phone.ts", null, null]]);
  });

  it("exits 1 naming the folder when the plugins folder does not exist", async () => {
    const ran = await hookhost(["check", join(tmpdir(), "hookhost-no-such-folder")]);
    assert.equal(ran.code, 1);
    assert.match(ran.stderr, /the plugins folder .*hookhost-no-such-folder cannot be read/);
  });
});

describe("hookhost run", function () {
  this.timeout(30_000);
  let dir: string;
  const files: string[] = [];
  before(() => {
    dir = pluginsDir({
      "phones/plugin.json": { priority: 10, config: { prefix: "+" } },
      "phones/process_client_phone.ts":
        'export default defineHook("process_client_phone", (input, ctx) => {\n  ctx.log.info("normalising", { phone: input.phone });\n  return { phone: String(ctx.config["prefix"]) + input.phone.replace(/\\D/g, "") };\n});\n',
      "thrower/plugin.json": { priority: 20 },
      "thrower/process_client_phone.js": 'export default function () {\n  throw new Error("no luck today");\n}\n',
    });
  });
  after(() => [dir, ...files].forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("prints the envelope on stdout and the trace on stderr, and exits 0 even when a plugin throws", async () => {
    const input = tempFile("input.json", fixture("process_client_phone"));
    files.push(input.dir);
    const ran = await hookhost(["run", "process_client_phone", "--tenant", "default", "--plugins", dir, "--input", input.path]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(JSON.parse(ran.stdout), { state: "success", data: { phone: "+89213451807" } });
    assert.match(ran.stderr, /x-hook-trace: phones;status=ok;ms=\d+;v=[0-9a-f]{12},thrower;status=error;ms=\d+;v=[0-9a-f]{12}/);
    assert.match(ran.stderr, /^phones\s+ok\s+\d+$/m);
    assert.match(ran.stderr, /^thrower\s+error\s+\d+\s+.*no luck today/m);
    assert.match(ran.stderr, /\[phones\] info: normalising \{"phone":"89213451807"\}/);
  });

  it("reads stdin without --input, and applies the tenant's config from --config", async () => {
    const config = tempFile("hookhost.json", { tenants: { acme: { token: "t", config: { phones: { prefix: "00" } } } } });
    files.push(config.dir);
    const ran = await hookhost(["run", "process_client_phone", "--tenant", "acme", "--plugins", dir, "--config", config.path], JSON.stringify(fixture("process_client_phone")));
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(JSON.parse(ran.stdout).data, { phone: "0089213451807" });
  });

  it("exits 1 naming the failing paths when the input does not match the hook's schema", async () => {
    const ran = await hookhost(["run", "process_client_phone", "--plugins", dir], JSON.stringify({ ...fixture("process_client_phone"), phone: 5 }));
    assert.equal(ran.code, 1);
    assert.equal(ran.stdout, "");
    assert.match(ran.stderr, /invalid_input: the input \(stdin\) does not match process_client_phone:\n {2}- phone: Invalid input: expected string, received number/);
  });

  it("exits 1 on input that is not JSON, and 2 (called wrongly) on an unknown hook, an unknown tenant, or a stray argument", async () => {
    const [notJson, hook, tenant, stray] = await Promise.all([
      hookhost(["run", "need_registration", "--plugins", dir], "{"),
      hookhost(["run", "need_registrations", "--plugins", dir], "{}"),
      hookhost(["run", "need_registration", "--plugins", dir, "--tenant", "globex"], JSON.stringify(fixture("need_registration"))),
      hookhost(["run", "need_registration", "extra"], "{}"),
    ]);
    assert.deepEqual([notJson.code, hook.code, tenant.code, stray.code], [1, 2, 2, 2]);
    assert.match(notJson.stderr, /bad_json: the input \(stdin\) is not JSON/);
    assert.match(hook.stderr, /unknown hook "need_registrations"; the hooks are: customize_activity, /);
    assert.match(tenant.stderr, /unknown tenant "globex": the built-in config \(no hookhost\.json\) serves "default"/);
    assert.match(stray.stderr, /unexpected argument "extra"\n\nUsage: hookhost run <hook>/);
  });
});

describe("hookhost: the conventions of a command-line tool", function () {
  // each case is a launcher and a Node process compiling the CLI: they run side by side
  this.timeout(90_000);

  it("--version (and -v) prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const ran of await Promise.all([hookhost(["--version"]), hookhost(["-v"])])) {
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, new RegExp(`^hookhost ${version.replaceAll(".", "\\.")} \\(node v24\\.`));
    }
  });

  it("<command> --help, -h and help <command> print that command's usage on stdout and exit 0", async () => {
    const asked: [string, string[]][] = [
      ...["serve", "check", "run", "simulate"].map((command): [string, string[]] => [command, [command, "--help"]]),
      ["run", ["run", "need_registration", "-h"]],
      ["simulate", ["help", "simulate"]],
    ];
    const [all, ...runs] = await Promise.all([hookhost(["--help"]), ...asked.map(([, args]) => hookhost(args))]);
    runs.forEach((ran, i) => {
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, new RegExp(`^Usage: hookhost ${asked[i][0]} `));
      assert.equal(ran.stderr, "");
    });
    assert.equal(all.code, 0);
    for (const command of ["serve", "check", "run", "simulate"]) assert.match(all.stdout, new RegExp(`^hookhost ${command} `, "m"));
  });

  it("exits 2 with the message and the usage on stderr when called wrongly", async () => {
    const cases: [string[], RegExp][] = [
      [[], /^hookhost: no command given\n\nUsage: hookhost <command>/],
      [["deploy"], /^hookhost: unknown command "deploy"\n\nUsage: hookhost <command>/],
      [["check", "--jsn"], /^hookhost: Unknown option '--jsn'.*\n\nUsage: hookhost check /],
      [["check", "a", "b"], /^hookhost: unexpected argument "b"\n\nUsage: hookhost check /],
      [["run"], /^hookhost: missing <hook>\n\nUsage: hookhost run /],
      [["simulate"], /^hookhost: missing <call.json>\n\nUsage: hookhost simulate /],
      [["serve", "--port"], /^hookhost: Option '--port <value>' argument missing\n\nUsage: hookhost serve /],
      [["serve", "--tenant", "acme"], /^hookhost: Unknown option '--tenant'.*\n\nUsage: hookhost serve /],
    ];
    const runs = await Promise.all(cases.map(([args]) => hookhost(args)));
    runs.forEach((ran, i) => {
      assert.equal(ran.code, 2, `${cases[i][0].join(" ")}: ${ran.stderr}`);
      assert.equal(ran.stdout, "");
      assert.match(ran.stderr, cases[i][1]);
    });
  });
});

describe("hookhost simulate", function () {
  this.timeout(60_000);
  let dir: string;
  const files: string[] = [];
  const sims: Record<string, any[]> = {};

  // The example plugins, copied, so the test never depends on anything written beside them.
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hookhost-sim-plugins-"));
    cpSync(join(ROOT, "examples", "plugins"), dir, { recursive: true });
    const names = ["answered-inbound", "transferred", "missed", "click-to-call"];
    const runs = await Promise.all(names.map((n) => hookhost(["simulate", join(CALLS, `${n}.json`), "--tenant", "default", "--plugins", dir, "--json"])));
    runs.forEach((ran, i) => {
      assert.equal(ran.code, 0, `${names[i]}: ${ran.stderr}`);
      sims[names[i]] = JSON.parse(ran.stdout);
    });
  });
  after(() => [dir, ...files].forEach((d) => rmSync(d, { recursive: true, force: true })));

  const hooks = (steps: any[]) => steps.map((s) => s.hook);
  const step = (steps: any[], hook: string) => steps.find((s) => s.hook === hook);
  const STAGE = ["process_user_phone", "process_client_phone", "need_registration", "customize_show_call_card"];
  const REQUESTED_FIRST = ["process_user_phone", "process_client_phone", "need_registration", "process_registration_params", "post_registration", "customize_show_call_card"];

  it("answered inbound: autodistribution, then register at the first ring with the normalised number, finish 200, upload the recording", () => {
    const steps = sims["answered-inbound"];
    assert.deepEqual(hooks(steps), [
      "customize_autodistribution",
      ...REQUESTED_FIRST,
      ...STAGE, // accepted
      ...STAGE, // conversation ended
      ...STAGE, // call ended
      "process_final_params",
      "customize_entity",
      "customize_activity",
      "process_record_file_path",
    ]);
    assert.deepEqual(steps.map((s) => s.stage).slice(0, 8), ["before_ringing", ...Array(6).fill("conversation_requested"), "conversation_accepted"]);
    // ru-phones' answer is what the registration is asked with
    assert.equal(step(steps, "process_client_phone").data.phone, "+79213451807");
    const registration = step(steps, "process_registration_params");
    assert.equal(registration.input.PHONE_NUMBER, "+79213451807");
    assert.equal(registration.input.USER_ID, 14);
    assert.match(registration.action, /registers the call binding it to CONTACT 4821/);
    // post_registration sees the registration the connector just made
    assert.equal(step(steps, "post_registration").input.call_full.registration.CALL_ID, "externalCall.4d7b59334da6971a44d91484a280194d.1750144326");
    assert.match(step(steps, "customize_show_call_card").action, /^shows the card to users 14$/);
    assert.match(step(steps, "process_final_params").action, /finishes the call with STATUS_CODE 200, DURATION 208 s, USER_ID 14/);
    assert.match(step(steps, "customize_activity").action, /SUBJECT = "\[СПб, основной, 201\] Входящий звонок \+79213451807"/);
    assert.match(step(steps, "process_record_file_path").action, /^uploads \/var\/spool\/asterisk\/monitor\/.*\.wav to the call/);
  });

  it("transfer: a second conversation gets its own stages and card, the link to the recording goes into the activity", () => {
    const steps = sims["transferred"];
    const cards = steps.filter((s) => s.hook === "customize_show_call_card").map((s) => [s.stage, s.conversation, s.input.USER_ID]);
    assert.deepEqual(cards, [
      ["conversation_requested", "205", 31],
      ["conversation_accepted", "205", 31],
      ["conversation_requested", "202", 22],
      ["conversation_accepted", "202", 22],
      ["conversation_ended", "205", 31],
      ["conversation_ended", "202", 22],
      ["call_ended", "202", 22],
    ]);
    assert.equal(steps.filter((s) => s.hook === "process_registration_params").length, 1);
    // at 202's ring the client is parked on 205, and 202's user is looked up after the hook
    const ring202 = steps.find((s) => s.hook === "process_user_phone" && s.conversation === "202");
    assert.equal(ring202.input.call_full.conversations["1750151702.3108"].is_parked, true);
    assert.equal(ring202.input.call_full.conversations["1750151841.3111"].user, null);
    assert.deepEqual(hooks(steps).slice(-4), ["process_final_params", "customize_entity", "customize_activity", "customize_attach_record_url"]);
    assert.match(step(steps, "customize_activity").action, /205→202/);
    assert.ok(!hooks(steps).includes("process_record_file_path"), "link mode uploads no file");
  });

  it("missed: the lead is created at the first ring, the call finishes 304 and a task goes to the lead's responsible", () => {
    const steps = sims["missed"];
    assert.ok(!steps.some((s) => s.stage === "conversation_accepted"), "nobody answered");
    assert.match(step(steps, "process_registration_params").action, /creating LEAD 9177/);
    const finish = step(steps, "process_final_params");
    assert.deepEqual([finish.input.STATUS_CODE, finish.input.DURATION, finish.input.USER_ID], ["304", 0, 22]);
    const task = step(steps, "process_task_creation_params");
    assert.ok(task, "a task is created for a missed call");
    assert.deepEqual(task.input.fields, {
      CREATED_BY: 1,
      DEADLINE: "2025-06-18T12:00:00+03:00",
      RESPONSIBLE_ID: 22,
      TITLE: "Пропущенный звонок от +79164082355",
      UF_CRM_TASK: ["L_9177"],
    });
    assert.match(task.action, /^creates task "Перезвонить: 89164082355 \(СПб, основной\)" for user 22, deadline 2025-06-18T12:00:00\+03:00$/);
    assert.deepEqual(hooks(steps).slice(-5), ["need_registration", "process_final_params", "process_task_creation_params", "customize_entity", "customize_activity"]);
  });

  it("click-to-call: originate first, post_registration at the start of the first ring, never a registration", () => {
    const steps = sims["click-to-call"];
    assert.deepEqual(hooks(steps).slice(0, 7), ["process_originate_params", "post_registration", ...STAGE.slice(0, 3), "customize_show_call_card", "process_user_phone"]);
    assert.ok(!hooks(steps).includes("process_registration_params"));
    assert.ok(!hooks(steps).includes("process_task_creation_params"), "the call was answered");
    const originate = steps[0];
    assert.deepEqual(JSON.parse(originate.input.params.request_data).CRM_ENTITY_ID, "5012");
    // what originate dialled is the number the PBX shows from then on
    assert.equal(step(steps, "process_client_phone").input.phone, "+79031186240");
    assert.equal(steps[1].input.call_full.registration.CALL_ID, "externalCall.2342cb89c0328de0501645594009b6bf.1750163910");
    assert.equal(steps[1].input.call_full.deal.id, "2218");
    assert.equal(steps[1].input.call_full.conversations["1750163911.3320"].user.id, 31, "Bitrix24 named who clicked");
    assert.match(step(steps, "process_final_params").action, /STATUS_CODE 200, DURATION 138 s, USER_ID 31/);
  });

  it("need_registration false (call-filter's blacklist) leaves the call unregistered and skips every later CRM stage", async () => {
    const config = tempFile("hookhost.json", { tenants: { "no-201": { config: { "call-filter": { blacklist: ["201"] } } } } });
    files.push(config.dir);
    const ran = await hookhost(["simulate", join(CALLS, "answered-inbound.json"), "--tenant", "no-201", "--plugins", dir, "--config", config.path]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /need_registration\s+call-filter ok \d+ ms\n\s+→ does not register the call and ignores it from here on/);
    assert.match(ran.stdout, /stopped: need_registration answered false at conversation_requested \(201\)/);
    for (const later of ["process_registration_params", "customize_show_call_card", "process_final_params", "customize_activity", "process_record_file_path"]) {
      assert.ok(!ran.stdout.includes(later), `${later} is not called`);
    }
  });

  it("connector 3.10: a cancel() registers the call as if no plugin had run, and says so", async () => {
    const cancelling = pluginsDir({
      "no-register/plugin.json": {},
      "no-register/process_registration_params.ts": 'export default defineHook("process_registration_params", () => cancel("not today"));\n',
    });
    files.push(cancelling);
    const ran = await hookhost(["simulate", join(CALLS, "missed.json"), "--plugins", cancelling, "--json"]);
    assert.equal(ran.code, 0, ran.stderr);
    const steps = JSON.parse(ran.stdout) as any[];
    const registrations = steps.filter((s) => s.hook === "process_registration_params");
    assert.deepEqual(registrations.map((s) => [s.conversation, s.cancelled, s.trace[0].status]), [["201", false, "cancel"]]);
    assert.match(registrations[0].trace[0].error, /before 3\.13\) cannot skip the request, so the hook's default is answered \(reason given: not today\)/);
    assert.match(registrations[0].action, /^registers the call/);
    assert.ok(hooks(steps).includes("process_final_params"));
  });

  it("connector 3.13: a cancelled registration is retried at the next ring; a call never registered is not finished", async () => {
    const cancelling = pluginsDir({
      "no-register/plugin.json": {},
      "no-register/process_registration_params.ts": 'export default defineHook("process_registration_params", () => cancel("not today"));\n',
    });
    const config = tempFile("hookhost.json", { tenants: { v313: { connectorVersion: "3.13" } } });
    files.push(cancelling, config.dir);
    const ran = await hookhost(["simulate", join(CALLS, "missed.json"), "--plugins", cancelling, "--config", config.path, "--tenant", "v313", "--json"]);
    assert.equal(ran.code, 0, ran.stderr);
    const steps = JSON.parse(ran.stdout) as any[];
    const registrations = steps.filter((s) => s.hook === "process_registration_params");
    assert.deepEqual(registrations.map((s) => [s.conversation, s.cancelled, s.trace[0].status]), [["201", true, "cancel"], ["205", true, "cancel"]]);
    assert.match(registrations[0].action, /does not register the call: a plugin cancelled telephony\.externalCall\.register/);
    assert.ok(!hooks(steps).includes("post_registration") && !hooks(steps).includes("customize_show_call_card"));
    assert.equal(steps[steps.length - 1].hook, "need_registration");
    assert.ok(!hooks(steps).includes("process_final_params") && !hooks(steps).includes("process_task_creation_params"));
  });

  it("exits 1 naming each problem of a call record that does not validate", async () => {
    const record = tempFile("call.json", { direction: "sideways", client: "1", start: "17.06.2025 10:00", end: "2025-06-17 10:01:00", conversations: [] });
    files.push(record.dir);
    const ran = await hookhost(["simulate", record.path, "--plugins", dir]);
    assert.equal(ran.code, 1);
    assert.match(ran.stderr, /call\.json is not a valid call record:/);
    assert.match(ran.stderr, /- direction: Invalid option: expected one of "inbound"\|"outbound"\|"c2c"/);
    assert.match(ran.stderr, /- start: must be "YYYY-MM-DD HH:MM:SS"/);
  });
});

describe("simulate's connector model (in process, plugins faked)", () => {
  const user31 = { id: 31, name: "Наталья Орлова", phones: ["205"] };
  const lead = { id: "9177", type: "lead", name: "+79164082355", responsible: { id: 22, name: "Игорь Белов", phones: ["202"] } };
  /** Every hook answers its default (no plugin), except those given an answer here. */
  const hooksAnswering =
    (answers: Partial<Record<HookName, (input: Record<string, unknown>) => ChainResult>> = {}): RunHook =>
    async (hook, input) =>
      answers[hook]?.(input) ?? runChain(hook, input, [], { budgetMs: 1000, cancellation: false });
  const cancelled = (): ChainResult => ({ data: {}, trace: [{ plugin: "p", status: "cancel", ms: 0 }], cancelled: true, warnings: [] });

  it("an unanswered outgoing call is finished 304 for its caller and gets a task", async () => {
    const record = parseCallRecord(
      { direction: "outbound", client: "89031186240", start: "2025-06-17 15:38:31", end: "2025-06-17 15:39:02", conversations: [{ extension: "205", user: user31, ring: "2025-06-17 15:38:31", end: "2025-06-17 15:39:02" }] },
      "out.json",
    );
    const { steps, stopped } = await simulateCall(record, hooksAnswering());
    assert.equal(stopped, undefined);
    const finish = steps.find((s) => s.hook === "process_final_params")!;
    assert.deepEqual([finish.input.STATUS_CODE, finish.input.USER_ID], ["304", 31]);
    const task = steps.find((s) => s.hook === "process_task_creation_params")!;
    assert.deepEqual((task.input.fields as any).TITLE, "Неотвеченный звонок на 89031186240");
    assert.equal((task.input.fields as any).RESPONSIBLE_ID, 31);
    // the extension calls out: its conversation is the main channel, dialling the client
    const cf = steps[0].input.call_full as any;
    assert.deepEqual([cf.channel.type, cf.channel.from.number, cf.channel.to.number, cf.conversations[cf.channel.id].channel.is_primary], ["outgoing", "205", "89031186240", true]);
  });

  it("a call missed on the IVR is registered, finished and given a task at call_ended only", async () => {
    const record = parseCallRecord({ direction: "inbound", client: "89164082355", start: "2025-06-17 18:41:10", end: "2025-06-17 18:41:40", ivr: true, crm: { entity: lead, created: true } }, "ivr.json");
    const { steps } = await simulateCall(record, hooksAnswering());
    assert.deepEqual(
      steps.map((s) => [s.stage, s.hook]),
      [
        ["call_ended", "process_client_phone"],
        ["call_ended", "need_registration"],
        ["call_ended", "process_registration_params"],
        ["call_ended", "post_registration"],
        ["call_ended", "process_final_params"],
        ["call_ended", "process_task_creation_params"],
        ["call_ended", "customize_entity"],
        ["call_ended", "customize_activity"],
      ],
    );
    assert.equal(steps[2].input.USER_ID, 22);
    assert.equal((steps[3].input.call_full as any).registration.CRM_CREATED_LEAD, 9177);
    assert.equal((steps[3].input.call_full as any).is_ivr, true);
  });

  it("CRM_CREATE 0 keeps the lead from being created; a cancelled finish leaves no activity to update", async () => {
    const record = parseCallRecord(JSON.parse(readFileSync(join(CALLS, "missed.json"), "utf8")), "missed.json");
    const { steps } = await simulateCall(
      record,
      hooksAnswering({
        process_registration_params: ({ call_full, call_stage, ...params }) => ({ data: { ...params, CRM_CREATE: 0 }, trace: [], cancelled: false, warnings: [] }),
        process_final_params: cancelled,
      }),
    );
    assert.match(steps.find((s) => s.hook === "process_registration_params")!.action, /with no CRM entity \(CRM_CREATE is 0/);
    const finish = steps.find((s) => s.hook === "process_final_params")!;
    assert.match(finish.action, /does not finish the call/);
    assert.equal((finish.input.call_full as any).entity, null);
    assert.deepEqual(steps.slice(-2).map((s) => s.hook), ["process_final_params", "process_task_creation_params"]);
    assert.deepEqual((steps[steps.length - 1].input.fields as any).UF_CRM_TASK, []);
  });
});
