// Each tenant's share of ctx.store. One tenant's writes evict only that tenant's own entries, so a
// busy or hostile tenant can never push out another tenant's values.

export interface StoreQuota {
  /** Entries one tenant may hold, over all its plugins. */
  entries: number;
  /** Bytes one tenant may hold, counted by entryBytes. */
  bytes: number;
}

/** What an entry counts against the quota: 2 bytes per UTF-16 unit of namespaced key and value (what a JS string holds). */
export function entryBytes(key: string, value: string): number {
  return 2 * (key.length + value.length);
}
