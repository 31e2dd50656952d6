import { availableParallelism } from "node:os";
import type { HostConfig } from "./config.js";
import type { HostCapabilities } from "./registry.js";
import { createRecordsCapability } from "../capabilities/records.js";
import { createHttpCapability } from "../capabilities/http.js";
import { createStoreBackend, createStoreCapability, type StoreBackend } from "../capabilities/store.js";

/**
 * The capabilities a plugin may be granted, and the store backend behind ctx.store (the caller
 * closes it). `encoders` is how many record conversions may run at once in this process: one per
 * core for the whole host, so a lane gets its share of the cores.
 */
export function createCapabilities(env: NodeJS.ProcessEnv, config: () => HostConfig, encoders = availableParallelism()): { capabilities: HostCapabilities; store: StoreBackend } {
  const store = createStoreBackend(env, () => ({ entries: config().storeQuota.entries, bytes: config().storeQuota.mb * 1024 * 1024 }));
  const capabilities: HostCapabilities = {
    records: createRecordsCapability({ maxConcurrent: encoders }),
    http: createHttpCapability(),
    store: createStoreCapability(store),
  };
  return { capabilities, store };
}
