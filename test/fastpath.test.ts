import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadPlugin } from "../core/discovery.js";
import { Sandbox, type Capability, type CapabilityCall, type LogLevel, type RunMeta, type RunOutcome, type SandboxOptions } from "../sandbox/index.js";
import { fixture, hostile, pluginsDir } from "./support.js";

// The sync call mode (SandboxOptions.sync, for lane processes) against the async one, on the same
// plugins: every outcome a hostile plugin can get is the same in both, and what only the sync mode
// does (answer inside run(), go on asynchronously when the plugin awaits the host) keeps the order
// and the request's identity. Attacks that end in V8's fatal out-of-memory path or ignore
// termination park the calling thread in sync mode: they cost a lane, and are tested as such there.
const HOOK = "customize_entity";
const LIMIT_MS = 300;
// the attacks that end at their time limit; the others get a deadline a loaded machine cannot reach
const SPINNING = new Set(["loop", "never", "loopAfterAwait", "loopAfterCapability", "microtasks"]);

const ATTACKS = {
  loop: `for (;;) {}`,
  never: `return new Promise(() => {});`,
  loopAfterAwait: `await new Promise((resolve) => resolve(1)); for (;;) {}`,
  loopAfterCapability: `await ctx.store.get("k"); for (;;) {}`,
  microtasks: `const storm = () => Promise.resolve().then(storm); storm(); for (;;) await null;`,
  throwError: `throw new Error("plain failure");`,
  throwProxy: `throw new Proxy({}, { get() { throw new Error("trap"); }, getPrototypeOf() { throw new Error("trap"); } });`,
  recursion: `const f = (n) => f(n + 1) + 1; return f(0);`,
  map: `return new Map([["a", 1]]);`,
  cycle: `const o = {}; o.self = o; return o;`,
  huge: `return { big: "x".repeat(2 * 1024 * 1024) };`,
  buffer: `return { n: new ArrayBuffer(1024 * 1024 * 1024).byteLength };`,
  cancel: `return cancel("r".repeat(5000));`,
  pollute: `Object.prototype.timeout = 1; Object.prototype.promise = true; JSON.stringify = () => "{}"; String.prototype.slice = () => ""; return { polluted: "yes" };`,
  // what the options of the crossings back to the host could be read from, in this realm
  polluteCrossings: `for (const k of ["timeout", "promise", "result", "arguments", "copy", "reference"]) { Object.prototype[k] = 1; Array.prototype[k] = 1; } ctx.log.info("polluted"); return { got: await ctx.store.get("k") };`,
  thenable: `return { then(resolve) { resolve({ via: "then" }); } };`,
  stored: `return { got: await ctx.store.get("k") };`,
  logged: `ctx.log.info("before"); await ctx.store.get("k"); ctx.log.info("after"); return { logged: 2 };`,
  logFlood: `for (let i = 0; i < 10_000; i++) ctx.log.info("flood " + i); return { logged: 10000 };`,
};

// Not async: a plain result is there when the call returns, with no microtask to wait for.
const PLAIN = `let runs = 0;
export default (input, ctx) => {
  runs++;
  if (input.attack === "count") return { runs };
  if (input.attack === "forget") { ctx.store.get("forgotten"); return { forgot: true }; }
  if (input.attack === "log") { ctx.log.warn("plain", { n: runs }); return { logged: 1 }; }
  if (input.attack === "loop") for (;;) {}
  if (input.attack === "ctx") {
    const seen = JSON.parse(JSON.stringify({ tenant: ctx.tenant, hook: ctx.hook, plugin: ctx.plugin, config: ctx.config, data: ctx.data }));
    ctx.config.list.push("changed by a run");
    return seen;
  }
  return { plain: true };
};`;

interface Line {
  level: LogLevel;
  message: string;
  run: RunMeta | undefined;
}

