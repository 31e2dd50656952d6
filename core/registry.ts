import { runChain, type ChainOptions, type ChainResult, type ChainStep } from "./chain.js";
import type { SourceProblem } from "./compile.js";
import type { HostConfig } from "./config.js";
import { LOAD_TIMEOUT_MS, sortByPriority, type FolderResult, type LoadedPlugin } from "./discovery.js";
import type { LaneDispatch } from "./lanes/dispatch.js";
import type { HookName } from "./hooks.js";
import { grantedLimits, type Clamp, type GrantedLimits } from "./limits.js";
import type { Logger, PluginLogLimiter } from "./log.js";
import { stockRecordStep } from "./stock-record.js";
import { servesTenant, type Manifest } from "./manifest.js";
import type { Tenant } from "./tenants.js";
import { asVersionOf, pairTrials, rolloutStep, type RequestContext, type ShadowCounts, type Trial, type VersionRun } from "./rollout.js";
import { MAX_RUN_LOG_LINES, RecentRuns, type RunLogLine, type RunsReader } from "./runs.js";
import { RolloutRefusal, VersionHistory, type ServedReason } from "./versions.js";
import { LOG_LEVELS, Sandbox, type Capability, type MemoryReading, type RunMeta, type SyncWatch } from "../sandbox/index.js";

/** The capabilities the host offers; a plugin's manifest decides which of them its sandboxes get. */
export interface HostCapabilities {
  records: Capability;
  http: Capability;
  store: Capability;
}

interface CommonOptions {
  config: () => HostConfig;
  logger: Logger;
}

/** The sandboxes live in this process (`lanes: 0`, a lane, the CLI). */
export interface LocalOptions extends CommonOptions {
  capabilities: HostCapabilities;
  /** most sandboxes alive at once; past it the least recently used idle one is unloaded */
  maxSandboxes: number;
  /** rate-limits plugins' `ctx.log` lines per tenant × plugin; without it every line is written */
  pluginLog?: PluginLogLimiter;
  /** a sandbox disabled itself: V8 failed fatally in it, or did not stop (a lane then asks to be replaced) */
  onFault?(plugin: string, tenant: string, reason: string): void;
  /** call isolates synchronously (a lane only: a fatal V8 error then parks the calling thread); `watch` marks each call for the lane's watchdog */
  sync?: { watch(tenant: string, plugin: string, memoryMb: number): SyncWatch };
  lanes?: undefined;
}

/**
 * The sandboxes live in lane processes: this registry is the front's (status, versions, which
 * candidates run), and the chains, with their recent runs, live in the lanes.
 */
export interface LanedOptions extends CommonOptions {
  lanes: LaneDispatch;
}

export type RegistryOptions = LocalOptions | LanedOptions;

/**
 * A chain as a lane runs it: its number there (the lane's watchdog names the chain of a sync call
 * that never returns), and a plugin whose run in it is already decided: a chain taken over from a
 * lane that this plugin's run lost (core/lanes/supervisor.ts) goes on past it without running it.
 */
export interface LaneChain {
  chain: number;
  decided?: DecidedRun;
}

/** A run's outcome decided without running it: how a run that lost its lane ended. */
export interface DecidedRun {
  plugin: string;
  status: "error" | "timeout";
  error: string;
}

/** A hook request's input: parsed, and the JSON text it arrived as (what the sandboxes are given). */
export interface HookInput {
  value: Record<string, unknown>;
  json: string;
}

/** One plugin folder as the host sees it: the version it serves, and what is wrong with the folder now. */
interface FolderState {
  dir: string;
  /** the served version: the latest good load, or the one a rollback or promotion put back */
  good?: LoadedPlugin;
  versions: VersionHistory;
  /** a candidate folder's part: running until aborted or promoted, again once its folder loads anew */
  trial: CandidateState;
  problem?: SourceProblem;
  /** whom the failed version's plugin.json names; undefined when it could not be read */
  problemTenants?: Manifest["tenants"];
  changedAt: Date;
}

