import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import vm from "node:vm";
import { assertNoHostPaths, startWatchedHost, type WatchedHost } from "./sandbox-host.js";
import { fixture, statuses, type Answer } from "./support.js";

// Escapes a hostile plugin will try (SANDBOX-NOTES, "Boundary"), through the real host. Each payload
// is also run in node:vm with host-made objects, where it must reach `process`: the positive
// control that shows the payload is a real escape, so the test can fail.
const HOOK = "customize_entity";

/** Async function bodies over `ctx` and `input` that try to return the host's `process`. */
const ESCAPES: Record<string, string> = {
  ctx: `return ctx.constructor.constructor("return process")();`,
  "ctx.log.info": `return ctx.log.info.constructor("return process")();`,
  "ctx.store.get": `return ctx.store.get.constructor("return process")();`,
  input: `return input.constructor.constructor("return process")();`,
  "input, nested": `return input.call_full.channel.constructor.constructor("return process")();`,
  globalThis: `return globalThis.constructor.constructor("return process")();`,
  this: `return Function("return this")().constructor.constructor("return process")();`,
  "a caught error from a capability": `try { await ctx.store.get(); } catch (e) { return e.constructor.constructor("return process")(); }`,
  "a caught error from ctx.log": `try { ctx.log.info(Symbol("s")); } catch (e) { return e.constructor.constructor("return process")(); }`,
  defineHook: `return defineHook.constructor("return process")();`,
  cancel: `return cancel.constructor("return process")();`,
  "cancel()'s result": `return cancel("x").constructor.constructor("return process")();`,
  "stack frames": `Error.prepareStackTrace = (_, sites) => sites;
    const sites = new Error().stack;
    Error.prepareStackTrace = undefined;
    for (const site of sites) for (const x of [site.getThis(), site.getFunction()]) {
      if (x) try { const p = x.constructor.constructor("return process")(); if (p) return p; } catch {}
    }`,
};

/** What a payload reached, in the same words inside the sandbox and out. */
const VERDICT = `(p) => (p !== null && typeof p === "object" && typeof p.pid === "number" ? "process" : typeof p)`;

/** The node:vm control: the same body, handed host-made ctx, input and globals. */
async function inNodeVm(body: string): Promise<string> {
  const sandbox = { defineHook: (_: string, fn: unknown) => fn, cancel: (reason: string) => ({ reason }) };
  const fn = vm.runInNewContext(`(async function (ctx, input) { ${body} })`, sandbox) as (ctx: unknown, input: unknown) => Promise<unknown>;
  const ctx = {
    tenant: "t",
    log: {
      info: (m: unknown) => {
        if (typeof m !== "string") throw new TypeError("message must be a string");
      },
    },
    store: { get: async () => Promise.reject(new Error("ctx.store.get: expects 1 argument")) },
  };
  const verdict = vm.runInThisContext(VERDICT) as (p: unknown) => string;
  try {
    return verdict(await fn(ctx, fixture(HOOK)));
  } catch (e) {
    return `threw ${(e as Error).name}`;
  }
}

// isolated-vm's Reference, ExternalCopy and Callback methods (`get`/`set` left out: ctx.store has its own).
const IVM_METHODS = ["deref", "derefInto", "copy", "copySync", "copyInto", "apply", "applySync", "applyIgnored", "applySyncPromise", "getSync", "setSync", "setIgnored", "typeof", "release"];