describe("sandbox sync call mode (lane processes)", function () {
  this.timeout(60_000);
  let dir: string;
  let code: { hostile: Sandbox["code"]; plain: Sandbox["code"] };
  const sandboxes: Sandbox[] = [];
  const storeCalls: { key: unknown; call: CapabilityCall }[] = [];
  // answers after a turn of the event loop, so an awaiting run really goes on asynchronously
  const store: Capability = {
    get: (call, args) => {
      storeCalls.push({ key: args[0], call });
      return new Promise((resolve) => setTimeout(() => resolve(`value of ${String(args[0])}`), 20));
    },
  };

  before(async () => {
    dir = pluginsDir({
      "hostile/plugin.json": { store: true },
      [`hostile/${HOOK}.js`]: hostile(ATTACKS),
      "plain/plugin.json": { store: true },
      [`plain/${HOOK}.js`]: PLAIN,
    });
    const limits = { memoryMb: () => 16 };
    code = { hostile: (await loadPlugin(join(dir, "hostile"), limits)).code, plain: (await loadPlugin(join(dir, "plain"), limits)).code };
  });
  after(() => {
    for (const s of sandboxes) s.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  function sandbox(which: keyof typeof code, sync: boolean, options: Partial<SandboxOptions> = {}): { sandbox: Sandbox; lines: Line[] } {
    const lines: Line[] = [];
    const s = new Sandbox(code[which], {
      tenant: "t",
      memoryMb: 16,
      loadTimeoutMs: 2000,
      capabilities: { store },
      allowHosts: [],
      sync,
      onLog: (level, message, _fields, run) => lines.push({ level, message, run }),
      ...options,
    });
    sandboxes.push(s);
    return { sandbox: s, lines };
  }

  function run(s: Sandbox, attack: string | undefined, requestId = "r1", limitMs = attack && !SPINNING.has(attack) ? 10_000 : LIMIT_MS): Promise<RunOutcome> {
    return s.run({
      hook: HOOK,
      inputJson: JSON.stringify({ ...fixture(HOOK), ...(attack ? { attack } : {}) }),
      overlayJson: "{}",
      ctxJson: JSON.stringify({ tenant: "t", hook: HOOK, plugin: "p", config: {}, data: {} }),
      deadline: Date.now() + limitMs,
      meta: { hook: HOOK, requestId },
    });
  }

  /** The outcome with the ms figures in its text masked: they differ from run to run. */
  const shape = (o: RunOutcome) => JSON.parse(JSON.stringify(o).replace(/\d+ ms/g, "N ms"));

  for (const attack of Object.keys(ATTACKS)) {
    it(`${attack}: the same outcome as an async run, and the sandbox serves the next run`, async () => {
      const a = sandbox("hostile", false);
      const s = sandbox("hostile", true);
      // built first, so the attack meets a sync call and not the build
      assert.deepEqual(await run(s.sandbox, undefined), { status: "ok", value: { hostile: "fine" } });
      assert.deepEqual(await run(a.sandbox, undefined), { status: "ok", value: { hostile: "fine" } });
      const [asyncOutcome, syncOutcome] = [await run(a.sandbox, attack), await run(s.sandbox, attack)];
      // a promise storm fills 16 MB in about the run's 300 ms: whichever limit comes first stops it
      if (attack === "microtasks") assert.match(JSON.stringify(syncOutcome), /did not finish within|exceeded its memory limit/);
      else assert.deepEqual(shape(syncOutcome), shape(asyncOutcome));
      assert.deepEqual(await run(s.sandbox, undefined), { status: "ok", value: { hostile: "fine" } });
      if (attack === "pollute") assert.deepEqual(syncOutcome, { status: "ok", value: { polluted: "yes" } });
      if (attack === "loop") assert.equal(syncOutcome.status, "timeout");
    });
  }

  it("a plain result is answered inside run(): its log line reached the host before run() returned", async () => {
    const { sandbox: s, lines } = sandbox("plain", true);
    await run(s, undefined);
    const pending = run(s, "log", "r-log");
    assert.deepEqual(lines.map((l) => [l.message, l.run?.requestId]), [["plain", "r-log"]]);
    assert.deepEqual(await pending, { status: "ok", value: { logged: 1 } });
  });

  it("log lines before and after an awaited capability carry the run's request id", async () => {
    const { sandbox: s, lines } = sandbox("hostile", true);
    await run(s, undefined);
    assert.deepEqual(await run(s, "logged", "r-cap"), { status: "ok", value: { logged: 2 } });
    assert.deepEqual(lines.map((l) => [l.message, l.run?.requestId]), [["before", "r-cap"], ["after", "r-cap"]]);
  });

  it("a run that awaits a capability holds the sandbox: the next run starts after it has answered", async () => {
    const { sandbox: s } = sandbox("hostile", true);
    await run(s, undefined);
    const order: string[] = [];
    const first = run(s, "stored", "first").then((o) => (order.push("first"), o));
    const second = run(s, undefined, "second").then((o) => (order.push("second"), o));
    assert.deepEqual(await first, { status: "ok", value: { got: "value of k" } });
    assert.deepEqual(await second, { status: "ok", value: { hostile: "fine" } });
    assert.deepEqual(order, ["first", "second"]);
  });

  it("a capability call that is not awaited still reaches the capability, as part of its run", async () => {
    const { sandbox: s } = sandbox("plain", true);
    await run(s, undefined);
    const before = storeCalls.length;
    assert.deepEqual(await run(s, "forget"), { status: "ok", value: { forgot: true } });
    const made = storeCalls.slice(before);
    assert.deepEqual(made.map((c) => c.key), ["forgotten"]);
    assert.equal(made[0].call.signal.aborted, true, "the run has ended, so its call is aborted");
  });

  it("a timed-out sync run loses its isolate: the next run starts on a fresh one", async () => {
    const { sandbox: s } = sandbox("plain", true);
    await run(s, undefined);
    assert.deepEqual(await run(s, "count"), { status: "ok", value: { runs: 2 } });
    assert.equal((await run(s, "loop")).status, "timeout");
    assert.deepEqual(await run(s, "count"), { status: "ok", value: { runs: 1 } });
  });

  it("the log rate limit holds inside the isolate in sync mode, and the dropped lines are counted", async () => {
    let dropped = 0;
    const { sandbox: s, lines } = sandbox("hostile", true, { logLimit: { perSecond: 50, burst: 200, onDropped: (n) => (dropped += n) } });
    await run(s, undefined);
    const started = performance.now();
    assert.deepEqual(await run(s, "logFlood"), { status: "ok", value: { logged: 10000 } });
    // the burst, and what the bucket refilled while the run went on (slowly, on a loaded machine)
    const allowed = 200 + Math.ceil(((performance.now() - started) / 1000) * 50);
    assert.ok(lines.length <= allowed, `${lines.length} lines crossed; at most ${allowed} may`);
    assert.equal(lines.length + dropped, 10_000);
  });

  it("ctx's fixed part given once (configJson): each run gets tenant, hook, plugin, its own copy of the config, and its data", async () => {
    const { sandbox: s } = sandbox("plain", true, { configJson: JSON.stringify({ list: ["a"] }) });
    const request = (data: object) => ({
      hook: HOOK,
      inputJson: JSON.stringify({ ...fixture(HOOK), attack: "ctx" }),
      overlayJson: "{}",
      dataJson: JSON.stringify(data),
      deadline: Date.now() + LIMIT_MS,
      meta: { hook: HOOK },
    });
    const expected = (data: object) => ({ status: "ok", value: { tenant: "t", hook: HOOK, plugin: "plain", config: { list: ["a"] }, data } });
    assert.deepEqual(await s.run(request({ n: 1 })), expected({ n: 1 }));
    assert.deepEqual(await s.run(request({ n: 2 })), expected({ n: 2 }), "a change to ctx.config reached the next run");
  });

  it("a run that sends ctx.data alone to a sandbox built without configJson is refused, naming what is missing", async () => {
    const { sandbox: s } = sandbox("plain", true);
    const outcome = await s.run({ hook: HOOK, inputJson: "{}", overlayJson: "{}", dataJson: "{}", deadline: Date.now() + LIMIT_MS, meta: { hook: HOOK } });
    assert.deepEqual(outcome, { status: "error", error: "a run with dataJson needs a sandbox built with configJson" });
  });

  it("a disposed sync sandbox answers with an error and runs nothing", async () => {
    const { sandbox: s, lines } = sandbox("plain", true);
    await run(s, undefined);
    s.dispose();
    assert.deepEqual(await run(s, "log"), { status: "error", error: "sandbox disposed" });
    assert.equal(lines.length, 0);
  });
});
