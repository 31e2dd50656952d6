import type { ChainStep, StepOutcome } from "./chain.js";
import type { SourceProblem } from "./compile.js";
import type { HostConfig } from "./config.js";
import { LOAD_TIMEOUT_MS, sortByPriority, type FolderResult, type LoadedPlugin } from "./discovery.js";
import type { HookName } from "./hooks.js";
import { grantedLimits, type Clamp, type GrantedLimits } from "./limits.js";
import type { Logger, PluginLogLimiter } from "./log.js";
import { stockRecordStep } from "./stock-record.js";
import { servesTenant, type Manifest } from "./manifest.js";
import type { Tenant } from "./tenants.js";
import { asVersionOf, callKey, canaryPicks, differs, MAX_SHADOWS_IN_FLIGHT, verdict, type ShadowCounts, type Trial } from "./rollout.js";
import { MAX_RUN_LOG_LINES, RecentRuns, type RunLogLine } from "./runs.js";
import { RolloutRefusal, VersionHistory, type ServedReason } from "./versions.js";
import { LOG_LEVELS, Sandbox, type Capability, type MemoryReading, type RunMeta } from "../sandbox/index.js";

/** The capabilities the host offers; a plugin's manifest decides which of them its sandboxes get. */
export interface HostCapabilities {
  records: Capability;
  http: Capability;
  store: Capability;
}

export interface RegistryOptions {
  config: () => HostConfig;
  capabilities: HostCapabilities;
  logger: Logger;
  /** most sandboxes alive at once; past it the least recently used idle one is unloaded */
  maxSandboxes: number;
  /** rate-limits plugins' `ctx.log` lines per tenant × plugin; without it every line is written */
  pluginLog?: PluginLogLimiter;
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

type CandidateState = "running" | "aborted" | "promoted";

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
}

/** A tenant's view of the plugins folder. */
export interface TenantStatus {
  plugins: PluginStatus[];
  /** broken folders whose plugin.json does not say which tenants they serve */
  unattributedBroken: number;
}

interface Instance {
  sandbox: Sandbox;
  /** the plugin's config with the tenant's overrides, serialised once */
  configJson: string;
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
  /** the running candidates of each live plugin, by its name */
  private trials = new Map<string, Trial[]>();
  private readonly shadowCounts = new WeakMap<LoadedPlugin, ShadowCounts>();
  /** the ctx.log lines of the runs being recorded, by the run's meta (the sandbox hands it back with each line) */
  private readonly runLogs = new WeakMap<RunMeta, RunLogLine[]>();
  readonly runs: RecentRuns;

  constructor(private readonly options: RegistryOptions) {
    this.runs = new RecentRuns(() => options.config());
  }

  get loaded(): readonly LoadedPlugin[] {
    return this.plugins;
  }

  /** Folders that serve nothing because they never loaded. */
  get broken(): { dir: string; problem: SourceProblem }[] {
    return [...this.folders.values()].filter((f) => !f.good && f.problem).map((f) => ({ dir: f.dir, problem: f.problem! }));
  }

  get sandboxesAlive(): number {
    return this.recent.size;
  }

