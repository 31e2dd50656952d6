import { writeSync } from "node:fs";
import ivm from "isolated-vm";
import { BOOTSTRAP } from "./bootstrap.js";
import type { Capability, CapabilityCall } from "./capability.js";
import { CapabilityError } from "./capability.js";

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
  /** the levels whose `ctx.log` lines leave the isolate (the others are dropped inside it); all by default */
  logLevels?: readonly LogLevel[];
  /** a token bucket for `ctx.log` lines inside the isolate; `onDropped` gets the count of lines it dropped */
  logLimit?: { perSecond: number; burst: number; onDropped(count: number): void };
  /**
   * Calls into the isolate synchronously (applySync): a run costs ~20 µs of CPU instead of ~120 µs,
   * and needs no timer unless the plugin awaits a capability. Only for a process whose loss costs
   * nothing but itself (a lane): a fatal V8 error, or code that ignores termination, inside a sync
   * call parks the calling thread, which is then the process's main thread. Runs that hold the
   * thread too long (judgeHold) make this sandbox call async from then on (`onHeld` is told how
   * long and why): a slow plugin then delays the other tenants of its process once, not on every run.
   */
  sync?: boolean;
  onHeld?(ms: number, reason: string): void;
  /**
   * The plugin's config for this tenant, as JSON. Given, `ctx`'s fixed part (tenant, plugin,
   * config) enters the isolate once, when it is built, and runs send only `dataJson`; each run
   * still gets its own copy of the config.
   */
  configJson?: string;
  /** told around each sync call, so a thread outside this one can name who holds it (a lane's watchdog) */
  watch?: SyncWatch;
  /** told once, with the error text its runs answer from then on, when the sandbox disables itself */
  onDisabled?(reason: string): void;
  /** receives the plugin's `ctx.log.*` lines */
  onLog(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, run: RunMeta | undefined): void;
}

/**
 * Marks a sandbox's sync calls: `enter` before one starts, with its deadline, the ms it was given
 * and the run's meta (whose `chain` names the chain it is part of); `leave` when it has returned.
 */
export interface SyncWatch {
  enter(deadline: number, limitMs: number, meta: RunMeta): void;
  leave(): void;
}

/** The error of the run in which V8 failed fatally with `message`. */
export function fatalRunError(memoryMb: number, message: string): string {
  return `exceeded its memory limit of ${memoryMb} MB (${message}); the plugin is disabled for this tenant until it is reloaded`;
}

/** The error of a run that its time limit of `limitMs` stopped. */
export function timeoutRunError(limitMs: number): string {
  return `did not finish within ${Math.max(0, limitMs)} ms`;
}

/** Why a plugin is disabled after V8 failed fatally in it with `message`. */
export function fatalReason(message: string): string {
  return `V8 failed fatally in this plugin (${message})`;
}

/** The error text of a disabled plugin's runs, for a fault `reason`. */
export function disabledReason(reason: string): string {
  return `disabled: ${reason}; it runs again when the plugin is reloaded`;
}

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What the host knows about one hook run; handed back with the plugin's log lines. */
export interface RunMeta {
  hook: string;
  requestId?: string;
  /** a lane's number for the chain this run is part of: its watchdog names it when the run never returns */
  chain?: number;
}

interface RunRequestBase {
  hook: string;
  /** the connector's input, already JSON: the same string for every plugin of a chain */
  inputJson: string;
  /** keys laid over the input for this plugin (what earlier plugins decided), already JSON */
  overlayJson: string;
  /** epoch ms by which the run must settle, queueing included */
  deadline: number;
  /**
   * the time it was given, as its errors name it: the plugin's limit, or what was left of the
   * chain's budget (by default the time left when it starts, which a busy process has eaten into)
   */
  limitMs?: number;
  meta: RunMeta;
}

export type RunRequest = RunRequestBase &
  (
    | {
        /** tenant, hook, plugin, config, data for `ctx`, already JSON */
        ctxJson: string;
        dataJson?: undefined;
      }
    | {
        /** `ctx.data`, already JSON: the rest of `ctx` was given once (SandboxOptions.configJson) */
        dataJson: string;
        ctxJson?: undefined;
      }
  );

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
/** Capability calls one run may have in flight; the isolate refuses more before they cross. */
export const MAX_CALLS_IN_FLIGHT = 16;
/**
 * A capability call's arguments as JSON, in characters: above the largest any capability accepts
 * (a 1 MiB http body, escaped), and small enough that parsing them never holds the host's main
 * thread for long. Refused inside the isolate before they cross, and again here.
 */