export type PluginState = "ok" | "error" | "stale";

export type CandidateState = "running" | "aborted" | "promoted";

/** A candidate folder in the status: "waiting" while no plugin of the name it gives is loaded. */
export interface CandidateStatus {
  of: string;
  mode: "shadow" | "canary";
  percent?: number;
  state: CandidateState | "waiting";
  shadow?: ShadowCounts;
}

export interface PluginStatus {
  name: string;
  folder: string;
  priority?: number;
  hooks: HookName[];
  state: PluginState;
  enabled?: boolean;
  error?: SourceProblem;
  loadedAt?: string;
  /** what plugin.json asks for above this tenant's ceilings, and what it got */
  clamped?: Clamp[];
  version?: string;
  served?: { version: string; reason: ServedReason };
  /** the good versions kept, newest first */
  versions?: { version: string; loadedAt: string }[];
  candidate?: CandidateStatus;
  /** why it is disabled for this tenant (V8 failed fatally in it) until it is reloaded */
  disabled?: string;
  /** the last time a lane died while it ran for this tenant, and how */
  fault?: { at: string; reason: string };
}

/** What went wrong with one plugin for one tenant, kept until the plugin is reloaded. */
interface Fault {
  at: Date;
  reason: string;
  /** a disabling fault: the plugin answers `reason` as its error for this tenant */
  disabled: boolean;
  /** its sync call outlived its time limit in a lane: it is called async there from then on */
  async?: boolean;
}

/** A tenant's view of the plugins folder. */
export interface TenantStatus {
  plugins: PluginStatus[];
  /** broken folders whose plugin.json does not say which tenants they serve */
  unattributedBroken: number;
}

/** A candidate folder stopped by the operator (a lane is given these when it starts). */
export interface StoppedTrial {
  dir: string;
  state: "aborted" | "promoted";
}

/** What the shadow runs of the candidate a folder serves have done (a lane reports these with its heartbeat). */
export interface ShadowTally {
  dir: string;
  version: string;
  counts: ShadowCounts;
}

interface Instance {
  sandbox: Sandbox;
  limits: GrantedLimits;
  /** requests holding it; a replaced instance is disposed when the last one ends */
  leases: number;
  replaced: boolean;
  /** shadow runs in flight on this sandbox */
  shadows: number;
}

/** What one request holds: its chain, fixed when it started, and the hand-back when it ends. */
export interface Lease {
  steps: ChainStep[];
  release(): void;
}

/**
 * The plugins the host serves, and their sandboxes (one per tenant × plugin, built on first use).
 * A folder's change swaps its plugin at once: a request sees the old chain or the new one, never a
 * mix, and the old version's sandboxes are disposed when its last request has finished.
 */
export class Registry {
  private readonly folders = new Map<string, FolderState>();
  private plugins: LoadedPlugin[] = [];
  private readonly instances = new Map<LoadedPlugin, Map<string, Instance>>();
  /** alive sandboxes, least recently used first (a Set keeps insertion order) */
  private readonly recent = new Set<Sandbox>();
  /** plugin name → tenant → its last fault */
  private readonly faults = new Map<string, Map<string, Fault>>();
  /** the running candidates of each live plugin, by its name */
  private trials = new Map<string, Trial[]>();
  private readonly shadowCounts = new WeakMap<LoadedPlugin, ShadowCounts>();
  /** the ctx.log lines of the runs being recorded, by the run's meta (the sandbox hands it back with each line) */
  private readonly runLogs = new WeakMap<RunMeta, RunLogLine[]>();
  /** the rings this process records into; none in the front of lanes (each lane keeps its tenants') */
  private readonly ring: RecentRuns | undefined;
  /** the recent runs and shadow differences: this process's rings, or asked of the tenant's lane */
  readonly runs: RunsReader;

  constructor(private readonly options: RegistryOptions) {
    if (options.lanes) this.runs = options.lanes.runs;
    else this.runs = this.ring = new RecentRuns(() => options.config());
  }

