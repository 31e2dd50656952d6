import ivm from "isolated-vm";
import { BOOTSTRAP } from "./bootstrap.js";
import type { Capability, CapabilityCall } from "./capabilities/types.js";
import { CapabilityError } from "./capabilities/types.js";

/** A plugin's code as discovery prepared it: plain JavaScript modules keyed by their path inside the folder. */
export interface PluginCode {
  name: string;
  /** path → compiled JS and its import specifiers, already resolved to paths inside the folder */
  modules: Record<string, { code: string; imports: Record<string, string> }>;
  /** hook name → path of the module whose default export is the hook */
  hooks: Record<string, string>;
}

export interface SandboxOptions {
  tenant: string;
  memoryMb: number;
  /** budget for evaluating the plugin's modules when the isolate is built */
  loadTimeoutMs: number;
  /** granted capabilities by name (`records`, `http`, `store`); absent ones never reach `ctx` */
  capabilities: Record<string, Capability>;
  recordsDir?: string;
  allowHosts: string[];
  /** receives the plugin's `ctx.log.*` lines */
  onLog(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, run: RunMeta | undefined): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** What the host knows about one hook run; handed back with the plugin's log lines. */
export interface RunMeta {
  hook: string;
  requestId?: string;
}

export interface RunRequest {
  hook: string;
  /** the hook's input, already JSON */
  inputJson: string;
  /** tenant, hook, plugin, config, data for `ctx`, already JSON */
  ctxJson: string;
  /** epoch ms by which the run must settle, queueing included */
  deadline: number;
  meta: RunMeta;
}

export type RunOutcome =
  | { status: "ok"; value: unknown }
  | { status: "skip" }
  | { status: "cancel"; reason: string }
  | { status: "error"; error: string }
  | { status: "timeout"; error: string };

/** Largest JSON result a hook may return; capped inside the isolate, before it is copied out. */
export const MAX_RESULT_CHARS = 1024 * 1024;
/** Calls allowed to wait for one sandbox; beyond it a call fails at once instead of piling up. */
export const MAX_QUEUED = 256;
/** Fraction of the heap limit above which an isolate is rebuilt between calls, before it dies. */
const RECYCLE_AT = 0.7;

interface Live {
  isolate: ivm.Isolate;
  context: ivm.Context;
  run: ivm.Reference<(hook: string, input: string, ctx: string) => Promise<string>>;
}

interface Current {
  meta: RunMeta;
  deadline: number;
  abort: AbortController;
}

/**
 * One isolate for one tenant × plugin. Built lazily, fed one call at a time (overlapping calls
 * fill an isolate's heap with garbage faster than it collects: PERF-NOTES), killed when a run
 * exceeds its time or memory, and rebuilt on the next call.
 */
export class Sandbox {
  private live: Promise<Live> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private current: Current | undefined;
  private disposed = false;

  constructor(readonly code: PluginCode, private readonly options: SandboxOptions) {}

  /** Whether an isolate is currently built (for accounting; a sandbox rebuilds on demand). */
  get alive(): boolean {
    return this.live !== undefined;
  }

  run(request: RunRequest): Promise<RunOutcome> {
    if (this.disposed) return Promise.resolve({ status: "error", error: "sandbox disposed" });
    if (this.queued >= MAX_QUEUED) {
      return Promise.resolve({ status: "error", error: `more than ${MAX_QUEUED} calls waiting for this plugin` });
    }
    this.queued++;
    const outcome = this.tail.then(() => this.runNow(request)).finally(() => this.queued--);
    this.tail = outcome;
    return outcome;
  }

  /** Builds the isolate and evaluates every module: the load-time check discovery uses. */
  async load(): Promise<void> {
    await this.ensure();
  }

  dispose(): void {
    this.disposed = true;
    this.kill();
  }

  /** No call running or waiting: unloading it now loses nothing but its state. */
  get idle(): boolean {
    return this.queued === 0;
  }

  /** Frees the isolate; the next call rebuilds it from scratch (plugin state is gone). */
  unload(): void {
    if (this.idle) this.kill();
  }

  private async runNow(request: RunRequest): Promise<RunOutcome> {
    const left = request.deadline - Date.now();
    if (left <= 0) return { status: "timeout", error: "time limit reached before the run could start" };
    if (this.disposed) return { status: "error", error: "sandbox disposed" };
    const current: Current = { meta: request.meta, deadline: request.deadline, abort: new AbortController() };
    this.current = current;
    let timedOut = false;
    // isolated-vm's own timeout covers synchronous code only; this timer also covers promises
    // that never settle and loops after an awaited capability: killing the isolate ends both.
    const timer = setTimeout(() => {
      timedOut = true;
      this.kill();
    }, left);
    try {
      const live = await this.ensure();
      const answer = await live.run.apply(undefined, [request.hook, request.inputJson, request.ctxJson], {
        timeout: Math.max(1, request.deadline - Date.now()),
        result: { promise: true },
      });
      await this.recycleIfFull(live);
      return parseAnswer(answer as string);
    } catch (e) {
      const limit = this.options.memoryMb;
      if (timedOut || isTimeoutError(e)) {
        this.kill();
        return { status: "timeout", error: `did not finish within ${Math.max(0, left)} ms` };
      }
      const message = errorMessage(e);
      if (/memory limit/i.test(message) || this.deadIsolate()) {
        this.kill();
        return { status: "error", error: `exceeded its memory limit of ${limit} MB` };
      }
      return { status: "error", error: message };
    } finally {
      clearTimeout(timer);
      current.abort.abort();
      if (this.current === current) this.current = undefined;
    }
  }

