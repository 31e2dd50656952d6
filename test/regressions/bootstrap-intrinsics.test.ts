import assert from "node:assert/strict";
import { fixture, keepingLogger, pluginsDir, postHook, startTestHost, type Answer, type LogLine, type TestHost } from "../support.js";
import { HOOK, LATENCY_BOUND_MS, startTenantsHost, victimLatency } from "./other-tenant.js";

// The bootstrap's caps called methods of the plugin's own realm at call time: with
// String.prototype.slice replaced, a 1 MB log line (cap 4096) and a 20 MB "plugin run failed"
// line (cap 2000) came through, and a 100 MB thrown message stalled other tenants for 3 s. Now
// every built-in the bootstrap uses is taken before plugin code runs, and the host cuts log lines
// and error texts again. Each tampering below runs in its own tenant's isolate, then every payload
// runs against it.
const LOG_CHARS = 4096;
const FIELDS_CHARS = 16384;
const ERROR_CHARS = 2000;
const BURST = 200;
const PER_SECOND = 50;

/** What a plugin replaces, keyed by name; each statement alone, so one that throws does not stop the others. */
const TAMPERS: Record<string, string[]> = {
  slice: [`String.prototype.slice = function () { return String(this); }`],
  "string-methods": ["slice", "substring", "substr", "concat", "padEnd", "trim", "toString", "valueOf", "at", "charAt", "repeat"].map(
    (m) => `String.prototype.${m} = function () { return big("S", 2e6); }`,
  ),
  "string-global": [`globalThis.String = function () { return big("G", 2e6); }`],
  json: [`JSON.stringify = () => big("J", 2e6)`, `JSON.parse = () => ({ t: "ok", v: big("P", 2e6), value: big("P", 2e6) })`],
  "to-json": [`Object.prototype.toJSON = function () { return big("T", 2e6); }`, `String.prototype.toJSON = function () { return big("T", 2e6); }`],
  arrays: ["pop", "push", "join", "slice", "map", "concat", "filter", "indexOf", "includes", "toJSON"].map((m) => `Array.prototype.${m} = function () { return big("A", 2e6); }`),
  collections: [
    `Map.prototype.get = function () { return () => ({ big: big("M", 2e6) }); }`,
    `Map.prototype.set = function () { return this; }`,
    `WeakSet.prototype.has = () => true`,
    `WeakSet.prototype.add = function () { return this; }`,
  ],
  functions: ["call", "apply", "bind"].map((m) => `Function.prototype.${m} = function () { return big("F", 2e6); }`),
  errors: [
    `globalThis.Error = function () { return { name: big("N", 2e6), message: big("E", 2e6) }; }`,
    `globalThis.TypeError = globalThis.Error`,
    `Object.defineProperty(E, Symbol.hasInstance, { value: () => { throw big("H", 2e6); } })`,
    `Object.defineProperty(E.prototype, "name", { get() { return big("N", 2e6); } })`,
  ],
  "object-statics": ["freeze", "keys", "defineProperty", "getPrototypeOf", "hasOwn"].map((m) => `Object.${m} = () => { throw big("O", 2e6); }`).concat(
    `Object.prototype.toString = () => big("O", 2e6)`,
  ),
  clock: [`let t = 0; Date.now = () => (t += 1e9)`, `Math.min = () => 1e9`, `Math.max = () => 1e9`],
  promises: [
    `Promise.prototype.then = function (ok, fail) { if (typeof fail === "function") fail(new E(big("P", 2e7))); if (typeof ok === "function") ok([big("P", 2e6)]); return this; }`,
    `Object.defineProperty(Promise.prototype, "constructor", { value: function Evil(executor) { executor(() => {}, () => {}); } })`,
    `Object.defineProperty(Promise, Symbol.species, { get() { throw new E(big("S", 2e7)); } })`,
    `Promise.prototype.catch = function () { return this; }`,
  ],
};

