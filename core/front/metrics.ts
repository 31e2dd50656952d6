import client from "prom-client";
import type { MemoryReading } from "../../sandbox/index.js";
import type { TraceStatus } from "../chain.js";
import { BusiestTenants, OTHER_TENANTS } from "./busiest-tenants.js";

/** Latency buckets from half a millisecond (a hook's usual run) to the record hook's 10 s. */
const SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// The classes a hook answer can have.
const STATUS_CLASSES = ["2xx", "4xx", "5xx"];

/** The kind of route an answer was for: a few label values, whatever the path. */
export type RouteClass = "hook" | "plugins" | "metrics" | "healthz" | "readyz" | "other";

export interface MetricsOptions {
  /** How many of the busiest tenants get series of their own (config `metricsTenants`); 0: none. */
  tenantSeries(): number;
}

/**
 * The host's Prometheus metrics (CONTRACT §4), in a registry of their own. No series is labelled
 * with a tenant but the few `metricsTenants` allows, so a scrape stays small however many tenants
 * there are (a scrape runs on the main thread, between requests).
 */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({ name: "hookhost_requests_total", help: "Hook requests answered, by hook and HTTP status", labelNames: ["hook", "status"], registers: [this.registry] });
  private readonly requestSeconds = new client.Histogram({
    name: "hookhost_request_duration_seconds",
    help: "Time to answer a hook request, by hook",
    labelNames: ["hook"],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly tenantRequests = new client.Counter({
    name: "hookhost_tenant_requests_total",
    help: `Hook requests of the busiest tenants (config metricsTenants), by status class; tenant="${OTHER_TENANTS}" counts every other tenant's`,
    labelNames: ["tenant", "class"],
    registers: [this.registry],
  });
  private readonly runs = new client.Counter({ name: "hookhost_plugin_runs_total", help: "Plugin runs by plugin, hook and outcome", labelNames: ["plugin", "hook", "outcome"], registers: [this.registry] });
  private readonly runSeconds = new client.Histogram({
    name: "hookhost_plugin_run_duration_seconds",
    help: "Time of one plugin run, by plugin and hook",
    labelNames: ["plugin", "hook"],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly responses = new client.Counter({
    name: "hookhost_http_responses_total",
    help: "Every HTTP answer by route class and status: a connector with a wrong token shows up as 401 on route hook",
    labelNames: ["route", "status"],
    registers: [this.registry],
  });
  private readonly reloads = new client.Counter({ name: "hookhost_reloads_total", help: "Plugin folder and config reloads", labelNames: ["kind"], registers: [this.registry] });
  private readonly reloadFailures = new client.Counter({ name: "hookhost_reload_failures_total", help: "Reloads that kept the last good version", labelNames: ["kind"], registers: [this.registry] });
  private readonly busiest: BusiestTenants;

  constructor(sandboxes: { alive(): number; memory(): MemoryReading }, private readonly options: MetricsOptions = { tenantSeries: () => 0 }) {
    this.busiest = new BusiestTenants(() => options.tenantSeries());
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: "hookhost_sandboxes_alive",
      help: "Tenant × plugin sandboxes currently built",
      registers: [this.registry],
      collect() {
        this.set(sandboxes.alive());
      },
    });
    new client.Gauge({
      name: "hookhost_sandbox_memory_bytes",
      help: "Memory held by all built sandboxes at their last heap check: heap (V8 heap in use) and external (outside the heap, e.g. strings handed in)",
      labelNames: ["kind"],
      registers: [this.registry],
      collect() {
        const m = sandboxes.memory();
        this.set({ kind: "heap" }, m.heapBytes);
        this.set({ kind: "external" }, m.externalBytes);
      },
    });
  }

  /** The version each plugin serves, and each running candidate's: one series each, so bounded by the folders, not by the reloads. */
  versionsFrom(source: () => { plugin: string; version: string; role: "served" | "candidate" }[]): void {
    new client.Gauge({
      name: "hookhost_plugin_version_info",
      help: "1 for the version each plugin serves (role served) and each running candidate's (role candidate)",
      labelNames: ["plugin", "version", "role"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { plugin, version, role } of source()) this.set({ plugin, version, role }, 1);
      },
    });
  }

  request(tenant: string, hook: string, status: number, seconds: number): void {
    this.requests.inc({ hook, status: String(status) });
    this.requestSeconds.observe({ hook }, seconds);
    if (this.options.tenantSeries() > 0) this.tenantRequests.inc({ tenant: this.busiest.label(tenant), class: `${Math.floor(status / 100)}xx` });
  }

  pluginRun(plugin: string, hook: string, outcome: TraceStatus, seconds: number): void {
    this.runs.inc({ plugin, hook, outcome });
    this.runSeconds.observe({ plugin, hook }, seconds);
  }

  /** Every answer, refused ones included: 401, 404 and 413 are visible here and nowhere else. */
  response(route: RouteClass, status: number): void {
    this.responses.inc({ route, status: String(status) });
  }

  reload(kind: "plugin" | "config", ok: boolean): void {
    this.reloads.inc({ kind });
    if (!ok) this.reloadFailures.inc({ kind });
  }

  async text(): Promise<string> {
    const text = await this.registry.metrics();
    // After the rendering: a tenant losing its place had its last count in this scrape.
    for (const tenant of this.busiest.rerank()) {
      for (const c of STATUS_CLASSES) this.tenantRequests.remove({ tenant, class: c });
    }
    return text;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