  get loaded(): readonly LoadedPlugin[] {
    return this.plugins;
  }

  /** Folders that serve nothing because they never loaded. */
  get broken(): { dir: string; problem: SourceProblem }[] {
    return [...this.folders.values()].filter((f) => !f.good && f.problem).map((f) => ({ dir: f.dir, problem: f.problem! }));
  }

  get sandboxesAlive(): number {
    return this.options.lanes ? this.options.lanes.sandboxesAlive : this.recent.size;
  }

  /** Memory held by the alive sandboxes' isolates, summed (over the lanes, as of their last heartbeat). */
  sandboxMemory(): MemoryReading {
    if (this.options.lanes) return this.options.lanes.sandboxMemory();
    const total = { heapBytes: 0, externalBytes: 0 };
    for (const sandbox of this.recent) {
      const m = sandbox.memory();
      total.heapBytes += m.heapBytes;
      total.externalBytes += m.externalBytes;
    }
    return total;
  }

  /** Applies a folder's fresh load: a good result replaces the served version; a bad one keeps it (stale). */
  apply(result: FolderResult): void {
    const state: FolderState = this.folders.get(result.dir) ?? { dir: result.dir, versions: new VersionHistory(), trial: "running", changedAt: new Date() };
    state.changedAt = new Date();
    const clash = result.plugin && [...this.folders.values()].find((f) => f.dir !== result.dir && f.good?.manifest.name === result.plugin!.manifest.name);
    if (result.plugin && !clash) {
      this.retire(state.good);
      state.versions.loaded(result.plugin, this.options.config().keepVersions);
      state.good = result.plugin;
      state.trial = "running";
      state.problem = undefined;
      state.problemTenants = undefined;
      // a new version starts with a clean slate: a disabled plugin runs again once it is reloaded
      this.faults.delete(result.plugin.manifest.name);
      this.options.lanes?.serve(result.dir, result.folder, result.plugin);
    } else {
      state.problem = result.problem ?? { file: "plugin.json", message: `name "${result.plugin!.manifest.name}" is already used by folder ${clash!.dir}` };
      state.problemTenants = result.plugin?.manifest.tenants ?? result.tenants;
    }
    this.folders.set(result.dir, state);
    this.rebuildOrder();
  }

  /** The folder is gone: its plugin stops serving (requests in flight finish on it). */
  remove(dir: string): void {
    const state = this.folders.get(dir);
    if (!state) return;
    this.folders.delete(dir);
    this.retire(state.good);
    this.rebuildOrder();
    this.options.lanes?.remove(dir);
  }

  /** The folders served now (after rollbacks and promotions), as a lane is given them when it starts. */
  get served(): FolderResult[] {
    return [...this.folders.values()].flatMap((f) => (f.good ? [{ dir: f.dir, folder: f.good.folder, plugin: f.good }] : []));
  }

  /** The candidate folders the operator stopped, as a lane is given them when it starts. */
  get stoppedTrials(): StoppedTrial[] {
    return [...this.folders.values()].flatMap((f) => (f.good && f.trial !== "running" ? [{ dir: f.dir, state: f.trial }] : []));
  }

  /** Faults that disable a plugin for a tenant, as a lane is given them when it starts. */
  get disabledRuns(): { plugin: string; tenant: string; reason: string }[] {
    return this.faultsWhere((f) => f.disabled);
  }

  private faultsWhere(which: (fault: Fault) => boolean | undefined): { plugin: string; tenant: string; reason: string }[] {
    return [...this.faults].flatMap(([plugin, byTenant]) => [...byTenant].filter(([, f]) => which(f)).map(([tenant, f]) => ({ plugin, tenant, reason: f.reason })));
  }

