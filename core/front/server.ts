import type { RequestListener, Server } from "node:http";
import { lstat } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { bindingProblems, ConfigError, isLoopback, readConfigFile, type HostConfig, type Settings } from "../config.js";
import { listFolders, loadFolder, type FolderResult, type LoadedPlugin } from "../discovery.js";
import { createApp } from "./http.js";
import { clampsByTenants, loadLimits } from "../limits.js";
import { listen, type Listener } from "./listener.js";
import { pluginLogLimiter, type Logger } from "../log.js";
import { Metrics } from "./metrics.js";
import { Registry } from "../registry.js";
import { createCapabilities } from "../host-capabilities.js";
import { Lanes } from "../lanes/supervisor.js";
import { Tenants } from "../tenants.js";
import { watchFile, watchPlugins } from "../watcher.js";

export interface RunningHost {
  url: string;
  port: number;
  registry: Registry;
  metrics: Metrics;
  /** the lane processes' ids: lane 0, lane 1, …, then the others (a replacement starting, the spare, lanes finishing); none with `lanes: 0` */
  lanePids(): number[];
  /** resolves once every reload scheduled so far has been applied (tests, tools) */
  settled(): Promise<void>;
  /** stop accepting, let requests in flight finish (at most `graceMs`), free every sandbox */
  close(graceMs?: number): Promise<void>;
}

/**
 * Loads the plugins, then serves on `listener` (taken here when not given) and keeps following the
 * plugins folder and the config file.
 */
export async function startHost(settings: Settings, logger: Logger, listener?: Listener): Promise<RunningHost> {
  const taken = listener ?? (await listen(settings.port, settings.host));
  try {
    const host = await serveOn(taken.server, settings, logger);
    taken.serve(host.handle);
    return host.running;
  } catch (e) {
    taken.server.close();
    throw e;
  }
}

async function serveOn(server: Server, settings: Settings, logger: Logger): Promise<{ handle: RequestListener; running: RunningHost }> {
  let config: HostConfig = settings.config;
  let tenants = new Tenants(config);
  // With lanes the sandboxes and the capabilities they use live in the lanes; the front keeps the
  // plugin versions and status. `lanes: 0` runs everything here.
  const lanes = config.lanes > 0 ? new Lanes({ count: config.lanes, config: () => config, logger }) : undefined;
  const local = lanes ? undefined : { ...createCapabilities(process.env, () => config), pluginLog: pluginLogLimiter() };
  const registry = lanes
    ? new Registry({ config: () => config, logger, lanes })
    : new Registry({ config: () => config, capabilities: local!.capabilities, logger, maxSandboxes: config.maxSandboxes, pluginLog: local!.pluginLog });
  // The lanes start while the plugins load; a lane that cannot start stops the host's start below.
  const lanesFailed = lanes?.start(registry).then(
    () => undefined,
    (e: unknown) => e,
  );
  // With lanes a plugin's modules are tried in a lane too: a module V8 cannot survive costs a lane.
  const limits = () => (lanes ? { ...loadLimits(config), probe: lanes.probe.bind(lanes) } : loadLimits(config));
  const metrics = new Metrics({ alive: () => registry.sandboxesAlive, memory: () => registry.sandboxMemory() });
  const reportDrops = () => {
    for (const { tenant, plugin, dropped } of local?.pluginLog.takeDropped() ?? []) logger.warn("plugin log lines dropped by the rate limit", { tenant, plugin, dropped });
  };
  const dropReport = setInterval(reportDrops, 5000).unref();

  const reportClamps = (plugin: LoadedPlugin) => {
    for (const { tenants, clamped } of clampsByTenants(plugin.manifest, config)) {
      logger.warn("plugin.json asks for more than the host's ceilings; clamped", { folder: basename(plugin.folder), plugin: plugin.manifest.name, tenants, clamped });
    }
  };
  const applyResult = (result: FolderResult, reload: boolean) => {
    registry.apply(result);
    if (reload) metrics.reload("plugin", !result.problem);
    if (result.problem) {
      const p = result.problem;
      logger.error(reload ? "plugin reload failed; the last good version keeps serving" : "plugin failed to load", { folder: result.dir, file: p.file, line: p.line, column: p.column, error: p.message });
    } else {
      if (reload) logger.info("plugin reloaded", { folder: result.dir, plugin: result.plugin.manifest.name, hooks: result.plugin.hooks });
      reportClamps(result.plugin);
    }
  };
  for (const dir of await listFolders(settings.pluginsDir)) applyResult(await loadFolder(settings.pluginsDir, dir, limits()), false);

  // Reloads of one folder run one after another; a change during a reload schedules one more.
  const reloading = new Map<string, Promise<void>>();
  const reloadFolder = (dir: string) => {
    const next = (reloading.get(dir) ?? Promise.resolve()).then(async () => {
      // lstat, as at start: a link in the plugins folder is not a plugin folder.
      const isDir = await lstat(`${settings.pluginsDir}/${dir}`).then((s) => s.isDirectory(), () => false);
      if (!isDir) {
        if (registry.folderNames.includes(dir)) logger.info("plugin folder removed", { folder: dir });
        registry.remove(dir);
        return;
      }
      applyResult(await loadFolder(settings.pluginsDir, dir, limits()), true);
    });
    const tracked = next.catch((e: unknown) => {
      logger.error("plugin reload crashed", { folder: dir, error: String(e) });
    });
    reloading.set(dir, tracked);
    void tracked.finally(() => reloading.get(dir) === tracked && reloading.delete(dir));
  };
  const pluginWatcher = watchPlugins(settings.pluginsDir, reloadFolder);
  const configWatcher =
    settings.configFile === undefined
      ? undefined
      : watchFile(settings.configFile, () => {
      try {
        const next = readConfigFile(settings.configFile!);
        const exposed = bindingProblems(next, settings.host, settings.configFile!);
        if (exposed.length) throw new ConfigError(settings.configFile!, exposed);
        config = next;
        tenants = new Tenants(config);
        registry.resetInstances();
        metrics.reload("config", true);
        logger.info("config reloaded", { tenants: tenants.ids });
        for (const plugin of registry.loaded) reportClamps(plugin);
      } catch (e) {
        metrics.reload("config", false);
        const problems = e instanceof ConfigError ? e.problems : [String(e)];
        logger.error("config reload failed; the last good config stays in force", { file: settings.configFile, problems });
      }
    });
  await pluginWatcher.ready;
  const failed = await lanesFailed;
  if (failed) throw failed;

  const app = createApp({ registry, metrics, tenants: () => tenants, config: () => config, logger, loopback: isLoopback(settings.host) });
  app.on("error", (e: Error) => logger.debug("connection error", { error: e.message }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${port}`;
  logger.info(`listening on ${url}`, { address: settings.host, port, plugins: registry.loaded.length, broken: registry.broken.length, tenants: tenants.ids });

  const running: RunningHost = {
    url,
    port,
    registry,
    metrics,
    lanePids: () => lanes?.pids ?? [],
    async settled() {
      while (reloading.size) await Promise.all(reloading.values());
    },
    async close(graceMs = 10_000) {
      clearInterval(dropReport);
      await pluginWatcher.close();
      await configWatcher?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      if (lanes) await lanes.close();
      else {
        registry.disposeAll();
        await local!.store.close();
        reportDrops();
      }
    },
  };
  return { handle: app.callback(), running };
}