export const MAX_CAPABILITY_ARGS_CHARS = 4 * 1024 * 1024;
// Caps on the text a plugin sends out, in characters: applied inside the isolate, and again on
// this side, since the bootstrap shares its realm with plugin code. A longer text is cut and ends
// with "…".
/** a `ctx.log` message */
export const MAX_LOG_CHARS = 4096;
/** a log line's fields as JSON; larger fields are left out */
export const MAX_LOG_FIELDS_CHARS = 16_384;
/** the error text of a failed run */
export const MAX_ERROR_CHARS = 2000;
export const MAX_CANCEL_REASON_CHARS = 1000;
/** a run's answer: the result's JSON and its envelope */
const MAX_ANSWER_CHARS = MAX_RESULT_CHARS + 16;
/** Fraction of the heap limit above which an isolate is rebuilt between calls, before it dies. */
const RECYCLE_AT = 0.7;
/**
 * How long a stopped run may take to give its thread back (ordinary loops take milliseconds).
 * V8 13.6 grinds on in some allocation loops, ignoring termination, for seconds or until
 * isolated-vm parks the thread for good; such a plugin is disabled like one that hits a fatal error.
 */
const STOP_GRACE_MS = 2000;

export interface MemoryReading {
  heapBytes: number;
  externalBytes: number;
}

const NO_MEMORY: MemoryReading = { heapBytes: 0, externalBytes: 0 };

/** Sync runs that hold the thread longer than this (ms), two within SLOW_RUNS_WINDOW_MS, make their sandbox call async for good. */
const SYNC_HOLD_MS = 20;
const SLOW_RUNS_WINDOW_MS = 60_000;
/**
 * A sandbox's sync runs of HEAVY_RUN_MS up to SYNC_HOLD_MS may hold the thread this long (ms) in
 * all within HELD_SHARE_WINDOW_MS. Quicker runs do not count: a plugin's usual run takes ~20 µs,
 * and a tenant that keeps a lane busy with those is load to be shared, not a hold.
 */
const HELD_SHARE_MS = 200;
const HELD_SHARE_WINDOW_MS = 1000;
const HEAVY_RUN_MS = 1;

/** Calls between two looks at an isolate's heap (a look costs ~5 µs on the event loop). */
const HEAP_CHECK_EVERY = 8;

interface Live {
  isolate: ivm.Isolate;
  /** the answer's promise when called async; with applySync the answer, or null while the plugin awaits the host */
  run: ivm.Reference<(sync: boolean, hook: string, inputPieces: number, overlayPieces: number, dataOnly: boolean, ...pieces: string[]) => Promise<string> | string | null>;
  /** after a sync run answered null: its answer if it settled in that call's microtasks, else null */
  poll: ivm.Reference<() => string | null>;
  /** after poll() answered null: the promise of the run's answer */
  late: ivm.Reference<() => Promise<string>>;
  thread: IsolateThread;
  calls: number;
}

/**
 * The capability calls of one run in flight, each with its own AbortSignal, aborted together when
 * the run ends. One signal shared by every call held a listener per call, and Node's EventTarget
 * walks its listeners on every add: a flood of calls cost the square of its size on the main thread.
 */
class RunCalls {
  private readonly live = new Set<AbortController>();
  private ended = false;

  /** A signal for one more call (already aborted once the run has ended); undefined when MAX_CALLS_IN_FLIGHT are in flight. */
  open(): AbortController | undefined {
    if (this.live.size >= MAX_CALLS_IN_FLIGHT) return undefined;
    const controller = new AbortController();
    if (this.ended) controller.abort();
    else this.live.add(controller);
    return controller;
  }

  close(controller: AbortController): void {
    this.live.delete(controller);
  }

  abort(): void {
    this.ended = true;
    for (const controller of this.live) controller.abort();
    this.live.clear();
  }
}

type Answer = ivm.Reference<(id: number, ...pieces: string[]) => void>;

/** The isolate hit a failure isolated-vm cannot recover from; its message is the run's error. */
class IsolateLost extends Error {}

/**
 * Rejects the calls pending on an isolate when isolated-vm reports it lost. Each call registers
 * and unregisters itself: racing every call against one long-lived promise would keep a reaction
 * per call alive for the isolate's whole life (a leak measured at ~330 bytes a call).
 */
class LossWatch {
  private error: IsolateLost | undefined;
  private readonly waiters = new Set<(e: IsolateLost) => void>();

  fire(error: IsolateLost): void {
    this.error = error;
    for (const reject of this.waiters) reject(error);
    this.waiters.clear();
  }

  /** `work`'s outcome, or the loss if it comes first. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.error) return Promise.reject(this.error);
    return new Promise<T>((resolve, reject) => {
      this.waiters.add(reject);
      work.then(resolve, reject).finally(() => this.waiters.delete(reject));
    });
  }
}

/**
 * An isolate's thread as the host sees it: busy while a call into plugin code has not returned,
 * lost for good when isolated-vm reports a fatal error (the thread is parked, its heap kept).
 */
class IsolateThread {
  readonly loss = new LossWatch();
  private readonly calls = new Set<Promise<void>>();

