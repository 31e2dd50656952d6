// The host without its HTTP server, for `hookhost run` and `simulate`: the same settings, plugin
// loading, registry, capabilities and chain as core/front/server.ts, driven from the command line.
import { chainBudgetMs } from "../core/budget.js";
import { runChain, type ChainResult } from "../core/chain.js";
import { cancelsRequests } from "../core/connector-version.js";
import { loadSettings } from "../core/config.js";
import type { SourceProblem } from "../core/compile.js";
import { listFolders, loadFolder } from "../core/discovery.js";
import { loadLimits } from "../core/limits.js";
import type { HookName } from "../core/hooks.js";
import type { Logger } from "../core/log.js";
import { Registry } from "../core/registry.js";
import { createCapabilities } from "../core/host-capabilities.js";
import { Tenants, type Tenant } from "../core/tenants.js";
import { InputError, UsageError } from "./usage.js";

export interface LocalHostOptions {
  tenant: string;
  /** the plugins folder; else HOOKHOST_PLUGINS, else ./plugins (CONTRACT §1) */
  plugins?: string;
  /** the host config file; else HOOKHOST_CONFIG, else ./hookhost.json when present */
  config?: string;
}

export interface LocalHost {
  tenant: Tenant;
  pluginsDir: string;
  registry: Registry;
  /** folders that did not load: they serve nothing */
  broken: { dir: string; problem: SourceProblem }[];
  run(hook: HookName, input: Record<string, unknown>, requestId: string): Promise<ChainResult>;
  close(): Promise<void>;
}

export async function openLocalHost(options: LocalHostOptions, logger: Logger): Promise<LocalHost> {
  const settings = loadSettings({
    ...process.env,
    ...(options.plugins !== undefined ? { HOOKHOST_PLUGINS: options.plugins } : {}),
    ...(options.config !== undefined ? { HOOKHOST_CONFIG: options.config } : {}),
    // Nothing listens here, so the environment's address and port are beside the point.
    HOST: "127.0.0.1",
    PORT: "0",
  });
  const tenants = new Tenants(settings.config);
  const tenant = tenants.get(options.tenant);
  if (!tenant) {
    const source = settings.configFile ?? "the built-in config (no hookhost.json)";
    throw new UsageError(`unknown tenant "${options.tenant}": ${source} serves ${tenants.ids.map((id) => `"${id}"`).join(", ") || "no tenant"}`);
  }
  const config = settings.config;
  const { capabilities, store } = createCapabilities(process.env, () => config);
  const registry = new Registry({ config: () => config, capabilities, logger, maxSandboxes: config.maxSandboxes });
  try {
    for (const dir of await listFolders(settings.pluginsDir)) registry.apply(await loadFolder(settings.pluginsDir, dir, loadLimits(config)));
  } catch (e) {
    registry.disposeAll();
    await store.close();
    throw new InputError((e as Error).message);
  }
  return {
    tenant,
    pluginsDir: settings.pluginsDir,
    registry,
    broken: registry.broken,
    async run(hook, input, requestId) {
      const lease = registry.acquire(tenant, hook, requestId, JSON.stringify(input));
      try {
        return await runChain(hook, input, lease.steps, { budgetMs: chainBudgetMs(hook, config.budgets), cancellation: cancelsRequests(tenant.connectorVersion) });
      } finally {
        lease.release();
      }
    },
    async close() {
      registry.disposeAll();
      await store.close();
    },
  };
}
