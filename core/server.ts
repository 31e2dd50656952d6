import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import type { Settings } from "./config.js";
import { discover } from "./discovery.js";
import { createApp } from "./http.js";
import type { Logger } from "./log.js";
import { Registry, type HostCapabilities } from "./registry.js";
import { Tenants } from "./tenants.js";
import { createRecordsCapability } from "../sandbox/capabilities/records.js";
import { createHttpCapability } from "../sandbox/capabilities/http.js";
import { createStoreBackend, createStoreCapability } from "../sandbox/capabilities/store.js";

export interface RunningHost {
  url: string;
  port: number;
  registry: Registry;
  /** stop accepting, let requests in flight finish (at most `graceMs`), free every sandbox */
  close(graceMs?: number): Promise<void>;
}

/** Loads the plugins, then listens: the whole host, as `npm start` and the tests run it. */
export async function startHost(settings: Settings, logger: Logger): Promise<RunningHost> {
  const config = settings.config;
  const tenants = new Tenants(config);
  const store = createStoreBackend(process.env);
  const capabilities: HostCapabilities = {
    records: createRecordsCapability({ maxConcurrent: availableParallelism() }),
    http: createHttpCapability(),
    store: createStoreCapability(store),
  };
  const registry = new Registry(() => config, capabilities, logger);
  let ready = false;
  const app = createApp({ registry, tenants: () => tenants, bodyLimitKb: () => config.bodyLimitKb, logger, ready: () => ready });
  app.on("error", (e: Error) => logger.debug("connection error", { error: e.message }));
  const discovery = await discover(settings.pluginsDir, { memoryMb: config.memoryMb });
  for (const b of discovery.broken) logger.error("plugin failed to load", { folder: b.folder, file: b.problem.file, line: b.problem.line, column: b.problem.column, error: b.problem.message });
  registry.replace(discovery);
  ready = true;

  const server = createServer(app.callback());
  await listen(server, settings.port, settings.host);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${port}`;
  logger.info(`listening on ${url}`, { address: settings.host, port, plugins: registry.loaded.length, broken: registry.broken.length, tenants: tenants.ids });

  return {
    url,
    port,
    registry,
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      registry.disposeAll();
      await store.close();
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