  /** `call`, a call into plugin code, or the isolate's loss if that comes first. */
  track<T>(call: Promise<T>): Promise<T> {
    const returned = call.then(noop, noop);
    this.calls.add(returned);
    void returned.then(() => this.calls.delete(returned));
    return this.loss.race(call);
  }

  get busy(): boolean {
    return this.calls.size > 0;
  }

  /** Settles when every call has returned; rejects with the loss if the thread never will. */
  free(): Promise<void> {
    return this.loss.race(Promise.all([...this.calls]).then(noop));
  }
}

/**
 * Threads the process cannot join at exit: isolates stopped while plugin code was still running in
 * them (V8 may take seconds to notice, or never), and isolates V8 parked for good.
 */
const unjoinable = new Set<IsolateThread>();

function holdExit(thread: IsolateThread): void {
  if (!process.listeners("exit").includes(exitWithoutJoining)) process.on("exit", exitWithoutJoining);
  unjoinable.add(thread);
  thread.free().then(() => unjoinable.delete(thread), noop);
}

/**
 * At exit isolated-vm's thread pool joins its threads, and a parked one never returns:
 * `process.exit()` would hang for good. While such a thread exists the process ends by SIGKILL,
 * and says so on stderr first (the exit code it would have had is lost).
 */
function exitWithoutJoining(code: number): void {
  if (unjoinable.size === 0) return;
  writeSync(2, `hookhost: exiting by SIGKILL instead of with code ${code}: ${unjoinable.size} sandbox thread(s) stuck in V8 cannot be joined\n`);
  process.kill(process.pid, "SIGKILL");
}

interface Current {
  meta: RunMeta;
  deadline: number;
  /** the run's capability calls in flight; only for sandboxes with capabilities */
  abort: RunCalls | undefined;
  /** plugin code after an awaited capability ran past the deadline (see deliver()) */
  timedOut?: boolean;
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
  /**
   * Set by the first fatal V8 error: each one parks a thread and keeps its heap for good (measured:
   * up to 1.2 GB for a 16 MB isolate), so the sandbox is never rebuilt after one.
   */
  private disabled: string | undefined;
  /** Rejects whoever waits for a stuck thread once the sandbox is disabled. */
  private readonly halted = new LossWatch();
  /** A stopped thread still running plugin code: no new isolate is built until it is back. */
  private previous: IsolateThread | undefined;

  private readonly hasCapabilities: boolean;
  private lastMemory: MemoryReading = NO_MEMORY;
  /** calls are made with applySync; false once runs held the thread too long (judgeHold) */
  private sync: boolean;
  /** when a sync run last held the thread past SYNC_HOLD_MS (Date.now()) */
  private lastSlowRun = -Infinity;
  /** the heavy sync runs' time on the thread (ms) since `shareSince` (Date.now()), a window of HELD_SHARE_WINDOW_MS */
  private heldInShare = 0;
  private shareSince = -Infinity;

  constructor(readonly code: PluginCode, private readonly options: SandboxOptions) {
    this.hasCapabilities = Object.keys(options.capabilities).length > 0;
    this.sync = options.sync === true;
  }

  run(request: RunRequest): Promise<RunOutcome> {
    if (this.disposed) return Promise.resolve({ status: "error", error: "sandbox disposed" });
    if (request.dataJson !== undefined && this.options.configJson === undefined) {
      return Promise.resolve({ status: "error", error: "a run with dataJson needs a sandbox built with configJson" });
    }
    if (this.queued >= MAX_QUEUED) {
      return Promise.resolve({ status: "error", error: `more than ${MAX_QUEUED} calls waiting for this plugin` });
    }
    if (this.sync && this.queued === 0 && this.ready && !this.disabled) return this.runInline(request, this.ready);
    this.queued++;
    const outcome = this.tail.then(() => this.runNow(request)).finally(() => this.queued--);
    this.tail = outcome;
    return outcome;
  }

