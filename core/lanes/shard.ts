/**
 * The lane of a tenant: a stable hash of its id (FNV-1a, 32 bits), so a tenant always goes to the
 * same lane, and its in-memory store and warm sandboxes stay in one place.
 */
export function laneOf(tenant: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i++) {
    hash ^= tenant.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}