  /**
   * Records what went wrong with a plugin for a tenant, for status; a disabling fault also makes
   * every later run of it for that tenant fail with `reason` (in every lane) until it is reloaded.
   */
  recordFault(plugin: string, tenant: string, reason: string, disabled: boolean): void {
    let byTenant = this.faults.get(plugin);
    if (!byTenant) this.faults.set(plugin, (byTenant = new Map()));
    const before = byTenant.get(tenant);
    if (before?.disabled && !disabled) return;
    byTenant.set(tenant, { at: new Date(), reason, disabled, ...(before?.async ? { async: true } : {}) });
    if (disabled) this.options.lanes?.disable(plugin, tenant, reason);
  }

  /** Plugins called async for a tenant after a sync call of theirs outlived its time limit, as a lane is given them when it starts. */
  get asyncRuns(): { plugin: string; tenant: string; reason: string }[] {
    return this.faultsWhere((f) => f.async);
  }

  /**
   * A sync call of this plugin for this tenant outlived its time limit and cost its lane: from now
   * on (in every lane, until it is reloaded) it is called async, where a run V8 does not stop
   * costs a thread, not a lane. Status shows the fault.
   */
  callAsync(plugin: string, tenant: string, reason: string): void {
    this.recordFault(plugin, tenant, reason, false);
    const fault = this.faults.get(plugin)?.get(tenant);
    if (fault) fault.async = true;
    for (const [loaded, byTenant] of this.instances) if (loaded.manifest.name === plugin) byTenant.get(tenant)?.sandbox.callAsync();
    this.options.lanes?.callAsync(plugin, tenant, reason);
  }

  get folderNames(): string[] {
    return [...this.folders.keys()];
  }

  /** The enabled plugins that serve this tenant, in chain order (candidates answer only through their live plugin). */
  servingTenant(tenant: string): LoadedPlugin[] {
    return this.plugins.filter((p) => p.manifest.enabled && servesTenant(p.manifest, tenant));
  }

  /**
   * Status of every plugin serving the tenant, and of the broken folders that would serve it. The
   * other broken folders are another tenant's business: with `everything` (the admin token) they
   * are listed too; otherwise those whose plugin.json names no tenants are only counted.
   */
  status(tenant: string, everything = false): TenantStatus {
    const plugins: PluginStatus[] = [];
    let unattributedBroken = 0;
    const config = this.options.config();
    for (const f of [...this.folders.values()].sort((a, b) => (a.dir < b.dir ? -1 : 1))) {
      if (!f.good && !f.problemTenants) unattributedBroken++;
      const tenants = f.good?.manifest.tenants ?? f.problemTenants;
      const shown = tenants === undefined ? everything : servesTenant({ tenants }, tenant) || (everything && !f.good);
      if (!shown) continue;
      const m = f.good?.manifest;
      const clamped = m ? grantedLimits(m, config, tenant).clamped : [];
      plugins.push({
        name: m?.name ?? f.dir,
        folder: f.dir,
        priority: m?.priority,
        hooks: f.good?.hooks ?? [],
        state: !f.good ? "error" : f.problem ? "stale" : "ok",
        ...(f.problem ? { error: f.problem } : {}),
        ...(f.good ? { loadedAt: f.good.loadedAt.toISOString(), enabled: m!.enabled } : {}),
        ...(clamped.length ? { clamped } : {}),
        ...(f.good ? { version: f.good.version, served: { version: f.good.version, reason: f.versions.reason }, versions: f.versions.list() } : {}),
        ...(m?.candidateOf ? { candidate: this.candidateStatus(f) } : {}),
        ...(m ? this.faultStatus(m.name, tenant) : {}),
      });
    }
    return { plugins, unattributedBroken };
  }

  private faultStatus(plugin: string, tenant: string): Pick<PluginStatus, "disabled" | "fault"> {
    const fault = this.faults.get(plugin)?.get(tenant);
    if (!fault) return {};
    return fault.disabled ? { disabled: fault.reason } : { fault: { at: fault.at.toISOString(), reason: fault.reason } };
  }