  /** Calls the isolate async from now on (a sync call of this plugin outlived its limit in another lane). */
  callAsync(): void {
    this.sync = false;
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

  /**
   * What the isolate held at its last heap check (when built, then every few calls): its V8 heap,
   * and memory outside it such as strings handed in; zero when none is built. A fresh reading is
   * not taken here: reading an isolate's heap waits until it is free, so a plugin in a long loop
   * would stall whoever asks (measured: 1.9 s).
   */
  memory(): MemoryReading {
    return this.liveIsolate && !this.liveIsolate.isDisposed ? this.lastMemory : NO_MEMORY;
  }

  /** Frees the isolate; the next call rebuilds it from scratch (plugin state is gone). */
  unload(): void {
    if (this.idle) this.kill();
  }

  /**
   * A sync run on a built, idle isolate, made at once: its outcome, already settled, unless the
   * plugin awaits the host; then it goes on as an async run, holding the queue. isolated-vm's
   * timeout bounds the sync call: no timer is set unless the run goes on.
   */
  private runInline(request: RunRequest, live: Live): Promise<RunOutcome> {
    const left = request.deadline - Date.now();
    if (left <= 0) return Promise.resolve(lateStart());
    const limit = request.limitMs ?? left;
    const current = this.begin(request);
    let answer: string | null;
    try {
      answer = this.callSync(live, request, limit);
    } catch (e) {
      this.end(current);
      return Promise.resolve(this.failure(e, live, limit));
    }
    if (answer !== null) {
      this.end(current);
      return Promise.resolve(this.outcome(answer, live));
    }
    this.queued++;
    const outcome = this.guard(current, left, limit, this.awaitLate(live, request, limit)).finally(() => this.queued--);
    this.tail = outcome;
    return outcome;
  }

  private async runNow(request: RunRequest): Promise<RunOutcome> {
    const left = request.deadline - Date.now();
    if (left <= 0) return lateStart();
    if (this.disposed) return { status: "error", error: "sandbox disposed" };
    if (this.disabled) return { status: "error", error: this.disabled };
    const current = this.begin(request);
    const limit = request.limitMs ?? left;
    return this.guard(current, left, limit, this.attempt(request, limit));
  }

  private begin(request: RunRequest): Current {
    const current: Current = { meta: request.meta, deadline: request.deadline, abort: this.hasCapabilities ? new RunCalls() : undefined };
    this.current = current;
    return current;
  }

  /** The run is over: its capability calls in flight are aborted, and answers to them dropped. */
  private end(current: Current): void {
    current.abort?.abort();
    if (this.current === current) this.current = undefined;
  }

  /** `work`, or the deadline's answer (`left` ms from now; the run was given `limit`) if that comes first; ends the run either way. */
  private async guard(current: Current, left: number, limit: number, work: Promise<RunOutcome>): Promise<RunOutcome> {
    // isolated-vm's own timeout covers synchronous code only, and a call into an isolate that dies
    // badly may never settle: this timer answers at the deadline whatever the isolate does, and
    // killing the isolate ends never-settling promises and loops after an awaited capability.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<RunOutcome>((resolve) => {
      timer = setTimeout(() => {
        // isolated-vm disposes an isolate at its memory limit; if the call has not returned by now,
        // V8 is stuck in an allocation loop that ignores termination (V8 13.6: a giant array fill)
        const overLimit = this.liveIsolate?.isDisposed === true;
        const waiting = this.previous !== undefined;
        this.kill();
        if (overLimit) resolve({ status: "error", error: `exceeded its memory limit of ${this.options.memoryMb} MB and did not stop; answered at its ${limit} ms deadline` });
        else if (waiting) resolve({ status: "timeout", error: `its previous run is still running in V8 after being stopped; waited ${left} ms for it` });
        else resolve({ status: "timeout", error: timeoutRunError(limit) });
      }, left);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
      this.end(current);
    }
  }

  /** One call into the isolate, given `limit` ms; never throws. It may still be settling after its run timed out, so it only ever kills its own isolate. */
  private async attempt(request: RunRequest, limit: number): Promise<RunOutcome> {
    let live: Live | undefined;
    try {
      live = await this.ensure();
      if (this.sync) {
        const answer = this.callSync(live, request, limit);
        return answer === null ? await this.awaitLate(live, request, limit) : this.outcome(answer, live);
      }
      const call = live.run.apply(undefined, [false, request.hook, ...this.pieces(request)], {
        timeout: Math.max(1, request.deadline - Date.now()),
        result: { promise: true },
      });
      return this.outcome(await live.thread.track(call), live);
    } catch (e) {
      return this.failure(e, live, limit);
    }
  }

  /** A sync run: its answer, or null while the plugin awaits the host. Throws what isolated-vm throws. */
  private callSync(live: Live, request: RunRequest, limit: number): string | null {
    const watch = this.options.watch;
    watch?.enter(request.deadline, limit, request.meta);
    const started = performance.now();
    let returned = false;
    try {
      const answer = live.run.applySync(undefined, [true, request.hook, ...this.pieces(request)], { timeout: Math.max(1, request.deadline - Date.now()) });
      const settled = answer !== null ? (answer as string) : live.poll.applySync(undefined, [], { timeout: Math.max(1, request.deadline - Date.now()) });
      returned = true;
      return settled;
    } finally {
      watch?.leave();
      this.judgeHold(performance.now() - started, live.calls === 0, returned);
    }
  }

