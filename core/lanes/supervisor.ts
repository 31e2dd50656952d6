import { fork, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { defaultAnswer, type ChainResult } from "../chain.js";
import type { HostConfig } from "../config.js";
import type { LoadedPlugin } from "../discovery.js";
import type { Logger } from "../log.js";
import type { DecidedRun, Registry, ShadowTally, StoppedTrial } from "../registry.js";
import type { ShadowCounts } from "../rollout.js";
import type { RunRecord, RunsQuery, RunsReader, ShadowDifference, TenantsHookStats } from "../runs.js";
import type { SourceProblem } from "../compile.js";
import { disabledReason, fatalReason, fatalRunError, timeoutRunError, type MemoryReading, type PluginCode } from "../../sandbox/index.js";
import { LaneUnavailable, type ChainRequest, type LaneDispatch } from "./dispatch.js";
import { BEAT_MS, WATCH_FD, type FrontMessage, type LaneMessage, type WatchLine } from "./protocol.js";
import { Outbox, unbatch } from "./outbox.js";
import { laneOf } from "./shard.js";

/**
 * A lane silent this long is killed and replaced. Far above BEAT_MS: on this machine under load
 * (load average 15–28 on 2 cores) timers run seconds late, and killing a healthy lane fails its
 * requests. Exits (a kill, a crash, a fatal V8 error) are seen at once; this catches a lane whose
 * thread is stuck.
 */
const SILENT_MS = 2000;
/** A lane asked to stop finishes its chains in flight; past this it is killed (no chain runs longer than 60 s). */
const STOP_GRACE_MS = 65_000;
/** At close, lanes get this long to free their sandboxes and exit; then they are killed. */
const CLOSE_GRACE_MS = 3000;
/** Deaths of one lane within this window count towards its restart backoff. */
const BACKOFF_WINDOW_MS = 10_000;
const BACKOFF_MAX_MS = 5000;
/** What the front logs when a lane is replaced because a plugin failed fatally in it. */
export const LANE_REPLACED = "plugin failed fatally in a lane; the lane is replaced";
/** What the front logs when a lane is replaced because V8 did not stop a plugin's sync call at its time limit. */
export const LANE_OVERDUE = "plugin's sync run outlived its time limit in a lane; the lane is replaced and the plugin is called async from now on";
/** The spare starts this long after the lanes: serving does not need it, and it would compete with their start for the CPU. */
const SPARE_AFTER_MS = 3000;

// From TypeScript source (tests, tsx) the lane runs through tsx; from the compiled dist/ as is.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? "./lane.ts" : "./lane.js", import.meta.url));
// isolated-vm needs --no-node-snapshot in every process that loads it.
const EXEC_ARGV = FROM_SOURCE ? ["--no-node-snapshot", "--import", import.meta.resolve("tsx")] : ["--no-node-snapshot"];

const NO_MEMORY: MemoryReading = { heapBytes: 0, externalBytes: 0 };

interface Pending {
  request: ChainRequest;
  input: Record<string, unknown>;
  plugins: string[];
  started: number;
  /** it was in flight in a lane killed for a plugin that held its thread, and went on in the replacement */
  handedOver?: boolean;
  resolve(result: ChainResult): void;
  reject(error: Error): void;
}

/** A read of a lane's recent runs, waiting for its answer. */
interface Read {
  query: RunsQuery;
  resolve(answer: unknown): void;
  reject(error: Error): void;
}

/** One lane process. */
class Lane {
  readonly pending = new Map<number, Pending>();
  /** load checks in flight: id → who waits for the problem found */
  readonly probes = new Map<number, (problem: SourceProblem | undefined) => void>();
  readonly reads = new Map<number, Read>();
  /** the slot it serves; none while it is the spare */
  slot: Slot | undefined;
  /** its message handler is up */
  hello = false;
  /** given its state (it has a slot): requests go straight to it */
  ready = false;
  /** replaced: it finishes what it has and exits; it gets nothing new */
  retiring = false;
  lastBeat = Date.now();
  /** killed for a plugin that held its thread: the chain that made the call (0: none), how that run ended, and why the lane was killed */
  held: { chain: number; decided: DecidedRun; why: string } | undefined;
  alive = 0;
  memory: MemoryReading = NO_MEMORY;
  shadow: ShadowTally[] = [];
  readonly exited: Promise<void>;

  private readonly outbox: Outbox<FrontMessage>;

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.outbox = new Outbox((wire) => {
      // a lane that has just died: its exit answers whatever it held
      if (child.connected) child.send(wire);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(message: FrontMessage): void {
    this.outbox.post(message);
  }
}

/** One lane's place: the lane serving it now, requests waiting for it to start, and its recent deaths. */
interface Slot {
  index: number;
  lane?: Lane;
  /** the lane that takes over from `lane` once it is ready (`lane` serves until then) */
  next?: Lane;
  waiting: { id: number; pending: Pending }[];
  /** load checks waiting for the lane to be ready */
  waitingProbes: { code: PluginCode; memoryMb: number; resolve(problem: SourceProblem | undefined): void }[];
  /** reads of the recent runs waiting for the lane to be ready */
  waitingReads: Read[];
  deaths: number[];
  restart?: NodeJS.Timeout;
  /** settles when the slot's first lane is ready, or has died before it was */
  up: Promise<void>;
  markUp(error?: Error): void;
}

export interface LanesOptions {
  count: number;
  config(): HostConfig;
  logger: Logger;
}

/**
 * The front's side of the lanes: spawns them, sends each request's chain to its tenant's lane in
 * one message, tells every lane about plugin versions and config, watches their heartbeats, and
 * replaces a lane that dies (answering its requests in flight with the hook's default at once).
 * A spare lane waits, loaded, to take the place of the next one that dies: starting a lane from
 * scratch takes over a second of CPU, and seconds on a loaded machine.
 */
export class Lanes implements LaneDispatch {
  private readonly slots: Slot[];
  private spare: Lane | undefined;
  private readonly spareDeaths: number[] = [];
  private spareRestart: NodeJS.Timeout | undefined;
  private readonly retired = new Set<Lane>();
  private registry: Registry | undefined;
  /** from 1: a lane's watchdog says chain 0 for none */
  private nextId = 1;
  private closing = false;
  /** every slot's first lane was ready */
  private started = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(private readonly options: LanesOptions) {
    this.slots = Array.from({ length: options.count }, (_, index) => {
      let markUp!: (error?: Error) => void;
      const up = new Promise<void>((resolve, reject) => (markUp = (error) => (error ? reject(error) : resolve())));
      return { index, waiting: [], waitingProbes: [], waitingReads: [], deaths: [], up, markUp };
    });
    this.watchdog = setInterval(() => this.checkBeats(), BEAT_MS);
    this.watchdog.unref();
  }

  /**
   * Spawns every lane, and the spare a little later; `registry` is the state a lane is given when
   * it starts, and where faults are recorded. Resolves when every slot's lane is up.
   */
  async start(registry: Registry): Promise<void> {
    this.registry = registry;
    for (const slot of this.slots) this.assign(slot, this.spawn());
    try {
      await Promise.all(this.slots.map((s) => s.up));
    } catch (e) {
      await this.close();
      throw e;
    }
    this.started = true;
    this.spareRestart = setTimeout(() => this.spawnSpare(), SPARE_AFTER_MS);
  }

  get pids(): number[] {
    return [...this.lanes()].map((l) => l.pid);
  }

  get sandboxesAlive(): number {
    let alive = 0;
    for (const lane of this.lanes()) alive += lane.alive;
    return alive;
  }

  sandboxMemory(): MemoryReading {
    const total = { heapBytes: 0, externalBytes: 0 };
    for (const lane of this.lanes()) {
      total.heapBytes += lane.memory.heapBytes;
      total.externalBytes += lane.memory.externalBytes;
    }
    return total;
  }

  run(request: ChainRequest, input: Record<string, unknown>, plugins: string[]): Promise<ChainResult> {
    return new Promise<ChainResult>((resolve, reject) => {
      this.enqueue(this.slots[laneOf(request.tenant, this.slots.length)], { request, input, plugins, started: Date.now(), resolve, reject });
    });
  }

  /** Sends the chain to the slot's lane, or keeps it until that lane is ready. */
  private enqueue(slot: Slot, pending: Pending): void {
    const id = this.nextId++;
    if (slot.lane?.ready) this.dispatch(slot.lane, id, pending);
    else if (slot.lane && !this.closing) slot.waiting.push({ id, pending });
    else pending.resolve(defaultAnswer(pending.request.hook, pending.input, pending.plugins, `lane ${slot.index} is restarting after repeated deaths`, Date.now() - pending.started));
  }

  /**
   * Discovery's load check, in a lane: a module that makes V8 fail fatally or grind at load then
   * costs that lane a replacement, not the front a thread it cannot join. The lane is the one the
   * plugin's name hashes to.
   */
  probe(code: PluginCode, memoryMb: number): Promise<SourceProblem | undefined> {
    return new Promise((resolve) => {
      const slot = this.slots[laneOf(code.name, this.slots.length)];
      if (slot.lane?.ready) this.sendProbe(slot.lane, code, memoryMb, resolve);
      else if (slot.lane && !this.closing) slot.waitingProbes.push({ code, memoryMb, resolve });
      else resolve({ file: "", message: `not tried: lane ${slot.index} is restarting after repeated deaths` });
    });
  }

  private sendProbe(lane: Lane, code: PluginCode, memoryMb: number, resolve: (problem: SourceProblem | undefined) => void): void {
    const id = this.nextId++;
    lane.probes.set(id, resolve);
    lane.send({ type: "probe", id, code, memoryMb });
  }

  /**
   * The recent runs live in the ring of the lane that ran them: a tenant's are read from its lane,
   * the overview's from every lane at once (one read per lane).
   */
  readonly runs: RunsReader = {
    list: (tenant, filter = {}) => this.read<RunRecord[]>(laneOf(tenant, this.slots.length), { kind: "runs", tenant, filter }),
    shadowDifferences: (tenant, limit) => this.read<ShadowDifference[]>(laneOf(tenant, this.slots.length), { kind: "shadow", tenant, limit }),
    hookStats: async (tenants) => {
      const byLane = new Map<number, string[]>();
      for (const tenant of tenants) {
        const lane = laneOf(tenant, this.slots.length);
        byLane.set(lane, [...(byLane.get(lane) ?? []), tenant]);
      }
      // a lane that cannot answer leaves out its tenants only: the overview is most needed when a lane is in trouble
      const answers = await Promise.allSettled([...byLane].map(([lane, some]) => this.read<TenantsHookStats>(lane, { kind: "stats", tenants: some })));
      const all: TenantsHookStats = { stats: {}, unavailable: {} };
      answers.forEach((answer, i) => {
        if (answer.status === "fulfilled") Object.assign(all.stats, answer.value.stats);
        else if (answer.reason instanceof LaneUnavailable) for (const tenant of [...byLane.values()][i]) all.unavailable[tenant] = answer.reason.message;
        else throw answer.reason;
      });
      return all;
    },
  };

  /** Asks lane `index` (the lane answers with what `query` reads, of type T). */
  private read<T>(index: number, query: RunsQuery): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const slot = this.slots[index];
      const read: Read = { query, resolve: resolve as (answer: unknown) => void, reject };
      if (slot.lane?.ready) this.sendRead(slot.lane, read);
      else if (slot.lane && !this.closing) slot.waitingReads.push(read);
      else reject(new LaneUnavailable(`lane ${index} is restarting after repeated deaths; its recent runs went with it`));
    });
  }

  private sendRead(lane: Lane, read: Read): void {
    const id = this.nextId++;
    lane.reads.set(id, read);
    lane.send({ type: "read", id, query: read.query });
  }

  shadowCounts(dir: string, version: string): ShadowCounts {
    const total = { compared: 0, differences: 0, skipped: 0 };
    for (const slot of this.slots) {
      for (const tally of slot.lane?.shadow ?? []) {
        if (tally.dir !== dir || tally.version !== version) continue;
        total.compared += tally.counts.compared;
        total.differences += tally.counts.differences;
        total.skipped += tally.counts.skipped;
      }
    }
    return total;
  }

  serve(dir: string, folder: string, plugin: LoadedPlugin): void {
    this.broadcast({ type: "serve", result: { dir, folder, plugin } });
  }

  remove(dir: string): void {
    this.broadcast({ type: "remove", dir });
  }

  stopTrial(trial: StoppedTrial): void {
    this.broadcast({ type: "stopTrial", trial });
  }

  reconfigure(): void {
    this.broadcast({ type: "config", config: this.options.config() });
  }

  disable(plugin: string, tenant: string, reason: string): void {
    this.broadcast({ type: "disable", plugin, tenant, reason });
  }

  callAsync(plugin: string, tenant: string, reason: string): void {
    this.broadcast({ type: "callAsync", plugin, tenant, reason });
  }

  /** Stops every lane: each frees its sandboxes and exits; one that does not in time is killed. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    clearTimeout(this.spareRestart);
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      for (const { pending } of slot.waiting.splice(0)) pending.resolve(defaultAnswer(pending.request.hook, pending.input, pending.plugins, "the host is stopping", 0));
      for (const { resolve } of slot.waitingProbes.splice(0)) resolve({ file: "", message: "not tried: the host is stopping" });
      for (const { reject } of slot.waitingReads.splice(0)) reject(new LaneUnavailable("the host is stopping"));
      // a slot never up (its lane died at start) must not hold start() forever
      slot.markUp();
    }
    const lanes = [...this.lanes()];
    for (const lane of lanes) lane.send({ type: "stop" });
    await Promise.all(
      lanes.map(async (lane) => {
        const timer = setTimeout(() => lane.child.kill("SIGKILL"), CLOSE_GRACE_MS);
        await lane.exited;
        clearTimeout(timer);
      }),
    );
  }

  private *lanes(): Iterable<Lane> {
    for (const slot of this.slots) if (slot.lane) yield slot.lane;
    for (const slot of this.slots) if (slot.next) yield slot.next;
    if (this.spare) yield this.spare;
    yield* this.retired;
  }

  private broadcast(message: FrontMessage): void {
    // a lane not ready yet gets the whole state when it is
    for (const slot of this.slots) if (slot.lane?.ready) slot.lane.send(message);
  }

  private dispatch(lane: Lane, id: number, pending: Pending): void {
    lane.pending.set(id, pending);
    // the wait for a lane (one starting, or one that died under the chain) is part of the chain's time
    lane.send({ type: "run", id, ...pending.request, budgetMs: Math.max(0, pending.request.budgetMs - (Date.now() - pending.started)) });
  }

  private spawn(): Lane {
    const stdio: ("ignore" | "pipe" | "ipc")[] = ["ignore", "ignore", "pipe", "ipc"];
    stdio[WATCH_FD] = "pipe";
    const child = fork(ENTRY, [], { serialization: "advanced", execArgv: EXEC_ARGV, stdio });
    const lane = new Lane(child);
    // What a lane writes to stderr (V8 and isolated-vm write there) goes on, marked as the lane's.
    createInterface({ input: child.stderr! }).on("line", (line) => process.stderr.write(`hookhost lane (pid ${lane.pid}): ${line}\n`));
    // Its watchdog speaks for the main thread when that cannot (core/lanes/watchdog.ts).
    createInterface({ input: child.stdio[WATCH_FD] as NodeJS.ReadableStream }).on("line", (line) => this.watched(lane, line));
    child.on("message", (wire: LaneMessage | LaneMessage[]) => unbatch(wire, (message) => this.receive(lane, message)));
    child.on("error", (e) => this.options.logger.error("lane process error", { lane: lane.slot?.index, pid: lane.pid, error: e.message }));
    child.once("exit", (code, signal) => this.exited(lane, lane.held?.why ?? (signal ? `killed by ${signal}` : `exited with code ${code}`)));
    return lane;
  }

  private spawnSpare(): void {
    this.spareRestart = undefined;
    this.spare = this.spawn();
  }

  /**
   * `lane` serves `slot` once it is listening and has its state. A slot whose lane still serves
   * (it is being replaced after a fault) keeps it until then: the handover costs no request.
   */
  private assign(slot: Slot, lane: Lane): void {
    lane.slot = slot;
    if (slot.lane) slot.next = lane;
    else slot.lane = lane;
    if (lane.hello) this.init(slot, lane);
  }

  private init(slot: Slot, lane: Lane): void {
    const registry = this.registry!;
    lane.send({
      type: "init",
      lane: slot.index,
      lanes: this.slots.length,
      config: this.options.config(),
      logLevel: this.options.logger.level,
      served: registry.served,
      stopped: registry.stoppedTrials,
      disabled: registry.disabledRuns,
      async: registry.asyncRuns,
    });
    lane.ready = true;
    lane.lastBeat = Date.now();
    this.options.logger.debug("lane ready", { lane: slot.index, pid: lane.pid });
    if (slot.next === lane) {
      const old = slot.lane!;
      slot.next = undefined;
      slot.lane = lane;
      this.retire(old);
    }
    for (const { id, pending } of slot.waiting.splice(0)) this.dispatch(lane, id, pending);
    for (const { code, memoryMb, resolve } of slot.waitingProbes.splice(0)) this.sendProbe(lane, code, memoryMb, resolve);
    for (const read of slot.waitingReads.splice(0)) this.sendRead(lane, read);
    slot.markUp();
  }

  private receive(lane: Lane, message: LaneMessage): void {
    switch (message.type) {
      case "hello":
        lane.hello = true;
        if (lane.slot) this.init(lane.slot, lane);
        else this.options.logger.debug("spare lane ready", { pid: lane.pid });
        return;
      case "result": {
        const pending = lane.pending.get(message.id);
        if (!pending) return;
        lane.pending.delete(message.id);
        lane.alive = message.alive;
        pending.resolve(message.result);
        return;
      }
      case "failed": {
        const pending = lane.pending.get(message.id);
        if (!pending) return;
        lane.pending.delete(message.id);
        pending.reject(new Error(`lane ${lane.slot?.index}: ${message.error}`));
        return;
      }
      case "beat":
        lane.lastBeat = Date.now();
        lane.alive = message.alive;
        lane.memory = message.memory;
        lane.shadow = message.shadow;
        return;
      case "answer":
        lane.reads.get(message.id)?.resolve(message.answer);
        lane.reads.delete(message.id);
        return;
      case "unanswered":
        lane.reads.get(message.id)?.reject(new Error(`lane ${lane.slot?.index}: ${message.error}`));
        lane.reads.delete(message.id);
        return;
      case "log":
        this.options.logger.log(message.level, message.message, message.fields);
        return;
      case "probed":
        lane.probes.get(message.id)?.(message.problem);
        lane.probes.delete(message.id);
        return;
      case "fault":
        this.fault(lane, message.plugin, message.tenant, message.reason);
        return;
    }
  }

  /**
   * A sandbox in `lane` disabled itself: V8 failed fatally in it, or did not stop. Its thread may
   * never come back, and a process with such a thread cannot exit normally: the lane is replaced
   * at once, and the old one finishes its chains in flight, then exits.
   */
  private fault(lane: Lane, plugin: string, tenant: string | undefined, reason: string): void {
    if (tenant !== undefined) this.registry!.recordFault(plugin, tenant, reason, true);
    const slot = lane.slot;
    if (lane.retiring || !slot || slot.lane !== lane || slot.next) return;
    this.options.logger.error(LANE_REPLACED, { lane: slot.index, pid: lane.pid, plugin, tenant, reason });
    this.revive(slot);
  }

  /** A line from `lane`'s watchdog. */
  private watched(lane: Lane, line: string): void {
    let said: WatchLine;
    try {
      said = JSON.parse(line) as WatchLine;
    } catch {
      this.options.logger.error("a lane's watchdog wrote a line that is not JSON", { pid: lane.pid, line: line.slice(0, 200) });
      return;
    }
    if (said.type === "busy") lane.lastBeat = Date.now();
    else this.held(lane, said);
  }

  /**
   * A plugin's sync call holds `lane`'s main thread (its watchdog says which, in which chain, and
   * how): V8 failed fatally in it, and the thread never comes back, or V8 does not stop it at its
   * time limit, and the lane serves nobody until it does. The lane is killed now and its slot
   * takes the spare; its requests in flight go on there (see exited). The plugin is disabled for
   * that tenant in every lane (a fatal error), or called async from then on (a run V8 did not
   * stop: another such run then costs a thread, not a lane).
   */
  private held(lane: Lane, said: Exclude<WatchLine, { type: "busy" }>): void {
    if (lane.held) return;
    const { plugin, tenant } = said;
    if (said.type === "fatal") {
      const reason = fatalReason(said.message);
      this.registry!.recordFault(plugin, tenant, disabledReason(reason), true);
      this.options.logger.error(LANE_REPLACED, { lane: lane.slot?.index, pid: lane.pid, plugin, tenant, reason: disabledReason(reason) });
      const decided: DecidedRun = { plugin, status: "error", error: fatalRunError(said.memoryMb, said.message) };
      lane.held = { chain: said.chain, decided, why: `killed: plugin ${plugin} of tenant ${tenant} stuck its thread: ${reason}` };
    } else {
      const reason = `a sync run of it was still running ${said.pastMs} ms past its ${said.limitMs} ms limit (V8 did not stop it), and its lane was replaced; it is called async from now on`;
      this.registry!.callAsync(plugin, tenant, reason);
      this.options.logger.error(LANE_OVERDUE, { lane: lane.slot?.index, pid: lane.pid, plugin, tenant, limitMs: said.limitMs, pastMs: said.pastMs });
      const decided: DecidedRun = { plugin, status: "timeout", error: timeoutRunError(said.limitMs) };
      lane.held = { chain: said.chain, decided, why: `killed: plugin ${plugin} of tenant ${tenant} held its thread ${said.pastMs} ms past its time limit` };
    }
    lane.child.kill("SIGKILL");
  }

  /** `lane` gets nothing new; it finishes its chains in flight, frees its sandboxes and exits. */
  private retire(lane: Lane): void {
    lane.retiring = true;
    this.retired.add(lane);
    lane.send({ type: "stop" });
    const grace = setTimeout(() => lane.child.kill("SIGKILL"), STOP_GRACE_MS);
    grace.unref();
    void lane.exited.then(() => clearTimeout(grace));
  }

  /** A lane's process ended: whatever it still held is answered with the hook's default now. */
  private exited(lane: Lane, how: string): void {
    this.retired.delete(lane);
    for (const { reject } of lane.reads.values()) reject(new LaneUnavailable(`lane ${lane.slot?.index} died (${how}) before it answered; the recent runs in its ring went with it`));
    lane.reads.clear();
    const slot = lane.slot;
    if (!slot) {
      // the spare: another one, unless it keeps dying
      if (this.spare !== lane || this.closing) return;
      this.spare = undefined;
      this.options.logger.error("spare lane died", { pid: lane.pid, how });
      const delay = backoff(this.spareDeaths);
      this.spareRestart = setTimeout(() => this.spawnSpare(), delay);
      return;
    }
    // a lane that cannot start will not start the next time either: the host does not start
    if (!this.started) {
      slot.markUp(new Error(`lane ${slot.index} ${how} before it was ready`));
      return;
    }
    if (slot.next === lane) {
      // the replacement died before it took over: the old lane serves on, and another is started
      slot.next = undefined;
      if (!this.closing) this.restart(slot);
      return;
    }
    // Killed for a plugin that held its thread: the lane's chains go on in the replacement, once
    // the slot has one. The chain that made the call goes on past that run, with its outcome
    // decided; the others start over, so a plugin of theirs that had run already runs again. A
    // chain handed over once is not handed over again.
    const handOver = lane.held && !this.closing ? [...lane.pending].filter(([, p]) => !p.handedOver) : [];
    for (const [id] of handOver) lane.pending.delete(id);
    const expected = this.closing || (lane.retiring && lane.pending.size === 0);
    if (lane.held && lane.pending.size) {
      // the plugin that cost the lane is known: the others in flight are not suspects
      this.options.logger.error("lane killed; its requests in flight already handed over once are answered with the hook's default", { lane: slot.index, pid: lane.pid, how, inFlight: lane.pending.size });
    } else if (!expected && !lane.held) {
      const inFlight = [...lane.pending.values()];
      const suspects = [...new Set(inFlight.flatMap((p) => p.plugins.map((plugin) => JSON.stringify([plugin, p.request.tenant]))))].map((s) => JSON.parse(s) as [string, string]);
      const reason = `lane ${slot.index} died (${how}) while running it`;
      for (const [plugin, tenant] of suspects) this.registry!.recordFault(plugin, tenant, reason, false);
      this.options.logger.error("lane died; its requests in flight are answered with the hook's default", {
        lane: slot.index,
        pid: lane.pid,
        how,
        inFlight: inFlight.length,
        // what ran in it then: one of these is the likely cause
        plugins: suspects.map(([plugin, tenant]) => ({ plugin, tenant })),
      });
    }
    for (const pending of lane.pending.values()) {
      pending.resolve(defaultAnswer(pending.request.hook, pending.input, pending.plugins, `the lane running this chain died (${how}); the hook's default is answered`, Date.now() - pending.started));
    }
    lane.pending.clear();
    for (const resolve of lane.probes.values()) resolve({ file: "", message: `not tried: the lane trying it died (${how})` });
    lane.probes.clear();
    if (slot.lane === lane) {
      // its replacement, when one is starting, takes over as soon as it is ready
      slot.lane = slot.next;
      slot.next = undefined;
      if (!slot.lane && !this.closing) this.restart(slot);
    }
    if (handOver.length) this.options.logger.warn("lane killed; its requests in flight go on in its replacement", { lane: slot.index, pid: lane.pid, how, inFlight: handOver.length });
    for (const [id, pending] of handOver) {
      pending.handedOver = true;
      if (id === lane.held!.chain) pending.request = { ...pending.request, decided: lane.held!.decided };
      this.enqueue(slot, pending);
    }
  }

  /** The slot gets the spare (or a fresh lane) at once, or after a pause when it keeps dying. */
  private restart(slot: Slot): void {
    const delay = backoff(slot.deaths);
    if (delay === 0) {
      this.revive(slot);
      return;
    }
    this.options.logger.warn("lane keeps dying; restarting it after a pause", { lane: slot.index, deaths: slot.deaths.length, ms: delay });
    for (const { pending } of slot.waiting.splice(0)) pending.resolve(defaultAnswer(pending.request.hook, pending.input, pending.plugins, `lane ${slot.index} is restarting after repeated deaths`, 0));
    for (const { resolve } of slot.waitingProbes.splice(0)) resolve({ file: "", message: `not tried: lane ${slot.index} is restarting after repeated deaths` });
    for (const { reject } of slot.waitingReads.splice(0)) reject(new LaneUnavailable(`lane ${slot.index} is restarting after repeated deaths`));
    slot.restart = setTimeout(() => this.revive(slot), delay);
  }

  private revive(slot: Slot): void {
    slot.restart = undefined;
    const spare = this.spare;
    this.spare = undefined;
    const lane = spare ?? this.spawn();
    this.assign(slot, lane);
    this.options.logger.info("lane restarted", { lane: slot.index, pid: lane.pid, spare: spare !== undefined });
    if (spare && !this.spareRestart) this.spawnSpare();
  }

  /** A lane that stopped beating is stuck: killed, and its exit does the rest. */
  private checkBeats(): void {
    // Judged after this turn's I/O: when the front itself was stalled, the lanes' beats are
    // waiting unread in their pipes, and a timer runs before they are read.
    setImmediate(() => this.judgeBeats());
  }

  private judgeBeats(): void {
    const now = Date.now();
    for (const slot of this.slots) {
      const lane = slot.lane;
      if (!lane?.ready || now - lane.lastBeat <= SILENT_MS) continue;
      this.options.logger.error("lane stopped answering; killing it", { lane: slot.index, pid: lane.pid, silentMs: now - lane.lastBeat });
      lane.lastBeat = Infinity;
      lane.child.kill("SIGKILL");
    }
  }
}

/** Notes a death in `deaths`; the pause before the next start: none for the first in the window, then 100 ms doubling up to 5 s. */
function backoff(deaths: number[]): number {
  const now = Date.now();
  const recent = deaths.filter((t) => now - t < BACKOFF_WINDOW_MS);
  deaths.splice(0, deaths.length, ...recent, now);
  return deaths.length <= 1 ? 0 : Math.min(BACKOFF_MAX_MS, 100 * 2 ** (deaths.length - 2));
}