/** Payloads: each tries to get something oversized past a cap. */
const PAYLOADS: Record<string, string> = {
  logLine: `ctx.log.warn(big("L", 1e6)); ctx.log.error(big("L", 1e6), { n: 1 }); return {};`,
  logFields: `ctx.log.warn("fields", { big: big("F", 1e6) }); return {};`,
  logObject: `ctx.log.warn({ toString() { return big("L", 1e6); } }); return {};`,
  logFlood: `for (let i = 0; i < 20_000; i++) ctx.log.info("flood"); return {};`,
  thrown: `throw new E(big("E", 2e7));`,
  thrownName: `const e = new E("x"); Object.defineProperty(e, "name", { value: big("N", 1e6) }); throw e;`,
  thrownValue: `throw { toString() { return big("V", 2e7); } };`,
  cancelled: `return cancel(big("C", 1e6));`,
  result: `return { big: big("R", 2e6) };`,
  capabilityArgs: `ctx.store.get(big("K", 1e6)).catch(() => {}); return {};`,
};

const plugin = `const E = Error;
const repeat = Function.prototype.call.bind(String.prototype.repeat);
const big = (c, n) => repeat(c, n);
const tampers = {
${Object.entries(TAMPERS)
  .map(([name, statements]) => `  ${JSON.stringify(name)}: [${statements.map((s) => `() => { ${s}; }`).join(", ")}],`)
  .join("\n")}
};
let tampered = false;
export default async (input, ctx) => {
  if (!tampered) {
    tampered = true;
    for (const t of tampers[input.tamper]) try { t(); } catch {}
  }
  switch (input.attack) {
${Object.entries(PAYLOADS)
  .map(([name, body]) => `    case ${JSON.stringify(name)}: { ${body} }`)
  .join("\n")}
  }
  return { fine: true };
};`;

const TENANTS = Object.keys(TAMPERS);

describe("regression: the bootstrap's caps trusted the plugin's prototypes", function () {
  this.timeout(120_000);
  let host: TestHost;
  let lines: LogLine[];
  before(async () => {
    const kept = keepingLogger("info");
    lines = kept.lines;
    host = await startTestHost(
      pluginsDir({ "tamperer/plugin.json": { store: true, timeouts: { [HOOK]: 5000 } }, [`tamperer/${HOOK}.js`]: plugin }),
      { memoryMb: 256, tenants: Object.fromEntries(TENANTS.map((t) => [t, {}])) },
      undefined,
      kept.logger,
    );
  });
  after(() => host.close());

  const send = (tenant: string, attack?: string): Promise<Answer> => postHook(host.url, tenant, HOOK, { ...fixture(HOOK), tamper: tenant, ...(attack ? { attack } : {}) });

  for (const tenant of TENANTS) {
    it(`${tenant}: no log line, error text or answer over its cap, for every payload`, async () => {
      const first = await send(tenant);
      assert.equal(first.status, 200);
      for (const attack of Object.keys(PAYLOADS)) {
        const started = Date.now();
        const answer = await send(tenant, attack);
        const seconds = (Date.now() - started) / 1000;
        assert.equal(answer.status, 200, attack);
        const id = answer.headers.get("x-request-id");
        const ofRequest = lines.filter((l) => l.requestId === id);
        const logged = ofRequest.filter((l) => l.source === "plugin");
        for (const line of logged) {
          assert.ok(String(line.message).length <= LOG_CHARS + 1, `${attack}: a log line of ${String(line.message).length} characters`);
          const fields = JSON.stringify(line.fields ?? null).length;
          assert.ok(fields <= FIELDS_CHARS, `${attack}: log fields of ${fields} characters`);
        }
        assert.ok(logged.length <= BURST + PER_SECOND * (seconds + 1), `${attack}: ${logged.length} lines in ${seconds} s`);
        for (const failed of ofRequest.filter((l) => l.message === "plugin run failed")) {
          assert.ok(String(failed.error).length <= ERROR_CHARS + 1, `${attack}: an error text of ${String(failed.error).length} characters`);
        }
        const size = JSON.stringify(answer.body).length + (answer.headers.get("x-hook-trace") ?? "").length;
        assert.ok(size < 4096, `${attack}: an answer of ${size} characters`);
      }
    });
  }
});