  /**
   * Whether sync runs held the thread too long: a run past SYNC_HOLD_MS that its time limit stopped
   * (or that threw), a second run past SYNC_HOLD_MS within SLOW_RUNS_WINDOW_MS, or heavy runs under
   * it holding it over HELD_SHARE_MS in all within a window. One slow run is not enough: on a busy
   * machine a run of 20 µs is sometimes descheduled for longer, and a fresh isolate's first run
   * also compiles the plugin. Quick runs between two slow ones do not excuse them (a plugin slow on
   * every other run would stay on the thread for good), and a flood of runs just under
   * SYNC_HOLD_MS is one long hold for whoever is queued behind it.
   */
  private judgeHold(ms: number, first: boolean, returned: boolean): void {
    if (!this.sync || ms < HEAVY_RUN_MS) return;
    const now = Date.now();
    if (ms <= SYNC_HOLD_MS) {
      if (now - this.shareSince > HELD_SHARE_WINDOW_MS) {
        this.shareSince = now;
        this.heldInShare = 0;
      }
      this.heldInShare += ms;
      if (this.heldInShare > HELD_SHARE_MS) this.callAsyncFor(this.heldInShare, `its runs held the thread over ${HELD_SHARE_MS} ms within a second`);
      return;
    }
    if (first && returned) return;
    if (!returned) return this.callAsyncFor(ms, `a run held the thread past ${SYNC_HOLD_MS} ms and was stopped, or threw`);
    if (now - this.lastSlowRun <= SLOW_RUNS_WINDOW_MS) return this.callAsyncFor(ms, `two runs held the thread past ${SYNC_HOLD_MS} ms within a minute`);
    this.lastSlowRun = now;
  }

  private callAsyncFor(ms: number, reason: string): void {
    this.callAsync();
    this.options.onHeld?.(Math.round(ms), reason);
  }

  /** The rest of a sync run whose plugin awaits the host, as an async run; never throws. */
  private async awaitLate(live: Live, request: RunRequest, limit: number): Promise<RunOutcome> {
    try {
      const call = live.late.apply(undefined, [], { timeout: Math.max(1, request.deadline - Date.now()), result: { promise: true } });
      return this.outcome(await live.thread.track(call), live);
    } catch (e) {
      return this.failure(e, live, limit);
    }
  }

  /** The run's arguments after the hook: the piece counts of input and overlay, whether ctx comes as data alone, then input, overlay and ctx (or data) in pieces. */
  private pieces(request: RunRequest): [number, number, boolean, ...string[]] {
    const input = inputPieces(request.inputJson);
    const overlay = pieces(request.overlayJson);
    const dataOnly = request.dataJson !== undefined;
    return [input.length, overlay.length, dataOnly, ...input, ...overlay, ...pieces(dataOnly ? request.dataJson : request.ctxJson)];
  }

  private outcome(answer: unknown, live: Live): RunOutcome {
    if (++live.calls % HEAP_CHECK_EVERY === 0) this.recycleIfFull(live.isolate);
    const outcome = parseAnswer(answer);
    // isolated-vm's allocator refuses buffers past the memory limit with V8's generic message.
    if (outcome.status === "error" && outcome.error.startsWith("RangeError: Array buffer allocation failed")) {
      outcome.error += ` (memory limit ${this.options.memoryMb} MB)`;
    }
    return outcome;
  }

  /** What a call that threw means for the run; kills the isolate when it is spent. */
  private failure(e: unknown, live: Live | undefined, limit: number): RunOutcome {
    if (e instanceof IsolateLost) return { status: "error", error: e.message };
    if (isTimeoutError(e) || this.current?.timedOut) {
      this.kill(live?.isolate);
      return { status: "timeout", error: timeoutRunError(limit) };
    }
    const message = errorMessage(e);
    if (/memory limit/i.test(message) || live?.isolate.isDisposed) {
      this.kill(live?.isolate);
      return { status: "error", error: `exceeded its memory limit of ${this.options.memoryMb} MB` };
    }
    return { status: "error", error: cut(message, MAX_ERROR_CHARS) };
  }

  private liveIsolate: ivm.Isolate | undefined;
  /** the live isolate once built: a sync run needs it without awaiting */
  private ready: Live | undefined;

  private ensure(): Promise<Live> {
    if (!this.live) {
      const building: Promise<Live> = this.build().then(
        (live) => {
          if (this.live === building) this.ready = live;
          return live;
        },
        (e: unknown) => {
          if (this.live === building) this.live = undefined;
          throw e;
        },
      );
      this.live = building;
    }
    return this.live;
  }

