import assert from "node:assert/strict";
import { assertNoHostPaths, startWatchedHost, type WatchedHost } from "./sandbox-host.js";
import { fixture, hostile, statuses } from "./support.js";

// Hostile plugins against the real host (SANDBOX-NOTES, "Resources"). Every attack runs in a
// customize_entity chain ahead of `after`, a well-behaved plugin: the attack must cost only its own
// run, and `after`'s field must still be in the answer. Memory bombs that take V8's fatal
// out-of-memory path run against a child-process host in regressions/fatal-oom-*.test.ts.
const HOOK = "customize_entity";
const SPIN_MS = 200;

const SPINNER = {
  loop: `for (;;) {}`,
  never: `return new Promise(() => {});`,
  loopAfterAwait: `await new Promise((resolve) => resolve(1)); for (;;) {}`,
  loopAfterCapability: `await ctx.store.get("k"); for (;;) {}`,
  microtasks: `const storm = () => Promise.resolve().then(storm); storm(); for (;;) await null;`,
  regex: `return { m: /^(a+)+$/.test("a".repeat(40) + "!") };`,
  throwError: `throw new Error("plain failure");`,
  throwString: `throw "a string";`,
  throwUndefined: `throw undefined;`,
  throwProxy: `throw new Proxy({}, { get() { throw new Error("trap"); }, getPrototypeOf() { throw new Error("trap"); } });`,
  throwSymbolName: `const e = new Error("x"); Object.defineProperty(e, "name", { value: Symbol("evil") }); throw e;`,
  throwThrowingMessage: `const e = new Error("x"); Object.defineProperty(e, "message", { get() { throw new Error("getter"); } }); throw e;`,
  prepareStackTrace: `Error.prepareStackTrace = () => { throw new Error("hijacked"); }; null.x;`,
  recursion: `const f = (n) => f(n + 1) + 1; return f(0);`,
  number: `return 42;`,
  array: `return [1, 2];`,
  string: `return "data";`,
  bigint: `return { n: 1n };`,
  map: `return new Map([["a", 1]]);`,
  date: `return new Date(0);`,
  fn: `return () => 1;`,
  throwingGetter: `return { get boom() { throw new Error("getter"); } };`,
  proxy: `return new Proxy({}, { ownKeys() { throw new Error("trap"); } });`,
  cycle: `const o = {}; o.self = o; return o;`,
  huge: `return { big: "x".repeat(2 * 1024 * 1024) };`,
};

const HOG = {
  push: `const a = []; for (;;) a.push(new Array(1000).fill(a.length));`,
  spread: `let a = [1]; for (;;) a = [...a, ...a, 1];`,
  json: `return { n: JSON.parse("[" + '"abcdefgh",'.repeat(4_000_000) + "0]").length };`,
  buffer: `return { n: new ArrayBuffer(1024 * 1024 * 1024).byteLength };`,
  doubling: `let s = "x"; for (;;) s = s + s;`,
  logFlood: `for (let i = 0; i < 100_000; i++) ctx.log.info("flood " + i, { i }); return { logged: 100000 };`,
};

const PLUGINS = {
  "spinner/plugin.json": { priority: 1, tenants: ["t"], timeouts: { [HOOK]: SPIN_MS }, store: true },
  [`spinner/${HOOK}.js`]: hostile(SPINNER),
  "hog/plugin.json": { priority: 1, tenants: ["mem"], memoryMb: 16, timeouts: { [HOOK]: 5000 } },
  [`hog/${HOOK}.js`]: hostile(HOG),
  "slowpoke/plugin.json": { priority: 1, tenants: ["slow", "fast"], timeouts: { [HOOK]: 1500 } },
  [`slowpoke/${HOOK}.js`]: hostile({ loop: "for (;;) {}" }),
  "after/plugin.json": { priority: 2 },
  [`after/${HOOK}.js`]: `export default () => ({ after: "ran" });`,
  "load-loop/plugin.json": {},
  "load-loop/need_registration.js": `for (;;) {}\nexport default () => ({ result: true });`,
};