  /**
   * Runs a hook's chain for a tenant: here, or in the tenant's lane (one crossing: the lane runs
   * the same fold on its sandboxes, candidates included). A chain with nothing to run is answered here.
   */
  async run(tenant: Tenant, hook: HookName, input: HookInput, requestId: string, options: ChainOptions, lane?: LaneChain): Promise<ChainResult> {
    const lanes = this.options.lanes;
    if (lanes) {
      const plugins = this.chainOf(tenant.id, hook).map(({ live }) => live.manifest.name);
      const stock = hook === "process_record_file_path" && tenant.convertRecords && tenant.recordsDir !== undefined;
      if (plugins.length || stock) return lanes.run({ tenant: tenant.id, hook, inputJson: input.json, requestId, ...options }, input.value, plugins);
      return runChain(hook, input.value, [], options);
    }
    const lease = this.acquire(tenant, hook, requestId, input.json, lane);
    try {
      return await runChain(hook, input.value, lease.steps, options);
    } finally {
      lease.release();
    }
  }

  /**
   * The chain of one request: every plugin serving the tenant that implements the hook (it, or a
   * running candidate of it), held until release(); the stock conversion last. Which version answers
   * is decided per call (canaries); shadow runs start once the chain is done and hold their
   * sandboxes until they finish.
   */
  acquire(tenant: Tenant, hook: HookName, requestId: string, inputJson: string, lane?: LaneChain): Lease {
    const local = this.local();
    const held: Instance[] = [];
    // `owner` is the folder's own plugin name: a candidate's faults are its own, not the live plugin's
    const version = (plugin: LoadedPlugin, owner: string): VersionRun => {
      const instance = this.instance(plugin, owner, tenant, local);
      instance.leases++;
      held.push(instance);
      return this.versionRun(plugin, owner, instance, tenant, hook, requestId, lane);
    };
    const request: RequestContext = {
      tenant: tenant.id,
      hook,
      requestId,
      runs: this.ring!,
      logger: this.options.logger,
      shadowCounts: (candidate) => this.countsOf(candidate),
      // The text as sent, for every plugin of the chain; each step adds only its small overlay.
      inputJson,
      later: [],
    };
    const steps: ChainStep[] = [];
    for (const { live, trials } of this.chainOf(tenant.id, hook)) {
      const [canaries, shadows] = (["canary", "shadow"] as const).map((mode) =>
        trials.filter((t) => t.mode === mode).map((trial) => ({ trial, version: version(trial.asLive, trial.candidate.manifest.name) })),
      );
      steps.push(rolloutStep(version(live, live.manifest.name), canaries, shadows, request));
    }
    // After the plugins, on the path they left: what a stock connector does with the recording.
    const stock = hook === "process_record_file_path" ? stockRecordStep(tenant, local.capabilities.records) : undefined;
    if (stock) steps.push(stock);
    let released = false;
    const unlease = () => {
      for (const instance of held) {
        instance.leases--;
        if (instance.replaced && instance.leases === 0) this.dispose(instance);
      }
    };
    return {
      steps,
      release: () => {
        if (released) return;
        released = true;
        if (!request.later.length) return unlease();
        // After the answer has gone out (setImmediate runs after the response is written), one after another.
        setImmediate(() => {
          void (async () => {
            for (const job of request.later) await job();
          })().finally(unlease);
        });
      },
    };
  }

  /** Puts back the named kept version of a plugin, or the one before the served one, until its folder changes. */
  rollback(name: string, version?: string): { plugin: string; version: string; previous: string } {
    const f = this.folderServing(name);
    const { served, previous } = f.versions.rollback(name, version);
    if (served !== f.good) this.serveInstead(f, served);
    return { plugin: name, version: served.version, previous };
  }

