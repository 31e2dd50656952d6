import assert from "node:assert/strict";
import { fixture, keepingLogger, pluginsDir, postHook, startTestHost, statuses, type LogLine, type TestHost } from "../support.js";
import { HOOK } from "./other-tenant.js";

// isolated-vm reads its call options through the prototype chain. `Object.prototype.timeout = 1`
// in a plugin made isolated-vm end the host's capability handler, and `Object.prototype.arguments`
// changed how arguments reached the host. Every option name isolated-vm 7.0.1 reads (ReadOption
// in its src/), set on each prototype a plugin can reach, with values of each kind, must change
// nothing: not a capability call, its answer, a log line, a result or an error.
const OPTION_NAMES = [
  "timeout", "arguments", "result", "copy", "externalCopy", "reference", "promise", "release", "transferIn", "transferOut", "transferList",
  "unsafeInherit", "accessors", "async", "ignored", "filename", "lineOffset", "columnOffset", "produceCachedData", "cachedData", "meta",
  "inspector", "snapshot", "memoryLimit", "onCatastrophicError",
];
const PROTOTYPES = ["Object.prototype", "Array.prototype", "Function.prototype"];
const TENANT_OF: Record<string, string> = { "Object.prototype": "object", "Array.prototype": "array", "Function.prototype": "function" };
const VALUES: Record<string, string> = {
  number: "1",
  true: "true",
  string: `"x"`,
  reference: "({ reference: true })",
  externalCopy: "({ externalCopy: true })",
  copyPromise: "({ copy: true, promise: true, timeout: 1 })",
  function: "(() => 1)",
};

/**
 * The plugin: `pollute` sets option names on a prototype (left in place until the next call, so
 * the host reads the run's answer under them too); `check` runs every kind of crossing and lists
 * what came back wrong; `throw` fails with a known message.
 */
const plugin = `
const define = Object.defineProperty, del = Reflect.deleteProperty;
const PROTOS = { "Object.prototype": Object.prototype, "Array.prototype": Array.prototype, "Function.prototype": Function.prototype };
let undo = [];
const clean = () => { for (const [proto, name] of undo) del(proto, name); undo = []; };
const pollute = (proto, names, make) => { for (const name of names) { define(PROTOS[proto], name, { value: make(), writable: true, configurable: true }); undo.push([PROTOS[proto], name]); } };
const value = "v".repeat(3000);
async function check(label, ctx) {
  const wrong = [];
  try {
    await ctx.store.set("k", { value, label });
    const back = await ctx.store.get("k");
    if (!back || back.value !== value || back.label !== label) wrong.push(label + ": store.get answered " + JSON.stringify(back).slice(0, 80));
  } catch (e) { wrong.push(label + ": store call failed: " + String(e && e.message).slice(0, 200)); }
  try { await ctx.store.get(123); wrong.push(label + ": store.get(123) did not reject"); }
  catch (e) { if (!/^ctx\\.store\\.get: store key must be a string/.test(e.message)) wrong.push(label + ": store.get(123) rejected with " + String(e.message).slice(0, 200)); }
  ctx.log.warn("marker " + label, { label });
  return wrong;
}
export default async (input, ctx) => {
  clean();
  switch (input.step) {
    case "pollute": {
      pollute(input.proto, input.names, () => (0, eval)(input.value));
      return { wrong: await check(input.label, ctx), label: input.label };
    }
    case "throw": {
      pollute(input.proto, input.names, () => (0, eval)(input.value));
      throw new Error("thrown " + input.label);
    }
    case "one-by-one": {
      const wrong = [];
      for (const name of input.names) for (const v of input.values) {
        pollute(input.proto, [name], () => (0, eval)(v));
        wrong.push(...(await check(input.proto + "." + name + " = " + v, ctx)));
        clean();
      }
      return { wrong };
    }
  }
  return { fine: true };
};`;

describe("regression: plugin code injected isolated-vm call options", function () {
  this.timeout(120_000);
  let host: TestHost;
  let lines: LogLine[];
  before(async () => {
    const kept = keepingLogger("info");
    lines = kept.lines;
    host = await startTestHost(
      pluginsDir({
        "polluter/plugin.json": { priority: 1, store: true, timeouts: { [HOOK]: 20_000 } },
        [`polluter/${HOOK}.js`]: plugin,
        "after/plugin.json": { priority: 2, store: true },
        [`after/${HOOK}.js`]: `export default async (input, ctx) => { await ctx.store.set("a", 1); ctx.log.info("after ran"); return { after: await ctx.store.get("a") }; };`,
      }),
      { tenants: { t: {}, ...Object.fromEntries(Object.values(TENANT_OF).map((t) => [t, {}])) } },
      undefined,
      kept.logger,
    );
  });
  after(() => host.close());

  const send = (tenant: string, body: Record<string, unknown>) => postHook(host.url, tenant, HOOK, { ...fixture(HOOK), ...body });
  const logged = (requestId: string | null) => lines.filter((l) => l.requestId === requestId && l.source === "plugin");
  const findFailed = (requestId: string | null) => lines.find((l) => l.requestId === requestId && l.message === "plugin run failed");

  for (const proto of PROTOTYPES) {
    for (const [kind, value] of Object.entries(VALUES)) {
      const label = `${proto}: every option name = ${kind}`;
      it(`${label}: capability calls, their answers, log lines, the result, a throw and the next plugin are unchanged`, async () => {
        const answer = await send("t", { step: "pollute", proto, names: OPTION_NAMES, value, label });
        assert.deepEqual(statuses(answer.trace), ["polluter;status=ok", "after;status=ok"], JSON.stringify(answer.body));
        assert.deepEqual(answer.body.data, { wrong: [], label, after: 1 });
        const lines = logged(answer.headers.get("x-request-id"));
        assert.deepEqual(
          lines.map((l) => [l.plugin, l.level, l.message, l.fields]),
          [["polluter", "warn", `marker ${label}`, { label }], ["after", "info", "after ran", undefined]],
        );
        const thrown = await send("t", { step: "throw", proto, names: OPTION_NAMES, value, label });
        assert.deepEqual(statuses(thrown.trace), ["polluter;status=error", "after;status=ok"]);
        assert.equal(findFailed(thrown.headers.get("x-request-id"))?.error, `Error: thrown ${label}`);
      });
    }

    it(`${proto}: each option name alone, with each kind of value, changes no crossing`, async () => {
      // a tenant of its own: its ${OPTION_NAMES.length * Object.keys(VALUES).length} log lines stay within the burst of its own log bucket
      const answer = await send(TENANT_OF[proto], { step: "one-by-one", proto, names: OPTION_NAMES, values: Object.values(VALUES) });
      assert.deepEqual(statuses(answer.trace), ["polluter;status=ok", "after;status=ok"], JSON.stringify(answer.body));
      assert.deepEqual(answer.body.data.wrong, []);
      const markers = logged(answer.headers.get("x-request-id")).filter((l) => l.plugin === "polluter");
      assert.deepEqual(
        markers.map((l) => l.message),
        OPTION_NAMES.flatMap((name) => Object.values(VALUES).map((v) => `marker ${proto}.${name} = ${v}`)),
      );
    });
  }
});