const TENANTS = Object.fromEntries(["t", "mem", "slow", "fast"].map((t) => [t, {}]));

describe("sandbox limits: hostile plugins through the real host", function () {
  let host: WatchedHost;
  before(async () => {
    host = await startWatchedHost(PLUGINS, { tenants: TENANTS });
  });
  after(() => host.close());

  const attack = (tenant: string, name?: string) => host.post(tenant, HOOK, { ...fixture(HOOK), ...(name ? { attack: name } : {}) });

  /** The attack failed as `status`, the chain went on, and the error text is returned for more checks. */
  async function expectFailed(tenant: string, plugin: string, name: string, status: "timeout" | "error" | "invalid"): Promise<string> {
    const answer = await attack(tenant, name);
    assert.equal(answer.status, 200, name);
    assert.deepEqual(statuses(answer.trace), [`${plugin};status=${status}`, "after;status=ok"], name);
    assert.deepEqual(answer.body, { state: "success", data: { after: "ran" } }, name);
    const error = host.errors(answer)[plugin];
    assert.ok(error, `${name}: no error logged`);
    assertNoHostPaths(host, answer.body, error);
    return error;
  }

  /** The same plugin, same tenant, answers normally: its sandbox survived or was rebuilt. */
  async function expectServes(tenant: string, plugin: string): Promise<void> {
    const answer = await attack(tenant);
    assert.deepEqual(statuses(answer.trace), [`${plugin};status=ok`, "after;status=ok"]);
    assert.deepEqual(answer.body.data, { hostile: "fine", after: "ran" });
  }

  describe("time", () => {
    for (const name of ["loop", "never", "loopAfterAwait", "loopAfterCapability", "microtasks", "regex"]) {
      it(`${name} → timeout within the plugin's ${SPIN_MS} ms, the next plugin still runs`, async () => {
        const started = Date.now();
        const error = await expectFailed("t", "spinner", name, "timeout");
        assert.ok(Date.now() - started < SPIN_MS + 1000, `answered after ${Date.now() - started} ms`);
        assert.match(error, new RegExp(`did not finish within \\d+ ms`));
        await expectServes("t", "spinner");
      });
    }

    // Judged by order, not by a stopwatch: on a loaded machine any request can take a few hundred
    // ms, but one held up behind the loop cannot answer before the loop's own run has timed out.
    it("a plugin looping for 1.5 s does not hold up other plugins or tenants (they all answer while it still loops)", async () => {
      let loopEnded = Infinity;
      const looping = attack("slow", "loop").then((answer) => ((loopEnded = performance.now()), answer));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the loop is running now
      const others = await Promise.all(
        ["fast", "t", "fast", "t", "fast", "t", "fast", "t"].map(async (tenant) => {
          const answer = await attack(tenant);
          return { tenant, at: performance.now(), loopEnded, status: answer.status, data: answer.body.data, trace: answer.trace };
        }),
      );
      const slow = await looping;
      assert.deepEqual(statuses(slow.trace), ["slowpoke;status=timeout", "after;status=ok"]);
      for (const o of others) {
        assert.equal(o.status, 200);
        assert.equal(o.data.hostile, "fine", `${o.tenant}: ${o.trace.join(",")}`);
        assert.ok(o.loopEnded === Infinity && o.at < loopEnded, `${o.tenant} answered ${Math.round(o.at - loopEnded)} ms after the looping plugin's run ended`);
      }
    });
  });

  describe("throws", () => {
    const expected: Record<string, RegExp> = {
      throwError: /^Error: plain failure$/,
      throwString: /^non-Error thrown: a string$/,
      throwUndefined: /^non-Error thrown: undefined$/,
      throwProxy: /^an unprintable value was thrown$/,
      throwSymbolName: /^Symbol\(evil\): x$/,
      throwThrowingMessage: /^an unprintable value was thrown$/,
      prepareStackTrace: /^TypeError: Cannot read properties of null \(reading 'x'\)$/,
      recursion: /^RangeError: Maximum call stack size exceeded$/,
    };
    for (const [name, pattern] of Object.entries(expected)) {
      it(`${name} → error, the chain goes on`, async () => {
        assert.match(await expectFailed("t", "spinner", name, "error"), pattern);
        await expectServes("t", "spinner");
      });
    }
  });

  describe("results that are not the hook's data", () => {
    const expected: Record<string, ["invalid" | "error", RegExp]> = {
      number: ["invalid", /result does not match customize_entity/],
      array: ["invalid", /result does not match/],
      string: ["invalid", /result does not match/],
      date: ["error", /not \[object Date\]/],
      bigint: ["error", /not JSON-serializable.*BigInt/],
      map: ["error", /must be a plain object, an array or a JSON value, not \[object Map\]/],
      fn: ["error", /not a JSON value/],
      throwingGetter: ["error", /not JSON-serializable: Error: getter/],
      proxy: ["error", /^the result is not JSON-serializable: Error: trap$/],
      cycle: ["error", /not JSON-serializable: TypeError: Converting circular structure/],
      huge: ["error", /larger than 1048576 characters/],
    };
    for (const [name, [status, pattern]] of Object.entries(expected)) {
      it(`${name} → ${status}, the chain goes on`, async () => {
        assert.match(await expectFailed("t", "spinner", name, status), pattern);
        await expectServes("t", "spinner");
      });
    }

    it("results over 1 MiB, again and again, do not blow the host's memory", async () => {
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 10; i++) await expectFailed("t", "spinner", "huge", "error");
      const grown = (process.memoryUsage().rss - before) / 2 ** 20;
      assert.ok(grown < 100, `host RSS grew ${Math.round(grown)} MB`);
    });
  });

  describe("memory (memoryMb 16)", () => {
    const expected: Record<string, RegExp> = {
      push: /^exceeded its memory limit of 16 MB/,
      spread: /^exceeded its memory limit of 16 MB/,
      json: /^exceeded its memory limit of 16 MB/,
      buffer: /^RangeError: Array buffer allocation failed \(memory limit 16 MB\)$/,
      // V8's maximum string length comes before the memory limit: an honest RangeError.
      doubling: /^RangeError: Invalid string length$/,
    };
    for (const [name, pattern] of Object.entries(expected)) {
      it(`${name} → error; the plugin works again on the next call, every time`, async () => {
        for (let i = 0; i < 2; i++) {
          assert.match(await expectFailed("mem", "hog", name, "error"), pattern);
          await expectServes("mem", "hog");
        }
      });
    }

    it("a flood of 100,000 ctx.log.info lines in one run does not crash anything", async () => {
      const answer = await attack("mem", "logFlood");
      assert.deepEqual(statuses(answer.trace), ["hog;status=ok", "after;status=ok"]);
      assert.deepEqual(answer.body.data, { logged: 100000, after: "ran" });
      await expectServes("mem", "hog");
    });
  });

  describe("load time", () => {
    it("an endless loop at module load: the folder is broken, everything else serves", () => {
      const broken = Object.fromEntries(host.registry.broken.map((b) => [b.dir, b.problem]));
      assert.deepEqual(Object.keys(broken), ["load-loop"]);
      assert.match(broken["load-loop"].message, /^loading did not finish within 2000 ms/);
      assert.equal(broken["load-loop"].file, "need_registration.js");
      assert.deepEqual(
        host.registry.loaded.map((p) => p.manifest.name),
        ["hog", "slowpoke", "spinner", "after"],
      );
    });
  });

  it("still answers a normal request after all of it", async () => {
    await expectServes("t", "spinner");
    await expectServes("mem", "hog");
    const gate = await host.post("t", "need_registration", fixture("need_registration"));
    assert.deepEqual(gate.body, { state: "success", data: { result: true } });
  });
});
