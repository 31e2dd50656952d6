import assert from "node:assert/strict";
import { startWatchedHost, type WatchedHost } from "./sandbox-host.js";
import { fixture, statuses } from "./support.js";

// WebAssembly memory is allocated outside the isolate's heap, so isolated-vm's memory limit never
// saw it: a plugin under memoryMb 64 allocated and kept 1 GiB. Plugins get no WebAssembly at all:
// it is removed from every isolate before the bootstrap and any plugin module run.
const HOOK = "customize_entity";
const GIB_PAGES = 16384; // 64 KiB pages

// A module that exports a memory of GIB_PAGES pages: `(module (memory (export "mem") 16384))`.
const MODULE_BYTES = `new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 1, 0, 128, 128, 1, 7, 7, 1, 3, 109, 101, 109, 2, 0])`;
/** Touches every page, so the memory is really held (an untouched one is only reserved). */
const KEEP = `globalThis.kept = (globalThis.kept || []).concat(m); new Uint8Array(m.buffer).fill(1); return { bytes: m.buffer.byteLength };`;

const ATTACKS: Record<string, string> = {
  memory: `const m = new WebAssembly.Memory({ initial: ${GIB_PAGES} }); ${KEEP}`,
  grow: `const m = new WebAssembly.Memory({ initial: 1, maximum: ${GIB_PAGES} }); m.grow(${GIB_PAGES - 1}); ${KEEP}`,
  instance: `const m = new WebAssembly.Instance(new WebAssembly.Module(${MODULE_BYTES})).exports.mem; ${KEEP}`,
  compile: `const m = new WebAssembly.Instance(await WebAssembly.compile(${MODULE_BYTES})).exports.mem; ${KEEP}`,
  instantiate: `const m = (await WebAssembly.instantiate(${MODULE_BYTES})).instance.exports.mem; ${KEEP}`,
  viaFunction: `const m = new (Function("return WebAssembly")().Memory)({ initial: ${GIB_PAGES} }); ${KEEP}`,
  viaEval: `const m = new (eval("WebAssembly").Memory)({ initial: ${GIB_PAGES} }); ${KEEP}`,
  viaGlobalThis: `const m = new globalThis["Web" + "Assembly"].Memory({ initial: ${GIB_PAGES} }); ${KEEP}`,
};

/** Every other way a plugin might find WebAssembly again; each answers what it found. */
const LOOKUPS = `return {
  typeofGlobal: typeof WebAssembly,
  globalThis: String(globalThis.WebAssembly),
  own: Reflect.ownKeys(globalThis).filter((k) => String(k).includes("Assembly")),
  descriptor: String(Object.getOwnPropertyDescriptor(globalThis, "WebAssembly")),
  inProto: String(Object.getPrototypeOf(globalThis).WebAssembly),
  viaFunction: Function("return typeof WebAssembly")(),
  viaEval: (0, eval)("typeof WebAssembly"),
  viaNewContext: typeof Function("return this")().WebAssembly,
};`;

const PLUGINS = {
  "wasm/plugin.json": { priority: 1, memoryMb: 64, timeouts: { [HOOK]: 5000 } },
  [`wasm/${HOOK}.js`]: `export default async (input) => {
  switch (input.attack) {
${Object.entries({ ...ATTACKS, lookups: LOOKUPS })
  .map(([name, body]) => `    case ${JSON.stringify(name)}: { ${body} }`)
  .join("\n")}
  }
  return { wasm: "fine" };
};`,
  "after/plugin.json": { priority: 2 },
  [`after/${HOOK}.js`]: `export default () => ({ after: "ran" });`,
  // the same attacks at module load, before any hook runs
  ...Object.fromEntries(
    ["memory", "grow", "instance"].flatMap((name) => [
      [`load-${name}/plugin.json`, { memoryMb: 64 }],
      [`load-${name}/need_registration.js`, `const f = () => { ${ATTACKS[name]} };\nconst held = f();\nexport default () => ({ result: held.bytes > 0 });`],
    ]),
  ),
};

describe("WebAssembly is not available to plugins (its memory is outside memoryMb)", () => {
  let host: WatchedHost;
  let rssBefore: number;
  before(async () => {
    host = await startWatchedHost(PLUGINS, { memoryMb: 64, tenants: { t: {} } });
    rssBefore = process.memoryUsage().rss;
  });
  after(() => host.close());

  for (const name of Object.keys(ATTACKS)) {
    it(`${name}: fails (WebAssembly is not defined), the chain goes on, and the plugin still serves`, async () => {
      for (let i = 0; i < 2; i++) {
        const answer = await host.post("t", HOOK, { ...fixture(HOOK), attack: name });
        assert.deepEqual(statuses(answer.trace), ["wasm;status=error", "after;status=ok"]);
        assert.deepEqual(answer.body, { state: "success", data: { after: "ran" } });
        const expected = name === "viaGlobalThis" ? "TypeError: Cannot read properties of undefined (reading 'Memory')" : "ReferenceError: WebAssembly is not defined";
        assert.equal(host.errors(answer).wasm, expected);
      }
      const fine = await host.post("t", HOOK, fixture(HOOK));
      assert.deepEqual(fine.body.data, { wasm: "fine", after: "ran" });
    });
  }

  it("no other path reaches it: not on the global, its prototype, through Function or indirect eval", async () => {
    const answer = await host.post("t", HOOK, { ...fixture(HOOK), attack: "lookups" });
    assert.deepEqual(answer.body.data, {
      typeofGlobal: "undefined",
      globalThis: "undefined",
      own: [],
      descriptor: "undefined",
      inProto: "undefined",
      viaFunction: "undefined",
      viaEval: "undefined",
      viaNewContext: "undefined",
      after: "ran",
    });
  });

  it("at module load: the folder is broken (WebAssembly is not defined), everything else serves", () => {
    const broken = Object.fromEntries(host.registry.broken.map((b) => [b.dir, b.problem]));
    assert.deepEqual(Object.keys(broken).sort(), ["load-grow", "load-instance", "load-memory"]);
    for (const problem of Object.values(broken)) {
      assert.equal(problem.file, "need_registration.js");
      assert.equal(problem.message, "WebAssembly is not defined");
    }
    assert.deepEqual(host.registry.loaded.map((p) => p.manifest.name).sort(), ["after", "wasm"]);
  });

  it("the host's RSS stays within the 64 MB ceiling after every attack, twice each", () => {
    const grownMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grownMb < 64, `host RSS grew ${Math.round(grownMb)} MB`);
  });
});
