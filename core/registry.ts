import type { ChainStep } from "./chain.js";
import type { HostConfig } from "./config.js";
import { LOAD_TIMEOUT_MS, type BrokenPlugin, type Discovery, type LoadedPlugin } from "./discovery.js";
import type { HookName } from "./hooks.js";
import { rules } from "./hooks.js";
import type { Logger } from "./log.js";
import type { Tenant } from "./tenants.js";
import { Sandbox, type Capability } from "../sandbox/index.js";

/** The capabilities the host offers; a plugin's manifest decides which of them its sandboxes get. */
export interface HostCapabilities {
  records: Capability;
  http: Capability;
  store: Capability;
}

interface Instance {
  sandbox: Sandbox;
  /** the plugin's config with the tenant's overrides, serialised once */
  configJson: string;
}

/**
 * The plugins the host serves right now, and their sandboxes, one per tenant × plugin, built on
 * first use. `replace` swaps the whole set at once.
 */
export class Registry {
  private plugins: LoadedPlugin[] = [];
  private brokenPlugins: BrokenPlugin[] = [];
  private readonly instances = new Map<LoadedPlugin, Map<string, Instance>>();

  constructor(
    private readonly config: () => HostConfig,
    private readonly capabilities: HostCapabilities,
    private readonly logger: Logger,
  ) {}

  get loaded(): readonly LoadedPlugin[] {
    return this.plugins;
  }

  get broken(): readonly BrokenPlugin[] {
    return this.brokenPlugins;
  }

  replace(discovery: Discovery): void {
    const kept = new Set(discovery.plugins);
    for (const [plugin, byTenant] of this.instances) {
      if (kept.has(plugin)) continue;
      for (const instance of byTenant.values()) instance.sandbox.dispose();
      this.instances.delete(plugin);
    }
    this.plugins = discovery.plugins;
    this.brokenPlugins = discovery.broken;
  }

  /** The enabled plugins that serve this tenant, in chain order. */
  servingTenant(tenant: string): LoadedPlugin[] {
    return this.plugins.filter((p) => p.manifest.enabled && (p.manifest.tenants === "*" || p.manifest.tenants.includes(tenant)));
  }

  /** The chain of one request: every plugin serving the tenant that implements the hook. */
  steps(tenant: Tenant, hook: HookName, requestId: string): ChainStep[] {
    return this.servingTenant(tenant.id)
      .filter((p) => p.hooks.includes(hook))
      .map((plugin) => {
        const instance = this.instance(plugin, tenant);
        const config = this.config();
        const timeoutMs = plugin.manifest.timeouts[hook] ?? config.timeouts[hook] ?? config.timeouts.default ?? rules[hook].defaultTimeoutMs;
        const name = JSON.stringify(plugin.manifest.name);
        return {
          plugin: plugin.manifest.name,
          timeoutMs,
          run: (input, data, deadline) =>
            instance.sandbox.run({
              hook,
              inputJson: JSON.stringify(input),
              ctxJson: `{"tenant":${JSON.stringify(tenant.id)},"hook":"${hook}","plugin":${name},"config":${instance.configJson},"data":${JSON.stringify(data)}}`,
              deadline,
              meta: { hook, requestId },
            }),
        };
      });
  }

  disposeAll(): void {
    for (const byTenant of this.instances.values()) for (const instance of byTenant.values()) instance.sandbox.dispose();
    this.instances.clear();
  }

  private instance(plugin: LoadedPlugin, tenant: Tenant): Instance {
    let byTenant = this.instances.get(plugin);
    if (!byTenant) this.instances.set(plugin, (byTenant = new Map()));
    let instance = byTenant.get(tenant.id);
    if (!instance) {
      instance = { sandbox: this.createSandbox(plugin, tenant), configJson: JSON.stringify(mergeConfig(plugin.manifest.config, tenant.config[plugin.manifest.name] ?? {})) };
      byTenant.set(tenant.id, instance);
    }
    return instance;
  }

  private createSandbox(plugin: LoadedPlugin, tenant: Tenant): Sandbox {
    const m = plugin.manifest;
    const granted: Record<string, Capability> = {};
    if (m.records) granted.records = this.capabilities.records;
    if (m.allowHosts.length) granted.http = this.capabilities.http;
    if (m.store) granted.store = this.capabilities.store;
    const log = this.logger.child({ tenant: tenant.id, plugin: m.name });
    return new Sandbox(plugin.code, {
      tenant: tenant.id,
      memoryMb: m.memoryMb ?? this.config().memoryMb,
      loadTimeoutMs: LOAD_TIMEOUT_MS,
      capabilities: granted,
      recordsDir: tenant.recordsDir,
      allowHosts: m.allowHosts,
      onLog: (level, message, fields, run) => log.log(level, message, { source: "plugin", hook: run?.hook, requestId: run?.requestId, fields }),
    });
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
