import type { HostConfig } from "./config.js";
import type { LoadLimits } from "./discovery.js";
import { HOOK_NAMES, rules, type HookName } from "./hooks.js";
import { servesTenant, type Manifest } from "./manifest.js";

/** A plugin.json ask above its ceiling, and what was granted instead. */
export interface Clamp {
  /** `memoryMb` or `timeouts.<hook>` */
  field: string;
  asked: number;
  granted: number;
}

/** What one tenant's sandbox of a plugin gets. */
export interface GrantedLimits {
  memoryMb: number;
  timeouts: Record<HookName, number>;
  clamped: Clamp[];
}

/**
 * The heap and run-time limits of a tenant's sandbox of this plugin: what plugin.json asks for,
 * within the ceilings of the host config. The host's `memoryMb` and `timeouts` are the ceilings;
 * the tenant's `limits` and the plugin's `pluginLimits` may raise them (the highest wins). A plugin
 * that asks for nothing gets the ceiling; one that asks for more gets the ceiling and a Clamp.
 */
export function grantedLimits(manifest: Manifest, config: HostConfig, tenant: string): GrantedLimits {
  const raises = [own(config.tenants, tenant)?.limits, own(config.pluginLimits, manifest.name)];
  const clamped: Clamp[] = [];
  const grant = (field: string, asked: number | undefined, ceiling: number): number => {
    if (asked === undefined || asked <= ceiling) return asked ?? ceiling;
    clamped.push({ field, asked, granted: ceiling });
    return ceiling;
  };
  const memoryMb = grant("memoryMb", manifest.memoryMb, Math.max(config.memoryMb, ...raises.map((r) => r?.memoryMb ?? 0)));
  const timeouts = {} as Record<HookName, number>;
  for (const hook of HOOK_NAMES) {
    const host = config.timeouts[hook] ?? config.timeouts.default ?? rules[hook].defaultTimeoutMs;
    const ceiling = Math.max(host, ...raises.map((r) => r?.timeouts[hook] ?? r?.timeouts.default ?? 0));
    timeouts[hook] = grant(`timeouts.${hook}`, manifest.timeouts[hook], ceiling);
  }
  return { memoryMb, timeouts, clamped };
}

/** The load-time probe gets the largest heap any tenant the plugin serves would grant it. */
export function loadLimits(config: HostConfig): LoadLimits {
  return {
    memoryMb: (manifest) => Math.max(...[...servedTenants(manifest, config), ""].map((t) => grantedLimits(manifest, config, t).memoryMb)),
  };
}

/** The plugin's clamps, one entry per group of configured tenants that get the same ones (for one log line each). */
export function clampsByTenants(manifest: Manifest, config: HostConfig): { tenants: string[]; clamped: Clamp[] }[] {
  const groups = new Map<string, { tenants: string[]; clamped: Clamp[] }>();
  for (const tenant of servedTenants(manifest, config)) {
    const { clamped } = grantedLimits(manifest, config, tenant);
    if (!clamped.length) continue;
    const key = JSON.stringify(clamped);
    const group = groups.get(key) ?? { tenants: [], clamped };
    group.tenants.push(tenant);
    groups.set(key, group);
  }
  return [...groups.values()];
}

function servedTenants(manifest: Manifest, config: HostConfig): string[] {
  return Object.keys(config.tenants).filter((t) => servesTenant(manifest, t));
}

/** A record's own entry: a plugin may be named `constructor`. */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