  private deadIsolate(): boolean {
    return this.liveIsolate?.isDisposed ?? false;
  }

  private liveIsolate: ivm.Isolate | undefined;

  private ensure(): Promise<Live> {
    this.live ??= this.build().catch((e) => {
      this.kill();
      throw e;
    });
    return this.live;
  }

  private async build(): Promise<Live> {
    const isolate = new ivm.Isolate({ memoryLimit: this.options.memoryMb });
    this.liveIsolate = isolate;
    const context = await isolate.createContext();
    const logRef = new ivm.Reference((level: LogLevel, message: string, fields: string) => this.onLog(level, message, fields));
    const capRef = new ivm.Reference((name: string, method: string, args: string) => this.callCapability(name, method, args));
    const grants: Record<string, string[]> = {};
    for (const [name, capability] of Object.entries(this.options.capabilities)) grants[name] = Object.keys(capability);
    const fns = await context.evalClosure(BOOTSTRAP, [logRef, capRef, JSON.stringify(grants), MAX_RESULT_CHARS], {
      result: { reference: true },
    });
    const register = (await fns.get(0, { reference: true })) as ivm.Reference<(hook: string, fn: unknown) => void>;
    const run = (await fns.get(1, { reference: true })) as Live["run"];
    const loaded = new Map<string, ivm.Module>();
    const pathOf = new Map<ivm.Module, string>();
    const compile = async (path: string): Promise<ivm.Module> => {
      const existing = loaded.get(path);
      if (existing) return existing;
      const source = this.code.modules[path];
      if (!source) throw new Error(`module ${path} is not part of plugin ${this.code.name}`);
      const module = await isolate.compileModule(source.code, { filename: `hookhost://${this.code.name}/${path}` }).catch((e: unknown) => {
        throw new Error(`${path}: ${errorMessage(e)}`, { cause: e });
      });
      loaded.set(path, module);
      pathOf.set(module, path);
      return module;
    };
    const loadHook = async (hook: string, path: string): Promise<void> => {
      const module = await compile(path);
      await module.instantiate(context, (specifier, referrer) => {
        const from = pathOf.get(referrer) ?? path;
        const target = this.code.modules[from]?.imports[specifier];
        if (target === undefined) throw new Error(`${from}: cannot import "${specifier}"`);
        return compile(target);
      });
      await module.evaluate({ timeout: Math.max(1, loadUntil - Date.now()), promise: true });
      const fn = await module.namespace.get("default", { reference: true });
      await register.apply(undefined, [hook, fn.derefInto()]);
    };
    const loadUntil = Date.now() + this.options.loadTimeoutMs;
    // Module evaluation gets its own budget: top-level loops and never-settling top-level awaits end here.
    const timer = setTimeout(() => isolate.dispose(), this.options.loadTimeoutMs);
    try {
      for (const [hook, path] of Object.entries(this.code.hooks)) {
        await loadHook(hook, path).catch((e: unknown) => {
          const message = errorMessage(e);
          throw new Error(/^\S+\.(ts|js|mjs): /.test(message) ? message : `${path}: ${message}`, { cause: e });
        });
      }
    } catch (e) {
      if (isolate.isDisposed || Date.now() >= loadUntil) {
        throw new Error(`loading did not finish within ${this.options.loadTimeoutMs} ms or exceeded the memory limit of ${this.options.memoryMb} MB`);
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return { isolate, context, run };
  }

  private async recycleIfFull(live: Live): Promise<void> {
    const heap = live.isolate.getHeapStatisticsSync();
    if (heap.used_heap_size > heap.heap_size_limit * RECYCLE_AT) this.kill();
  }

  private kill(): void {
    const isolate = this.liveIsolate;
    this.live = undefined;
    this.liveIsolate = undefined;
    this.current?.abort.abort();
    if (isolate && !isolate.isDisposed) isolate.dispose();
  }

  private onLog(level: LogLevel, message: string, fields: string): void {
    let parsed: Record<string, unknown> | undefined;
    if (fields) {
      const value: unknown = JSON.parse(fields);
      parsed = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { fields: value };
    }
    this.options.onLog(level, message, parsed, this.current?.meta);
  }

  /** The one place a capability call crosses back into the host; it never throws into the isolate. */
  private async callCapability(name: string, method: string, args: string): Promise<string> {
    const current = this.current;
    if (!current) return JSON.stringify({ error: "called outside a hook run" });
    const fn = this.options.capabilities[name]?.[method];
    if (!fn) return JSON.stringify({ error: "not granted" });
    const call: CapabilityCall = {
      tenant: this.options.tenant,
      plugin: this.code.name,
      hook: current.meta.hook,
      recordsDir: this.options.recordsDir,
      allowHosts: this.options.allowHosts,
      deadline: current.deadline,
      signal: current.abort.signal,
    };
    try {
      const value = await fn(call, JSON.parse(args) as unknown[]);
      return JSON.stringify({ value });
    } catch (e) {
      return JSON.stringify({ error: e instanceof CapabilityError ? e.message : "internal error" });
    }
  }
}

function parseAnswer(answer: string): RunOutcome {
  const parsed = JSON.parse(answer) as { t: string; v?: unknown; reason?: string; message?: string };
  switch (parsed.t) {
    case "ok":
      return { status: "ok", value: parsed.v };
    case "skip":
      return { status: "skip" };
    case "cancel":
      return { status: "cancel", reason: parsed.reason ?? "" };
    default:
      return { status: "error", error: parsed.message ?? "unknown error" };
  }
}

function isTimeoutError(e: unknown): boolean {
  return /Script execution timed out/i.test(errorMessage(e));
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