  private async build(): Promise<Live> {
    // One thread per sandbox at a time: a stopped isolate whose thread still runs is waited for, so
    // a plugin cannot start a second unstoppable allocation loop beside the first.
    if (this.previous) {
      await this.halted.race(this.previous.free()).catch((e: unknown) => {
        throw new IsolateLost(this.disabled ?? errorMessage(e));
      });
      this.previous = undefined;
    }
    const thread = new IsolateThread();
    // Some allocations (a huge string flattened, a giant array, a Map rehash) hit V8's fatal
    // out-of-memory path, which aborts the whole process unless this handler is set; with it,
    // isolated-vm parks the isolate's thread for good and the isolate is lost (SANDBOX-NOTES #527).
    // isolated-vm also parks a thread that ignores termination for 5 s after a call's timeout
    // ("Script failed to terminate"), which V8 13.6 does in some allocation loops.
    const isolate: ivm.Isolate = new ivm.Isolate({
      memoryLimit: this.options.memoryMb,
      onCatastrophicError: (message) => {
        holdExit(thread);
        thread.loss.fire(new IsolateLost(fatalRunError(this.options.memoryMb, message)));
        this.kill(isolate);
        this.disable(fatalReason(message));
      },
    });
    threadOf.set(isolate, thread);
    this.liveIsolate = isolate;
    try {
      const calls = await this.prepare(isolate, thread);
      this.readHeap(isolate);
      return { isolate, ...calls, thread, calls: 0 };
    } catch (e) {
      this.kill(isolate);
      throw e;
    }
  }