  /** Serves a candidate's code as the plugin it is a candidate of (until that plugin's folder changes); the candidate stops running. */
  promote(name: string): { plugin: string; version: string } {
    const f = this.candidateFolder(name);
    const of = f.good!.manifest.candidateOf!;
    const live = [...this.folders.values()].find((l) => l.good && !l.good.manifest.candidateOf && l.good.manifest.name === of);
    if (!live) throw new RolloutRefusal(409, "no_live_plugin", `candidate ${name} is a candidate of ${of}, which is not loaded`);
    const promoted = asVersionOf(f.good!, live.good!);
    live.versions.promoted(promoted, this.options.config().keepVersions);
    this.stopTrial(f.dir, "promoted");
    this.serveInstead(live, promoted);
    return { plugin: of, version: promoted.version };
  }

  /** The candidate stops running until its folder changes. */
  abort(name: string): { candidate: string; state: "aborted" } {
    this.stopTrial(this.candidateFolder(name).dir, "aborted");
    return { candidate: name, state: "aborted" };
  }

  /** A candidate folder stops running (here and in every lane) until its folder loads anew. */
  stopTrial(dir: string, state: StoppedTrial["state"]): void {
    const f = this.folders.get(dir);
    if (!f?.good) return;
    f.trial = state;
    this.rebuildOrder();
    this.options.lanes?.stopTrial({ dir, state });
  }

  /** Every candidate folder, whomever it serves (the admin's overview). */
  candidates(): ({ name: string; folder: string; version: string } & CandidateStatus)[] {
    return [...this.folders.values()]
      .filter((f) => f.good?.manifest.candidateOf)
      .map((f) => ({ name: f.good!.manifest.name, folder: f.dir, version: f.good!.version, ...this.candidateStatus(f) }));
  }

  /** The version each loaded plugin serves, and each running candidate's (the version metric). */
  servedVersions(): { plugin: string; version: string; role: "served" | "candidate" }[] {
    return [
      ...this.plugins.map((p) => ({ plugin: p.manifest.name, version: p.version, role: "served" as const })),
      ...[...this.trials.values()].flat().map((t) => ({ plugin: t.candidate.manifest.name, version: t.candidate.version, role: "candidate" as const })),
    ];
  }

  /** What this process's shadow runs did, per candidate folder served now (a lane's heartbeat carries it). */
  shadowTally(): ShadowTally[] {
    return [...this.folders.values()].flatMap((f) => {
      const counts = f.good && this.shadowCounts.get(f.good);
      return counts ? [{ dir: f.dir, version: f.good!.version, counts: { ...counts } }] : [];
    });
  }

  /** Tenants or their config changed: new requests get sandboxes built with the new settings (in every lane). */
  resetInstances(): void {
    for (const plugin of [...this.instances.keys()]) this.retire(plugin);
    this.options.lanes?.reconfigure();
  }

  disposeAll(): void {
    for (const byTenant of this.instances.values()) for (const instance of byTenant.values()) this.dispose(instance);
    this.instances.clear();
  }

  private local(): LocalOptions {
    if (this.options.lanes) throw new Error("this registry runs its chains in lanes: it has no sandboxes of its own");
    return this.options;
  }

  /** The live plugins of the tenant's chain for the hook, each with its running candidates for the tenant. */
  private chainOf(tenant: string, hook: HookName): { live: LoadedPlugin; trials: Trial[] }[] {
    return this.servingTenant(tenant).flatMap((live) => {
      const trials = (this.trials.get(live.manifest.name) ?? []).filter((t) => servesTenant(t.candidate.manifest, tenant));
      return live.hooks.includes(hook) || trials.some((t) => t.asLive.hooks.includes(hook)) ? [{ live, trials }] : [];
    });
  }

  /** A rollback or a promotion: the folder serves `plugin` (here, and in every lane) until it loads anew. */
  private serveInstead(f: FolderState, plugin: LoadedPlugin): void {
    this.retire(f.good);
    f.good = plugin;
    // other code than the one that failed: it runs again
    this.faults.delete(plugin.manifest.name);
    this.rebuildOrder();
    this.options.lanes?.serve(f.dir, plugin.folder, plugin);
    // a lane takes a served folder as a fresh load, which would set a stopped candidate running
    if (f.trial !== "running") this.options.lanes?.stopTrial({ dir: f.dir, state: f.trial });
  }