  /** Memory held by the alive sandboxes' isolates, summed. */
  sandboxMemory(): MemoryReading {
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
      });
    }
    return { plugins, unattributedBroken };
  }

  /**
   * The chain of one request: every plugin serving the tenant that implements the hook (it, or a
   * running candidate of it), held until release(); the stock conversion last. Which version answers
   * is decided per call (canaries); shadow runs start once the chain is done and hold their
   * sandboxes until they finish.
   */
  acquire(tenant: Tenant, hook: HookName, requestId: string): Lease {
    const held: Instance[] = [];
    const hold = (plugin: LoadedPlugin): Instance => {
      const instance = this.instance(plugin, tenant);
      instance.leases++;
      held.push(instance);
      return instance;
    };
    const shadowJobs: (() => Promise<void>)[] = [];
    // Serialized once, for every plugin of the chain; each step adds only its small overlay.
    let inputJson: string | undefined;
    const steps: ChainStep[] = [];
    for (const live of this.servingTenant(tenant.id)) {
      const trials = (this.trials.get(live.manifest.name) ?? []).filter((t) => servesTenant(t.candidate.manifest, tenant.id));
      if (!live.hooks.includes(hook) && !trials.some((t) => t.asLive.hooks.includes(hook))) continue;
      const liveInstance = hold(live);
      const canaries = trials.filter((t) => t.mode === "canary").map((trial) => ({ trial, instance: hold(trial.asLive) }));
      const shadows = trials.filter((t) => t.mode === "shadow").map((trial) => ({ trial, instance: hold(trial.asLive) }));
      let ran: { at: Date; input: Record<string, unknown>; overlay: Record<string, unknown>; data: Record<string, unknown>; logs: RunLogLine[]; canary?: Trial } | undefined;
      steps.push({
        plugin: live.manifest.name,
        timeoutMs: Math.max(liveInstance.limits.timeouts[hook], ...canaries.map((c) => c.instance.limits.timeouts[hook])),
        run: (input, overlay, data, deadline) => {
          const canary = canaries.length ? canaries.find((c) => canaryPicks(callKey(input, requestId), c.trial.percent)) : undefined;
          ran = { at: new Date(), input, overlay, data, logs: [], canary: canary?.trial };
          inputJson ??= JSON.stringify(input);
          return this.runVersion(canary?.trial.asLive ?? live, canary?.instance ?? liveInstance, tenant, hook, requestId, inputJson, overlay, data, deadline, ran.logs);
        },
        settled: (entry, outcome) => {
          if (!ran) return;
          const { at, input, overlay, data, logs, canary } = ran;
          this.runs.record(tenant.id, {
            at: at.toISOString(),
            requestId,
            plugin: live.manifest.name,
            version: outcome.version,
            ...(canary ? { candidate: canary.candidate.manifest.name } : {}),
            hook,
            input,
            saw: { overlay, data },
            answer: answerOf(outcome),
            logs,
            outcome: entry.status,
            ms: entry.ms,
            ...(entry.error === undefined ? {} : { error: entry.error }),
          });
          // A shadow is compared with the live version's run only.
          if (canary) return;
          for (const { trial, instance } of shadows) shadowJobs.push(() => this.shadowRun(trial, instance, tenant, hook, requestId, input, inputJson!, overlay, data, outcome));
        },
      });
    }
    // After the plugins, on the path they left: what a stock connector does with the recording.
    const stock = hook === "process_record_file_path" ? stockRecordStep(tenant, this.options.capabilities.records) : undefined;
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
        if (!shadowJobs.length) return unlease();
        // After the answer has gone out (setImmediate runs after the response is written), one after another.
        setImmediate(() => {
          void (async () => {
            for (const job of shadowJobs) await job();
          })().finally(unlease);
        });
      },
    };
  }

  /** Puts back the named kept version of a plugin, or the one before the served one, until its folder changes. */
  rollback(name: string, version?: string): { plugin: string; version: string; previous: string } {
    const f = this.folderServing(name);
    const { served, previous } = f.versions.rollback(name, version);
    if (served !== f.good) {
      this.retire(f.good);
      f.good = served;
      this.rebuildOrder();
    }
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
    this.retire(live.good);
    live.good = promoted;
    f.trial = "promoted";
    this.rebuildOrder();
    return { plugin: of, version: promoted.version };
  }

  /** The candidate stops running until its folder changes. */
  abort(name: string): { candidate: string; state: "aborted" } {
    const f = this.candidateFolder(name);
    f.trial = "aborted";
    this.rebuildOrder();
    return { candidate: name, state: "aborted" };
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

  /** Tenants or their config changed: new requests get sandboxes built with the new settings. */
  resetInstances(): void {
    for (const plugin of [...this.instances.keys()]) this.retire(plugin);
  }

  disposeAll(): void {
    for (const byTenant of this.instances.values()) for (const instance of byTenant.values()) this.dispose(instance);
    this.instances.clear();
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
    const good = [...this.folders.values()].flatMap((f) => (f.good ? [f.good] : []));
    this.plugins = sortByPriority(good.filter((p) => !p.manifest.candidateOf));
    // Running candidates against the live plugin they name; a pairing that did not change keeps its sandboxes.
    const before = [...this.trials.values()].flat();
    const trials = new Map<string, Trial[]>();
    for (const f of [...this.folders.values()].sort((a, b) => (a.dir < b.dir ? -1 : 1))) {
      const m = f.good?.manifest;
      const live = m?.candidateOf && f.trial === "running" ? this.plugins.find((p) => p.manifest.name === m.candidateOf) : undefined;
      if (!live) continue;
      const kept = before.find((t) => t.candidate === f.good && t.live === live);
      const trial = kept ?? { candidate: f.good!, live, asLive: asVersionOf(f.good!, live), mode: m!.mode!, percent: m!.percent ?? 100 };
      trials.set(live.manifest.name, [...(trials.get(live.manifest.name) ?? []), trial]);
    }
    this.trials = trials;
    const now = new Set([...trials.values()].flat());
    for (const t of before) if (!now.has(t)) this.retire(t.asLive);
  }

  private candidateStatus(f: FolderState): CandidateStatus {
    const m = f.good!.manifest;
    const running = (this.trials.get(m.candidateOf!) ?? []).some((t) => t.candidate === f.good);
    return {
      of: m.candidateOf!,
      mode: m.mode!,
      ...(m.percent === undefined ? {} : { percent: m.percent }),
      state: f.trial === "running" && !running ? "waiting" : f.trial,
      ...(m.mode === "shadow" ? { shadow: this.countsOf(f.good!) } : {}),
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

  /** Runs one version of a plugin for a request; the outcome names the version. */
  private async runVersion(
    plugin: LoadedPlugin,
    instance: Instance,
    tenant: Tenant,
    hook: HookName,
    requestId: string,
    inputJson: string,
    overlay: Record<string, unknown>,
    data: Record<string, unknown>,
    deadline: number,
    logs?: RunLogLine[],
  ): Promise<StepOutcome> {
    if (!plugin.hooks.includes(hook)) return { status: "skip", version: plugin.version };
    this.touch(instance.sandbox);
    const meta: RunMeta = { hook, requestId };
    if (logs) this.runLogs.set(meta, logs);
    const outcome = await instance.sandbox.run({
      hook,
      inputJson,
      overlayJson: JSON.stringify(overlay),
      ctxJson: `{"tenant":${JSON.stringify(tenant.id)},"hook":"${hook}","plugin":${JSON.stringify(plugin.manifest.name)},"config":${instance.configJson},"data":${JSON.stringify(data)}}`,
      // a canary's own limit may be lower than the step's
      deadline: Math.min(deadline, Date.now() + instance.limits.timeouts[hook]),
      meta,
    });
    return { ...outcome, version: plugin.version };
  }

  /** A candidate's run beside the live one's, after the answer went out; a difference is recorded with the input. */
  private async shadowRun(trial: Trial, instance: Instance, tenant: Tenant, hook: HookName, requestId: string, input: Record<string, unknown>, inputJson: string, overlay: Record<string, unknown>, data: Record<string, unknown>, live: StepOutcome): Promise<void> {
    const counts = this.countsOf(trial.candidate);
    if (instance.shadows >= MAX_SHADOWS_IN_FLIGHT) {
      counts.skipped++;
      return;
    }
    instance.shadows++;
    try {
      const outcome = await this.runVersion(trial.asLive, instance, tenant, hook, requestId, inputJson, overlay, data, Date.now() + instance.limits.timeouts[hook]);
      const [was, would] = [verdict(hook, live), verdict(hook, outcome)];
      counts.compared++;
      if (!differs(was, would)) return;
      counts.differences++;
      this.runs.recordDifference(tenant.id, {
        at: new Date().toISOString(),
        requestId,
        hook,
        plugin: trial.live.manifest.name,
        candidate: trial.candidate.manifest.name,
        version: trial.candidate.version,
        input,
        live: { ...was, version: live.version },
        candidateAnswer: would,
      });
    } catch (e) {
      this.options.logger.warn("shadow run failed", { tenant: tenant.id, hook, requestId, candidate: trial.candidate.manifest.name, error: String(e) });
    } finally {
      instance.shadows--;
    }
  }

  private instance(plugin: LoadedPlugin, tenant: Tenant): Instance {
    let byTenant = this.instances.get(plugin);
    if (!byTenant) this.instances.set(plugin, (byTenant = new Map()));
    let instance = byTenant.get(tenant.id);
    if (!instance) {
      const overrides = tenant.config[plugin.manifest.name] ?? {};
      const limits = grantedLimits(plugin.manifest, this.options.config(), tenant.id);
      instance = { sandbox: this.createSandbox(plugin, tenant, limits.memoryMb), configJson: JSON.stringify(mergeConfig(plugin.manifest.config, overrides)), limits, leases: 0, replaced: false, shadows: 0 };
      byTenant.set(tenant.id, instance);
    }
    return instance;
  }

  /** Marks a sandbox most recently used and unloads the least recently used idle ones past the cap. */
  private touch(sandbox: Sandbox): void {
    this.recent.delete(sandbox);
    this.recent.add(sandbox);
    if (this.recent.size <= this.options.maxSandboxes) return;
    for (const old of this.recent) {
      if (this.recent.size <= this.options.maxSandboxes) break;
      if (old === sandbox || !old.idle) continue;
      old.unload();
      this.recent.delete(old);
    }
  }

  private createSandbox(plugin: LoadedPlugin, tenant: Tenant, memoryMb: number): Sandbox {
    const m = plugin.manifest;
    const granted: Record<string, Capability> = {};
    if (m.records) granted.records = this.options.capabilities.records;
    if (m.allowHosts.length) granted.http = this.options.capabilities.http;
    if (m.store) granted.store = this.options.capabilities.store;
    const log = this.options.logger.child({ tenant: tenant.id, plugin: m.name, version: plugin.version });
    const limiter = this.options.pluginLog;
    return new Sandbox(plugin.code, {
      tenant: tenant.id,
      memoryMb,
      loadTimeoutMs: LOAD_TIMEOUT_MS,
      capabilities: granted,
      recordsDir: tenant.recordsDir,
      allowHosts: m.allowHosts,
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
    });
  }
}

/** What a run answered, as recent runs show it: the value, the cancel and its reason, or nothing. */
function answerOf(outcome: StepOutcome): unknown {
  if (outcome.status === "ok") return outcome.value;
  if (outcome.status === "cancel") return { cancel: outcome.reason };
  return null;
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