  /** Evaluates the bootstrap and every hook module; within the load budget or not at all. */
  private async prepare(isolate: ivm.Isolate, thread: IsolateThread): Promise<Pick<Live, "run" | "poll" | "late">> {
    const context = await isolate.createContext();
    // WebAssembly memory lives outside the isolate's heap and its memory limit (a plugin under
    // memoryMb 64 kept 1 GiB): plugins get no WebAssembly at all, taken before any of their code runs.
    await context.global.delete("WebAssembly");
    const logRef = new ivm.Reference((dropped: unknown, level?: unknown, message?: unknown, fields?: unknown) => this.onLog(dropped, level, message, fields));
    let answer: Answer | undefined;
    const capRef = new ivm.Reference((id: unknown, name: unknown, method: unknown, args: unknown) => {
      const current = this.current;
      void this.callCapability(name, method, args).then((json) => this.deliver(isolate, thread, answer, current, id, json));
    });
    const grants: Record<string, string[]> = {};
    for (const [name, capability] of Object.entries(this.options.capabilities)) grants[name] = Object.keys(capability);
    const fixed = this.options.configJson === undefined ? null : { tenant: this.options.tenant, plugin: this.code.name, configJson: this.options.configJson };
    const fns = await context.evalClosure(BOOTSTRAP, [logRef, capRef, JSON.stringify(grants), JSON.stringify(this.bootstrapLimits()), JSON.stringify(fixed)], {
      result: { reference: true },
    });
    const register = (await fns.get(0, { reference: true })) as ivm.Reference<(hook: string, fn: unknown) => void>;
    const run = (await fns.get(1, { reference: true })) as Live["run"];
    answer = (await fns.get(2, { reference: true })) as Answer;
    const poll = (await fns.get(3, { reference: true })) as Live["poll"];
    const late = (await fns.get(4, { reference: true })) as Live["late"];
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
      await thread.track(module.evaluate({ timeout: Math.max(1, loadUntil - Date.now()), promise: true }));
      const fn = await module.namespace.get("default", { reference: true });
      await register.apply(undefined, [hook, fn.derefInto()]);
    };
    let loading = "";
    const loadAll = async (): Promise<void> => {
      for (const [hook, path] of Object.entries(this.code.hooks)) {
        loading = path;
        await loadHook(hook, path).catch((e: unknown) => {
          // what a module throws at load is plugin text: cut like a run's error
          const message = cut(errorMessage(e), MAX_ERROR_CHARS);
          throw new Error(/^\S+\.(ts|js|mjs): /.test(message) ? message : `${path}: ${message}`, { cause: e });
        });
      }
    };
    const loadUntil = Date.now() + this.options.loadTimeoutMs;
    const tooLong = () => `${loading}: loading did not finish within ${this.options.loadTimeoutMs} ms or exceeded the memory limit of ${this.options.memoryMb} MB`;
    // Module evaluation gets its own budget: top-level loops and never-settling top-level awaits
    // end here, and so does an evaluation the dying isolate never settles.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(tooLong())), this.options.loadTimeoutMs);
    });
    try {
      await thread.loss.race(Promise.race([loadAll(), expired]));
    } catch (e) {
      if (e instanceof IsolateLost) throw new Error(`${loading}: ${e.message}`, { cause: e });
      if (isolate.isDisposed || Date.now() >= loadUntil) throw new Error(tooLong(), { cause: e });
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return { run, poll, late };
  }

  /**
   * Hands a capability's answer to the plugin inside a call timed to the run's deadline, so the
   * plugin code that goes on after `await ctx.…` runs under isolated-vm's timeout like the rest of
   * the run. Resolved any other way, it ran untimed: an allocation loop there ignored termination
   * for a minute and kept 1.2 GB (measured). An answer whose run has ended is dropped: no plugin
   * code runs outside a run.
   */
  private deliver(isolate: ivm.Isolate, thread: IsolateThread, answer: Answer | undefined, current: Current | undefined, id: unknown, json: string): void {
    if (!answer || !current || this.current !== current || isolate.isDisposed || typeof id !== "number") return;
    const call = answer.apply(undefined, [id, ...pieces(json)], { timeout: Math.max(1, current.deadline - Date.now()) });
    thread.track(call).catch((e: unknown) => {
      if (!isTimeoutError(e)) return;
      // the run's own call fails when the isolate goes: it is a timeout, not a lost isolate
      current.timedOut = true;
      this.kill(isolate);
    });
  }

  /** Reads the heap of an idle isolate (a call just ended, or it was just built), for memory(). */
  private readHeap(isolate: ivm.Isolate): ivm.HeapStatistics | undefined {
    if (isolate.isDisposed) return undefined;
    const heap = isolate.getHeapStatisticsSync();
    this.lastMemory = { heapBytes: heap.used_heap_size, externalBytes: heap.externally_allocated_size };
    return heap;
  }

  /** Rebuilds the isolate between calls when its heap is nearly full, before it dies in a call. */
  private recycleIfFull(isolate: ivm.Isolate): void {
    const heap = this.readHeap(isolate);
    if (heap && heap.used_heap_size > heap.heap_size_limit * RECYCLE_AT) this.kill(isolate);
  }

  /** Stops serving for good (until the plugin is reloaded), and frees the live isolate. */
  private disable(reason: string): void {
    const first = this.disabled === undefined;
    this.disabled ??= disabledReason(reason);
    this.halted.fire(new IsolateLost(this.disabled));
    this.kill();
    if (first) this.options.onDisabled?.(this.disabled);
  }

  /** Disposes `isolate` (the live one by default); the sandbox forgets it only if it is still the live one. */
  private kill(isolate: ivm.Isolate | undefined = this.liveIsolate): void {
    const thread = isolate && threadOf.get(isolate);
    if (thread?.busy) holdExit(thread);
    if (isolate && isolate === this.liveIsolate) {
      this.live = undefined;
      this.liveIsolate = undefined;
      this.ready = undefined;
      this.current?.abort?.abort();
      // plugin code has not returned yet: one thread per sandbox at a time, so a plugin cannot run
      // a second unstoppable loop beside the first
      if (thread?.busy) this.awaitStop(thread);
    }
    if (isolate && !isolate.isDisposed) {
      try {
        isolate.dispose();
      } catch {
        // isolated-vm disposed it itself in the meantime (memory limit): nothing left to free
      }
    }
  }

  /** Builds no new isolate until `thread` is back; disables the sandbox if it is not back within STOP_GRACE_MS. */
  private awaitStop(thread: IsolateThread): void {
    this.previous = thread;
    const grace = setTimeout(() => this.disable(`V8 did not stop it (still running ${STOP_GRACE_MS} ms after being stopped)`), STOP_GRACE_MS);
    grace.unref();
    thread.free().then(
      () => clearTimeout(grace),
      () => clearTimeout(grace),
    );
  }

  /** What the bootstrap enforces inside the isolate. */
  private bootstrapLimits() {
    const limit = this.options.logLimit;
    return {
      maxResultChars: MAX_RESULT_CHARS,
      maxLogChars: MAX_LOG_CHARS,
      maxFieldsChars: MAX_LOG_FIELDS_CHARS,
      maxErrorChars: MAX_ERROR_CHARS,
      maxReasonChars: MAX_CANCEL_REASON_CHARS,
      callsInFlight: MAX_CALLS_IN_FLIGHT,
      maxArgsChars: MAX_CAPABILITY_ARGS_CHARS,
      logLevels: this.options.logLevels ?? LOG_LEVELS,
      logPerSecond: limit ? limit.perSecond : null,
      logBurst: limit ? limit.burst : null,
    };
  }

  /**
   * A `ctx.log` line (level, message, fields JSON), with the count of lines the isolate dropped
   * since the last crossing; or that count alone. Checked and cut again: the bootstrap's caps run
   * in the plugin's realm.
   */
  private onLog(dropped: unknown, level: unknown, message: unknown, fields: unknown): void {
    if (typeof dropped === "number" && Number.isSafeInteger(dropped) && dropped > 0) this.options.logLimit?.onDropped(dropped);
    if (!LOG_LEVELS.includes(level as LogLevel) || typeof message !== "string") return;
    let parsed: Record<string, unknown> | undefined;
    if (typeof fields === "string" && fields && fields.length <= MAX_LOG_FIELDS_CHARS) {
      try {
        const value: unknown = JSON.parse(fields);
        parsed = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { fields: value };
      } catch {
        // not JSON: the line goes out without its fields
      }
    }
    this.options.onLog(level as LogLevel, cut(message, MAX_LOG_CHARS), parsed, this.current?.meta);
  }

  /** The one place a capability call crosses back into the host; it never throws into the isolate. */
  private async callCapability(name: unknown, method: unknown, args: unknown): Promise<string> {
    const current = this.current;
    if (!current) return JSON.stringify({ error: "called outside a hook run" });
    const capability = typeof name === "string" && Object.hasOwn(this.options.capabilities, name) ? this.options.capabilities[name] : undefined;
    const fn = capability && typeof method === "string" && Object.hasOwn(capability, method) ? capability[method] : undefined;
    if (!fn || !current.abort || typeof args !== "string") return JSON.stringify({ error: "not granted" });
    if (args.length > MAX_CAPABILITY_ARGS_CHARS) return JSON.stringify({ error: `the arguments are ${args.length} characters as JSON; the limit is ${MAX_CAPABILITY_ARGS_CHARS}` });
    const controller = current.abort.open();
    if (!controller) return JSON.stringify({ error: `more than ${MAX_CALLS_IN_FLIGHT} capability calls in flight in this run; await some before making more` });
    const call: CapabilityCall = {
      tenant: this.options.tenant,
      plugin: this.code.name,
      hook: current.meta.hook,
      recordsDir: this.options.recordsDir,
      allowHosts: this.options.allowHosts,
      deadline: current.deadline,
      signal: controller.signal,
      run: current,
    };
    try {
      const value = await fn(call, JSON.parse(args) as unknown[]);
      return JSON.stringify({ value });
    } catch (e) {
      return JSON.stringify({ error: e instanceof CapabilityError ? e.message : "internal error" });
    } finally {
      current.abort.close(controller);
    }
  }
}