  /** New requests stop getting this plugin's sandboxes; each is disposed once no request holds it. */
  private retire(plugin: LoadedPlugin | undefined): void {
    if (!plugin) return;
    for (const instance of this.instances.get(plugin)?.values() ?? []) {
      instance.replaced = true;
      if (instance.leases === 0) this.dispose(instance);
    }
    this.instances.delete(plugin);
  }

  private dispose(instance: Instance): void {
    instance.sandbox.dispose();
    this.recent.delete(instance.sandbox);
  }

  private rebuildOrder(): void {
    const good = [...this.folders.values()].sort((a, b) => (a.dir < b.dir ? -1 : 1)).flatMap((f) => (f.good ? [{ plugin: f.good, running: f.trial === "running" }] : []));
    this.plugins = sortByPriority(good.filter((g) => !g.plugin.manifest.candidateOf).map((g) => g.plugin));
    const running = good.filter((g) => g.plugin.manifest.candidateOf && g.running).map((g) => g.plugin);
    const { trials, retired } = pairTrials(running, this.plugins, [...this.trials.values()].flat());
    this.trials = trials;
    for (const t of retired) this.retire(t.asLive);
  }

  private candidateStatus(f: FolderState): CandidateStatus {
    const m = f.good!.manifest;
    const running = (this.trials.get(m.candidateOf!) ?? []).some((t) => t.candidate === f.good);
    const lanes = this.options.lanes;
    return {
      of: m.candidateOf!,
      mode: m.mode!,
      ...(m.percent === undefined ? {} : { percent: m.percent }),
      state: f.trial === "running" && !running ? "waiting" : f.trial,
      ...(m.mode === "shadow" ? { shadow: lanes ? lanes.shadowCounts(f.dir, f.good!.version) : this.countsOf(f.good!) } : {}),
    };
  }

  private countsOf(candidate: LoadedPlugin): ShadowCounts {
    let counts = this.shadowCounts.get(candidate);
    if (!counts) this.shadowCounts.set(candidate, (counts = { compared: 0, differences: 0, skipped: 0 }));
    return counts;
  }

  private folderServing(name: string): FolderState {
    const f = [...this.folders.values()].find((s) => s.good?.manifest.name === name);
    if (!f) throw new RolloutRefusal(404, "unknown_plugin", `no plugin named ${name} is loaded`);
    return f;
  }

  private candidateFolder(name: string): FolderState {
    const f = this.folderServing(name);
    if (!f.good!.manifest.candidateOf) throw new RolloutRefusal(409, "not_a_candidate", `plugin ${name} is not a candidate (its plugin.json has no candidateOf)`);
    return f;
  }

  /** One version of a plugin on this request, in the sandbox `instance`; its outcome names the version. */
  private versionRun(plugin: LoadedPlugin, owner: string, instance: Instance, tenant: Tenant, hook: HookName, requestId: string, lane: LaneChain | undefined): VersionRun {
    const decided = lane?.decided?.plugin === owner ? lane.decided : undefined;
    return {
      plugin,
      timeoutMs: instance.limits.timeouts[hook],
      gate: instance,
      run: async (inputJson, overlay, data, deadline, limitMs, logs) => {
        if (!plugin.hooks.includes(hook)) return { status: "skip", version: plugin.version };
        if (decided) return { status: decided.status, error: decided.error, version: plugin.version };
        const fault = this.faults.get(owner)?.get(tenant.id);
        if (fault?.disabled) return { status: "error", error: fault.reason, version: plugin.version };
        this.touch(instance.sandbox);
        const meta: RunMeta = lane ? { hook, requestId, chain: lane.chain } : { hook, requestId };
        if (logs) this.runLogs.set(meta, logs);
        const outcome = await instance.sandbox.run({
          hook,
          inputJson,
          overlayJson: JSON.stringify(overlay),
          dataJson: JSON.stringify(data),
          // a canary's own limit may be lower than the step's
          deadline: Math.min(deadline, Date.now() + instance.limits.timeouts[hook]),
          limitMs: Math.min(limitMs, instance.limits.timeouts[hook]),
          meta,
        });
        return { ...outcome, version: plugin.version };
      },
    };
  }

