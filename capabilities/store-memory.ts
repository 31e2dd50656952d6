// The embedded store backend: one process's memory. Each tenant has its own quota of entries and
// bytes (store-quota.ts); past either, that tenant's least recently used entries go first.
import type { StoreBackend } from "./store.js";
import { entryBytes, type StoreQuota } from "./store-quota.js";

export interface MemoryBackendOptions {
  /** Read at every write, so a config reload applies to the next write. */
  quota: () => StoreQuota;
  /** The clock, in epoch ms; injectable so tests can pass time without waiting. */
  now?: () => number;
  /** How often expired entries are swept even if nobody reads them. Default 60 s. */
  sweepIntervalMs?: number;
}

interface Entry {
  value: string;
  expiresAt: number;
  bytes: number;
}

/** One tenant's entries. A Map iterates in insertion order; re-inserting on every touch keeps the least recently used first. */
interface Shelf {
  entries: Map<string, Entry>;
  bytes: number;
}

export function createMemoryBackend(opts: MemoryBackendOptions): StoreBackend {
  const sweepIntervalMs = positiveInteger("sweepIntervalMs", opts.sweepIntervalMs ?? 60_000);
  const now = opts.now ?? Date.now;
  const shelves = new Map<string, Shelf>();

  const shelf = (tenant: string): Shelf => {
    let found = shelves.get(tenant);
    if (found === undefined) shelves.set(tenant, (found = { entries: new Map(), bytes: 0 }));
    return found;
  };
  const remove = (tenant: string, from: Shelf, key: string, entry: Entry) => {
    from.entries.delete(key);
    from.bytes -= entry.bytes;
    if (from.entries.size === 0) shelves.delete(tenant);
  };

  const sweep = setInterval(() => {
    const t = now();
    for (const [tenant, from] of shelves) {
      for (const [key, entry] of from.entries) if (entry.expiresAt <= t) remove(tenant, from, key, entry);
    }
  }, sweepIntervalMs);
  // Sweeping is housekeeping: it must not keep the process alive.
  sweep.unref();

  return {
    async get(tenant, key) {
      const from = shelves.get(tenant);
      const entry = from?.entries.get(key);
      if (from === undefined || entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        remove(tenant, from, key, entry);
        return undefined;
      }
      from.entries.delete(key);
      from.entries.set(key, entry);
      return entry.value;
    },
    async set(tenant, key, value, ttlSec) {
      const into = shelf(tenant);
      const old = into.entries.get(key);
      if (old !== undefined) {
        into.entries.delete(key);
        into.bytes -= old.bytes;
      }
      const entry = { value, expiresAt: now() + ttlSec * 1000, bytes: entryBytes(key, value) };
      into.entries.set(key, entry);
      into.bytes += entry.bytes;
      const quota = opts.quota();
      // Oldest first; the entry just written is the newest, and a write never evicts its own value.
      for (const [oldestKey, oldest] of into.entries) {
        if (oldestKey === key || (into.entries.size <= quota.entries && into.bytes <= quota.bytes)) break;
        remove(tenant, into, oldestKey, oldest);
      }
    },
    async delete(tenant, key) {
      const from = shelves.get(tenant);
      const entry = from?.entries.get(key);
      if (from !== undefined && entry !== undefined) remove(tenant, from, key, entry);
    },
    ready: () => true,
    async close() {
      clearInterval(sweep);
      shelves.clear();
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`memory store option ${name} must be a positive whole number, got ${value}`);
  }
  return value;
}