const threadOf = new WeakMap<ivm.Isolate, IsolateThread>();

function noop(): void {}

/**
 * isolated-vm hands a string of 1 KB or more to an isolate as an external string, whose memory is
 * freed only when that isolate collects it: with a small, rarely collected heap, every call's input
 * stayed allocated until ~60 MB had piled up per isolate (measured; host RSS passed 400 MB under the
 * 3-plugin bench). Strings under 1 KB are copied onto the isolate's heap and freed by its ordinary GC.
 * 500 characters stay under 1 KB even for two-byte (non-Latin-1) text. Used for every string that
 * enters an isolate per call: the run's input, overlay and ctx, and capability answers.
 */
const PIECE_CHARS = 500;

function pieces(json: string): string[] {
  if (json.length <= PIECE_CHARS) return [json];
  const out: string[] = [];
  for (let i = 0; i < json.length; i += PIECE_CHARS) out.push(json.slice(i, i + PIECE_CHARS));
  return out;
}

// Every plugin of a chain gets the same input string: it is cut once per request, not per plugin.
let lastInput = "";
let lastInputPieces = [""];

function inputPieces(json: string): string[] {
  if (json !== lastInput) {
    lastInputPieces = pieces(json);
    lastInput = json;
  }
  return lastInputPieces;
}

function lateStart(): RunOutcome {
  return { status: "timeout", error: "time limit reached before the run could start" };
}

/** The run's answer as the bootstrap makes it, checked and cut again on this side. */
function parseAnswer(answer: unknown): RunOutcome {
  if (typeof answer !== "string" || answer.length > MAX_ANSWER_CHARS) return { status: "error", error: "the sandbox answered with something the bootstrap never sends" };
  const parsed = JSON.parse(answer) as { t: unknown; v?: unknown; reason?: unknown; message?: unknown };
  switch (parsed.t) {
    case "ok":
      return { status: "ok", value: parsed.v };
    case "skip":
      return { status: "skip" };
    case "cancel":
      return { status: "cancel", reason: typeof parsed.reason === "string" ? cut(parsed.reason, MAX_CANCEL_REASON_CHARS) : "" };
    default:
      return { status: "error", error: typeof parsed.message === "string" ? cut(parsed.message, MAX_ERROR_CHARS) : "unknown error" };
  }
}

/** `text` cut to `max` characters, marked with "…" when cut. */
function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function isTimeoutError(e: unknown): boolean {
  return /Script execution timed out/i.test(errorMessage(e));
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
