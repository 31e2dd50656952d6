/** The label value of every tenant without series of its own; no tenant id can be it (ids start with a letter or digit). */
export const OTHER_TENANTS = "_other";

/**
 * Which tenants get metric series of their own: at most `limit()` of them, the busiest by requests
 * since the start; every other tenant is counted under OTHER_TENANTS. A request is counted under
 * the label its tenant has when it is answered, so every series only grows. Free places go to the
 * first tenants seen; at each scrape (`rerank`) a busier tenant takes the place of a quieter one,
 * whose series are then dropped.
 */
export class BusiestTenants {
  private readonly requests = new Map<string, number>();
  private readonly named = new Set<string>();

  constructor(private readonly limit: () => number) {}

  /** Counts a request of `tenant`; the label to count it under. */
  label(tenant: string): string {
    this.requests.set(tenant, (this.requests.get(tenant) ?? 0) + 1);
    if (this.named.has(tenant)) return tenant;
    if (this.named.size >= this.limit()) return OTHER_TENANTS;
    this.named.add(tenant);
    return tenant;
  }

  /** Re-picks the busiest tenants; returns those that lost their own series. */
  rerank(): string[] {
    const limit = this.limit();
    if (this.named.size === 0 && limit === 0) return [];
    // Ties go to a tenant that has its series already, then by id: no churn between equals.
    const ranked = [...this.requests].sort(([a, x], [b, y]) => y - x || Number(this.named.has(b)) - Number(this.named.has(a)) || (a < b ? -1 : 1));
    const busiest = new Set(ranked.slice(0, limit).map(([tenant]) => tenant));
    const dropped = [...this.named].filter((tenant) => !busiest.has(tenant));
    for (const tenant of dropped) this.named.delete(tenant);
    for (const tenant of busiest) this.named.add(tenant);
    return dropped;
  }
}
