// The embedded store backend: one process's memory, bounded so that plugins writing many keys
// cannot grow the host without limit. Past either cap the least recently used entries go first.
import type { StoreBackend } from "./store.js";

export interface MemoryBackendOptions {
  /** Default 100,000 entries. */
  maxEntries?: number;
  /** Approximate memory held by keys and values (2 bytes per UTF-16 code unit). Default 256 MiB. */
  maxBytes?: number;
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

export function createMemoryBackend(opts: MemoryBackendOptions = {}): StoreBackend {
  const maxEntries = positiveInteger("maxEntries", opts.maxEntries ?? 100_000);
  const maxBytes = positiveInteger("maxBytes", opts.maxBytes ?? 256 * 1024 * 1024);
  const sweepIntervalMs = positiveInteger("sweepIntervalMs", opts.sweepIntervalMs ?? 60_000);
  const now = opts.now ?? Date.now;

  // A Map iterates in insertion order; re-inserting on every touch keeps the least recently
  // used entry first, which makes it the one to evict.
  const entries = new Map<string, Entry>();
  let bytes = 0;

  const remove = (key: string, entry: Entry) => {
    entries.delete(key);
    bytes -= entry.bytes;
  };

  const sweep = setInterval(() => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) remove(key, entry);
  }, sweepIntervalMs);
  // Sweeping is housekeeping: it must not keep the process alive.
  sweep.unref();

  return {
    async get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      remove(key, entry);
      if (entry.expiresAt <= now()) return undefined;
      entries.set(key, entry);
      bytes += entry.bytes;
      return entry.value;
    },
    async set(key, value, ttlSec) {
      const old = entries.get(key);
      if (old !== undefined) remove(key, old);
      const entry = { value, expiresAt: now() + ttlSec * 1000, bytes: 2 * (key.length + value.length) };
      entries.set(key, entry);
      bytes += entry.bytes;
      for (const [oldestKey, oldest] of entries) {
        if (entries.size <= maxEntries && bytes <= maxBytes) break;
        remove(oldestKey, oldest);
      }
    },
    async delete(key) {
      const entry = entries.get(key);
      if (entry !== undefined) remove(key, entry);
    },
    async close() {
      clearInterval(sweep);
      entries.clear();
      bytes = 0;
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`memory store option ${name} must be a positive whole number, got ${value}`);
  }
  return value;
}