describe("regression: an error thrown while a plugin loads reached the status and the log whole", () => {
  const LOAD_THROWS: Record<string, string> = {
    message: `throw new Error("x".repeat(2e7));`,
    sliceReplaced: `String.prototype.slice = function () { return String(this); };\nthrow new Error("x".repeat(2e7));`,
    name: `const e = new Error("boom"); e.name = "N".repeat(2e7); throw e;`,
    rangeError: `throw new RangeError("r".repeat(2e7));`,
  };

  it("the folder's status and the 'plugin failed to load' line carry at most 2,000 characters of it", async () => {
    const files: Record<string, string | object> = {};
    for (const [name, code] of Object.entries(LOAD_THROWS)) {
      files[`${name.toLowerCase()}/plugin.json`] = {};
      files[`${name.toLowerCase()}/${HOOK}.js`] = `${code}\nexport default () => ({});`;
    }
    const kept = keepingLogger("info");
    const host = await startTestHost(pluginsDir(files), { memoryMb: 256, tenants: { default: {} } }, undefined, kept.logger);
    try {
      const status = (await (await fetch(`${host.url}/v1/tenants/default/plugins`)).json()) as { plugins: { name: string; state: string; error?: { message: string } }[] };
      for (const name of Object.keys(LOAD_THROWS)) {
        const folder = status.plugins.find((p) => p.name === name.toLowerCase());
        assert.equal(folder?.state, "error", name);
        assert.ok(folder!.error!.message.length <= ERROR_CHARS + 1, `${name}: a status error of ${folder!.error!.message.length} characters`);
      }
      const failed = kept.lines.filter((l) => l.message === "plugin failed to load");
      assert.equal(failed.length, Object.keys(LOAD_THROWS).length);
      for (const line of failed) assert.ok(String(line.error).length <= ERROR_CHARS + 100, `a log line with an error of ${String(line.error).length} characters`);
    } finally {
      await host.close();
    }
  });
});

describe("Promise's then, constructor and species are fixed (isolated-vm waits on a run's promise with them)", () => {
  it("assigning or redefining them throws a TypeError in a plugin; its promises, awaits and capability calls still work", async () => {
    const host = await startTenantsHost({
      "plugin.json": { tenants: ["evil"], store: true },
      [`${HOOK}.js`]: `export default async (input, ctx) => {
  const errors = [];
  const attempts = [
    () => { Promise.prototype.then = () => {}; },
    () => { Promise.prototype.constructor = Object; },
    () => Object.defineProperty(Promise.prototype, "then", { value: () => {} }),
    () => Object.defineProperty(Promise, Symbol.species, { value: Object }),
    () => delete Promise.prototype.then,
  ];
  for (const attempt of attempts) try { attempt(); errors.push("none"); } catch (e) { errors.push(e.constructor.name); }
  await ctx.store.set("k", 1);
  const [a, b] = await Promise.all([Promise.resolve(1).then((x) => x + 1), ctx.store.get("k")]);
  return { errors, a, b };
};`,
    });
    try {
      const answer = await host.attack("none");
      assert.deepEqual(answer.body.data, { errors: ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError"], a: 2, b: 1 });
    } finally {
      await host.close();
    }
  });
});

describe("regression: a 100 MB thrown message stalled every tenant", function () {
  this.timeout(120_000);

  it("with String.prototype.slice replaced: the error text is cut inside the isolate, tenant good is not held up", async () => {
    const host = await startTenantsHost({
      "plugin.json": { tenants: ["evil"], timeouts: { [HOOK]: 10_000 } },
      [`${HOOK}.js`]: `export default () => {
  const big = "x".repeat(1e8);
  String.prototype.slice = function () { return String(this); };
  throw new Error(big);
};`,
      // room for the 100 MB string in the isolate
    }, "info", { memoryMb: 512 });
    try {
      const { worstMs, count } = await victimLatency(host, () => host.attack("throw"));
      const failed = host.lines.filter((l) => l.message === "plugin run failed" && l.tenant === "evil");
      assert.equal(failed.length, 1);
      assert.match(String(failed[0].error), /^Error: x{100}/);
      assert.ok(String(failed[0].error).length <= ERROR_CHARS + 1);
      assert.ok(worstMs < LATENCY_BOUND_MS, `tenant good waited ${Math.round(worstMs)} ms (${count} requests)`);
      console.log(`      100 MB thrown: tenant good's slowest of ${count} requests: ${Math.round(worstMs)} ms`);
    } finally {
      await host.close();
    }
  });
});
