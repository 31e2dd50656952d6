import client from "prom-client";
import type { MemoryReading } from "../../sandbox/index.js";
import type { TraceStatus } from "../chain.js";

/** Latency buckets from half a millisecond (a hook's usual run) to the record hook's 10 s. */
const SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The host's Prometheus metrics (CONTRACT §4), in a registry of their own. */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({ name: "hookhost_requests_total", help: "Hook requests answered, by tenant, hook and HTTP status", labelNames: ["tenant", "hook", "status"], registers: [this.registry] });
  private readonly requestSeconds = new client.Histogram({
    name: "hookhost_request_duration_seconds",
    help: "Time to answer a hook request",
    labelNames: ["tenant", "hook", "status"],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly runs = new client.Counter({ name: "hookhost_plugin_runs_total", help: "Plugin runs by plugin, hook and outcome", labelNames: ["plugin", "hook", "outcome"], registers: [this.registry] });
  private readonly runSeconds = new client.Histogram({
    name: "hookhost_plugin_run_duration_seconds",
    help: "Time of one plugin run",
    labelNames: ["plugin", "hook", "outcome"],
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly refused = new client.Counter({ name: "hookhost_unauthorized_total", help: "Requests answered 401 (unknown tenant, missing or wrong token), by route", labelNames: ["route"], registers: [this.registry] });
  private readonly reloads = new client.Counter({ name: "hookhost_reloads_total", help: "Plugin folder and config reloads", labelNames: ["kind"], registers: [this.registry] });
  private readonly reloadFailures = new client.Counter({ name: "hookhost_reload_failures_total", help: "Reloads that kept the last good version", labelNames: ["kind"], registers: [this.registry] });

  constructor(sandboxes: { alive(): number; memory(): MemoryReading }) {
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
    const labels = { tenant, hook, status: String(status) };
    this.requests.inc(labels);
    this.requestSeconds.observe(labels, seconds);
  }

  pluginRun(plugin: string, hook: string, outcome: TraceStatus, seconds: number): void {
    this.runs.inc({ plugin, hook, outcome });
    this.runSeconds.observe({ plugin, hook, outcome }, seconds);
  }

  /** A 401: a connector (or its shim) with a wrong token or tenant shows up here, not only in its own log. */
  unauthorized(route: "hook" | "plugins" | "metrics" | "other"): void {
    this.refused.inc({ route });
  }

  reload(kind: "plugin" | "config", ok: boolean): void {
    this.reloads.inc({ kind });
    if (!ok) this.reloadFailures.inc({ kind });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