  private instance(plugin: LoadedPlugin, owner: string, tenant: Tenant, local: LocalOptions): Instance {
    let byTenant = this.instances.get(plugin);
    if (!byTenant) this.instances.set(plugin, (byTenant = new Map()));
    let instance = byTenant.get(tenant.id);
    if (!instance) {
      const overrides = tenant.config[plugin.manifest.name] ?? {};
      const limits = grantedLimits(plugin.manifest, this.options.config(), tenant.id);
      // the plugin's config with the tenant's overrides: enters the sandbox once, when it is built
      const configJson = JSON.stringify(mergeConfig(plugin.manifest.config, overrides));
      instance = { sandbox: this.createSandbox(plugin, owner, tenant, limits.memoryMb, configJson, local), limits, leases: 0, replaced: false, shadows: 0 };
      byTenant.set(tenant.id, instance);
    }
    return instance;
  }

  /** Marks a sandbox most recently used and unloads the least recently used idle ones past the cap. */
  private touch(sandbox: Sandbox): void {
    this.recent.delete(sandbox);
    this.recent.add(sandbox);
    const max = this.local().maxSandboxes;
    if (this.recent.size <= max) return;
    for (const old of this.recent) {
      if (this.recent.size <= max) break;
      if (old === sandbox || !old.idle) continue;
      old.unload();
      this.recent.delete(old);
    }
  }

  private createSandbox(plugin: LoadedPlugin, owner: string, tenant: Tenant, memoryMb: number, configJson: string, local: LocalOptions): Sandbox {
    const m = plugin.manifest;
    const granted: Record<string, Capability> = {};
    if (m.records) granted.records = local.capabilities.records;
    if (m.allowHosts.length) granted.http = local.capabilities.http;
    if (m.store) granted.store = local.capabilities.store;
    const log = this.options.logger.child({ tenant: tenant.id, plugin: m.name, version: plugin.version });
    const limiter = local.pluginLog;
    const sandbox: Sandbox = new Sandbox(plugin.code, {
      tenant: tenant.id,
      memoryMb,
      loadTimeoutMs: LOAD_TIMEOUT_MS,
      capabilities: granted,
      recordsDir: tenant.recordsDir,
      allowHosts: m.allowHosts,
      sync: local.sync !== undefined && !this.faults.get(owner)?.get(tenant.id)?.async,
      onHeld: (ms, reason) => log.warn("a run held the lane's thread; this plugin is called async from now on", { heldMs: ms, reason }),
      watch: local.sync?.watch(tenant.id, m.name, memoryMb),
      configJson,
      // lines the logger would not write never leave the isolate
      logLevels: LOG_LEVELS.filter((level) => log.isLevelEnabled(level)),
      logLimit: limiter && {
        perSecond: limiter.perSecond,
        burst: limiter.burst,
        onDropped: (count) => limiter.dropped(tenant.id, m.name, count),
      },
      onLog: (level, message, fields, run) => {
        const lines = run && this.runLogs.get(run);
        if (lines && lines.length < MAX_RUN_LOG_LINES) lines.push({ level, message, ...(fields === undefined ? {} : { fields }) });
        if (!limiter || limiter.allow(tenant.id, m.name)) log.log(level, message, { source: "plugin", hook: run?.hook, requestId: run?.requestId, fields });
      },
      onDisabled: (reason) => {
        // only a sandbox of the version served now: a retired version's fault is history
        if (this.instances.get(plugin)?.get(tenant.id)?.sandbox === sandbox) this.recordFault(owner, tenant.id, reason, true);
        local.onFault?.(owner, tenant.id, reason);
      },
    });
    return sandbox;
  }
}

/** The tenant's overrides over the plugin's own config: objects merge key by key, anything else replaces. */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