const PROBES: Record<string, string> = {
  ...ESCAPES,
  typeofs: `return ["process", "require", "module", "exports", "global", "Buffer", "setTimeout", "setInterval", "setImmediate", "fetch", "XMLHttpRequest", "WebSocket", "ivm", "_ivm"]
    .filter((name) => new Function("return typeof " + name)() !== "undefined").join(",") || "none";`,
  globals: `return Object.getOwnPropertyNames(globalThis).sort().join(",");`,
  ivmMethods: `const seen = [];
    let caught; try { await ctx.store.get(); } catch (e) { caught = e; }
    const things = { ctx, "ctx.log": ctx.log, "ctx.log.info": ctx.log.info, "ctx.store": ctx.store, "ctx.store.get": ctx.store.get, "ctx.config": ctx.config, "ctx.data": ctx.data, input, "input.call_full": input.call_full, defineHook, cancel, "cancel()": cancel("x"), caught };
    for (const [label, x] of Object.entries(things)) for (const m of ${JSON.stringify(IVM_METHODS)}) {
      const v = x[m];
      if (v !== undefined && !(m === "apply" && v === Function.prototype.apply)) seen.push(label + "." + m);
    }
    return seen.join(",") || "none";`,
  wasm: `const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    return "add(2, 3) = " + instance.exports.add(2, 3);`,
  dynamicImport: `const name = ["node", "fs"].join(":"); try { await import(name); return "imported"; } catch (e) { return "rejected: " + e.message; }`,
  dynamicImportRelative: `const name = "./lib/" + "helper.js"; try { await import(name); return "imported"; } catch (e) { return "rejected: " + e.message; }`,
  stack: `return new Error("where").stack;`,
  throwStack: `throw new Error("with a stack: " + new Error().stack);`,
};

// These answer with text, not a verdict: run them raw.
const RAW = new Set(["typeofs", "globals", "ivmMethods", "wasm", "dynamicImport", "dynamicImportRelative", "stack", "throwStack"]);

function probeCode(): string {
  const cases = Object.entries(PROBES).map(([name, body]) => `  ${JSON.stringify(name)}: async function (ctx, input) { ${body} },`);
  return `import { helper } from "./lib/helper.js";
const verdict = ${VERDICT};
const raw = new Set(${JSON.stringify([...RAW])});
const probes = {
${cases.join("\n")}
};
export default async (input, ctx) => {
  try {
    const value = await probes[input.probe](ctx, input);
    return { found: raw.has(input.probe) ? value : verdict(value), helper };
  } catch (e) {
    if (input.probe === "throwStack") throw e;
    return { found: "threw " + (e && e.name), helper };
  }
};`;
}

const OUTSIDE = "export const secret = 'outside the plugin folder';\nexport default () => ({ secret });\n";

describe("sandbox escapes: hostile plugins through the real host", () => {
  let host: WatchedHost;
  const answers: Answer[] = [];
  before(async () => {
    host = await startWatchedHost(
      {
        "probe/plugin.json": { priority: 1, tenants: ["t"], store: true },
        [`probe/${HOOK}.js`]: probeCode(),
        "probe/lib/helper.js": `export const helper = "inside";`,
        "after/plugin.json": { priority: 9, tenants: ["t"] },
        [`after/${HOOK}.js`]: `export default () => ({ after: "ran" });`,
        "static-fs/plugin.json": {},
        "static-fs/need_registration.js": `import { readFileSync } from "fs";\nexport default () => ({ result: !!readFileSync });`,
        "static-node-fs/plugin.json": {},
        "static-node-fs/need_registration.ts": `import * as fs from "node:fs";\nexport default () => ({ result: !!fs });`,
        "climber/plugin.json": {},
        "climber/need_registration.js": `import { secret } from "../outside.js";\nexport default () => ({ result: !!secret });`,
        "polluter/plugin.json": { priority: 1, tenants: ["p"] },
        [`polluter/${HOOK}.js`]: `export default () => {
  Object.prototype.polluted = "by A";
  Array.prototype.polluted = "by A";
  JSON.parse = () => ({ hijacked: true });
  JSON.stringify = () => '{"hijacked":true}';
  return JSON.constructor.constructor("return this")().JSON === JSON ? { a: "polluted its own isolate" } : {};
};`,
        "victim/plugin.json": { priority: 2, tenants: ["p"] },
        [`victim/${HOOK}.js`]: `export default (input, ctx) => ({ sawObject: String(({}).polluted), sawArray: String([].polluted), sawInput: String(input.polluted), sawData: String(ctx.data.polluted), parse: String(JSON.parse('{"x":1}').x) });`,
        "self-polluter/plugin.json": { tenants: ["s"] },
        [`self-polluter/${HOOK}.js`]: `export default (input) => {
  const seen = input.call_full.channel.id;
  Array.prototype.join = () => "garbage";
  Array.prototype.slice = () => ["garbage"];
  Object.defineProperty(Array, Symbol.species, { get: () => function () { return ["garbage"]; } });
  String.prototype.concat = () => "garbage";
  JSON.parse = () => ({ call_full: { channel: { id: "garbage" } } });
  return { seen };
};`,
        "proto-data/plugin.json": { priority: 1, tenants: ["q"] },
        [`proto-data/${HOOK}.js`]: `export default () => JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 2}}, "prototype": {"polluted": 3}, "kept": "yes"}');`,
        "proto-next/plugin.json": { priority: 2, tenants: ["q"] },
        [`proto-next/${HOOK}.js`]: `export default (input, ctx) => ({ next: String(({}).polluted) + "/" + String(input.polluted) });`,
      },
      { tenants: { t: {}, p: {}, q: {}, s: {} } },
    );
  });
  after(() => host.close());

  const probe = async (name: string): Promise<Answer> => {
    const answer = await host.post("t", HOOK, { ...fixture(HOOK), probe: name });
    answers.push(answer);
    return answer;
  };
  const found = async (name: string): Promise<unknown> => {
    const answer = await probe(name);
    assert.equal(answer.status, 200);
    assert.deepEqual(statuses(answer.trace), ["probe;status=ok", "after;status=ok"], JSON.stringify(host.errors(answer)));
    assert.equal(answer.body.data.helper, "inside");
    return answer.body.data.found;
  };

  for (const [name, body] of Object.entries(ESCAPES)) {
    it(`constructor.constructor("return process")() through ${name}: reaches process in node:vm, not in hookhost`, async () => {
      assert.equal(await inNodeVm(body), "process", "positive control: node:vm must be escaped by this payload");
      const result = await found(name);
      assert.notEqual(result, "process");
      assert.match(String(result), /^(undefined|threw ReferenceError)$/);
    });
  }

  it("no Node global is defined; the global object holds the standard built-ins plus defineHook and cancel", async () => {
    assert.equal(await found("typeofs"), "none");
    const names = String(await found("globals")).split(",");
    const standard = new Set(vm.runInNewContext("Object.getOwnPropertyNames(globalThis)") as string[]);
    assert.deepEqual(names.filter((n) => !standard.has(n)), ["cancel", "defineHook"]);
  });

  it("nothing received carries isolated-vm's Reference methods (deref, derefInto, copy, apply…)", async () => {
    assert.equal(await found("ivmMethods"), "none");
  });

  it("WebAssembly is not there, even for a harmless module (its memory is outside the limit: wasm.test.ts)", async () => {
    assert.equal(await found("wasm"), "threw ReferenceError");
  });

  it("dynamic import() of node:fs, or of anything, is rejected", async () => {
    assert.match(String(await found("dynamicImport")), /^rejected: /);
    assert.match(String(await found("dynamicImportRelative")), /^rejected: /);
  });

  it("static imports of fs, node:fs or a file outside the folder break only that folder, naming the import", () => {
    const broken = Object.fromEntries(host.registry.broken.map((b) => [b.dir, b.problem]));
    assert.match(broken["static-fs"].message, /^import "fs": only relative imports of files inside the plugin folder are allowed/);
    assert.equal(broken["static-fs"].file, "need_registration.js");
    assert.match(broken["static-node-fs"].message, /^import "node:fs": only relative imports/);
    assert.match(broken.climber.message, /^import "\.\.\/outside\.js" resolves outside the plugin folder$/);
  });

  it("stack traces and error texts name plugin files, never host paths", async () => {
    const stack = String(await found("stack"));
    assert.match(stack, /hookhost:\/\/probe\/customize_entity\.js:\d+/);
    assertNoHostPaths(host, stack);
    const thrown = await probe("throwStack");
    assert.deepEqual(statuses(thrown.trace), ["probe;status=error", "after;status=ok"]);
    const error = host.errors(thrown).probe;
    assert.match(error, /^Error: with a stack: /);
  });

  it("no answer or error text of any probe above shows a host path", () => {
    assert.ok(answers.length > Object.keys(ESCAPES).length);
    for (const answer of answers) assertNoHostPaths(host, answer.body, host.errors(answer));
  });

  describe("prototype pollution", () => {
    it("plugin A's Object.prototype, Array.prototype and JSON stay in A's isolate: B and the host see nothing", async () => {
      const answer = await host.post("p", HOOK, fixture(HOOK));
      assert.deepEqual(statuses(answer.trace), ["polluter;status=ok", "victim;status=ok"]);
      assert.deepEqual(answer.body.data, {
        a: "polluted its own isolate",
        sawObject: "undefined",
        sawArray: "undefined",
        sawInput: "undefined",
        sawData: "undefined",
        parse: "1",
      });
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(([] as unknown as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(JSON.parse('{"x":1}'), { x: 1 });
    });

    it("a plugin that rewrites Array.prototype, String.prototype and JSON in its own isolate still gets its next input intact", async () => {
      const id = (fixture(HOOK).call_full as { channel: { id: string } }).channel.id;
      for (let i = 0; i < 3; i++) {
        const answer = await host.post("s", HOOK, fixture(HOOK));
        assert.deepEqual(answer.body.data, { seen: id }, `call ${i + 1}`);
      }
    });

    it("__proto__, constructor and prototype keys returned as data are dropped: nothing polluted, absent from the answer", async () => {
      const answer = await host.post("q", HOOK, fixture(HOOK));
      assert.deepEqual(statuses(answer.trace), ["proto-data;status=ok", "proto-next;status=ok"]);
      const text = JSON.stringify(answer.body);
      assert.deepEqual(answer.body.data, { kept: "yes", next: "undefined/undefined" });
      for (const key of ["__proto__", "constructor", "prototype", "polluted"]) assert.ok(!text.includes(key), text);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });

  it("still answers a normal request after all of it", async () => {
    const answer = await host.post("t", "need_registration", fixture("need_registration"));
    assert.deepEqual(answer.body, { state: "success", data: { result: true } });
  });
});

describe("sandbox escapes: links out of the plugin folder", () => {
  let host: WatchedHost;
  const outside = mkdtempSync(join(tmpdir(), "hookhost-outside-"));
  before(async () => {
    writeFileSync(join(outside, "secret.js"), OUTSIDE);
    writeFileSync(join(outside, "need_registration.js"), OUTSIDE);
    host = await startWatchedHost(
      {
        "linked-file/plugin.json": {},
        "linked-file/need_registration.js": `import { secret } from "./lib/secret.js";\nexport default () => ({ result: true, secret });`,
        "linked-dir/plugin.json": {},
        "linked-dir/need_registration.js": `import { secret } from "./lib/secret.js";\nexport default () => ({ result: true, secret });`,
        "linked-hook/plugin.json": {},
      },
      { tenants: { t: {} } },
      (dir) => {
        mkdirSync(join(dir, "linked-file", "lib"));
        symlinkSync(join(outside, "secret.js"), join(dir, "linked-file", "lib", "secret.js"));
        symlinkSync(outside, join(dir, "linked-dir", "lib"));
        symlinkSync(join(outside, "need_registration.js"), join(dir, "linked-hook", "need_registration.js"));
      },
    );
  });
  after(async () => {
    await host.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it("a symlink inside a plugin folder to a file or folder outside it is never loaded", async () => {
    const broken = Object.fromEntries(host.registry.broken.map((b) => [b.dir, b.problem]));
    assert.deepEqual(
      Object.entries(broken).sort(([a], [b]) => a.localeCompare(b)).map(([dir, p]) => [dir, p.file]),
      [["linked-dir", "lib"], ["linked-file", "lib/secret.js"], ["linked-hook", "need_registration.js"]],
    );
    for (const problem of Object.values(broken)) assert.match(problem.message, /^a symbolic link that leads outside the plugin folder/);
    const answer = await host.post("t", "need_registration", fixture("need_registration"));
    assert.deepEqual(answer.body, { state: "success", data: { result: true } });
    assert.deepEqual(answer.trace, []);
    assertNoHostPaths(host, answer.body, broken);
  });
});
