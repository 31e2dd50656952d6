import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { connectorVersionSchema, DEFAULT_CONNECTOR_VERSION } from "./connector-version.js";
import { HOOK_NAMES, RECORD_CHAIN_BUDGET_MS, type HookName } from "./hooks.js";
import { readJsonFile } from "./json-file.js";
import { formatIssues, idSchema } from "./names.js";
import { redactRuleSchema } from "./redact.js";
import { readTokenFiles } from "./token-files.js";

const hookTimeouts = Object.fromEntries(HOOK_NAMES.map((h) => [h, z.int().min(1).max(60_000).optional()])) as Record<
  HookName,
  z.ZodOptional<z.ZodInt>
>;
// Per-hook run limits; a hook not named falls back to `default`.
const timeoutsSchema = z.strictObject({ default: z.int().min(1).max(60_000).optional(), ...hookTimeouts });
const memoryMbSchema = z.int().min(8).max(4096);
/** Ceilings raised for one tenant's or one plugin's sandboxes: the highest that applies wins. */
const raisedLimitsSchema = z.strictObject({ memoryMb: memoryMbSchema.optional(), timeouts: timeoutsSchema.default({}) });

const tenantSchema = z.strictObject({
  token: z.string().min(1).optional(),
  tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters (a SHA-256 digest)").optional(),
  // A file holding the token (a mounted Secret, a systemd credential), read at every config load.
  tokenFile: z.string().min(1).optional(),
  recordsDir: z.string().min(1).optional(),
  /** the stock mp3 conversion of process_record_file_path (it needs a recordsDir) */
  convertRecords: z.boolean().default(true),
  /** what an empty answer means to the tenant's connector: cancellation came in 3.13 */
  connectorVersion: connectorVersionSchema.default(DEFAULT_CONNECTOR_VERSION),
  /** per-plugin overrides of the plugin's own `config`, keyed by plugin name */
  config: z.record(idSchema, z.record(z.string(), z.unknown())).default({}),
  limits: raisedLimitsSchema.optional(),
}).refine((t) => [t.token, t.tokenSha256, t.tokenFile].filter((v) => v !== undefined).length <= 1, { message: "give one of token, tokenSha256 and tokenFile, not two" });

// The whole chain's time per hook (docs/hooks.md, "Time"); the record hook's can only be lowered.
const hookBudgets = Object.fromEntries(
  HOOK_NAMES.map((h) => [h, z.int().min(1).max(h === "process_record_file_path" ? RECORD_CHAIN_BUDGET_MS : 60_000).optional()]),
) as Record<HookName, z.ZodOptional<z.ZodInt>>;

export const hostConfigSchema = z.strictObject({
  tenants: z.record(idSchema, tenantSchema).default({}),
  // The ceilings of every plugin's run time (a hook not named here: `default`, then the hook's own,
  // docs/hooks.md "Time") and sandbox heap; plugin.json may ask for less, never for more.
  timeouts: timeoutsSchema.default({}),
  // `default` applies to every hook but process_record_file_path, whose budget is 9000 ms at most.
  budgets: z.strictObject({ default: z.int().min(1).max(60_000).optional(), ...hookBudgets }).default({}),
  memoryMb: memoryMbSchema.default(64),
  pluginLimits: z.record(idSchema, raisedLimitsSchema).default({}),
  bodyLimitKb: z.int().min(1).max(64 * 1024).default(1024),
  // A used sandbox costs about 1–2 MB of host memory (PERF-NOTES); 1000 of them stay well inside 2 GiB.
  maxSandboxes: z.int().min(1).max(100_000).default(1000),
  // Lane processes that run the sandboxes, tenants sharded over them (README "Lanes"); 0 runs them
  // in the host's own process. Read at start: a reload that changes it takes effect at the next start.
  lanes: z.int().min(0).max(256).default(availableParallelism()),
  // How a lane calls its isolates (README "Lanes"): "sync" (on the lane's thread, about 5x cheaper
  // a run; a fatal V8 error, or a run V8 does not stop, costs the lane and the other requests it
  // has in flight, while the chain it hit goes on in the replacement; a plugin whose runs hold the
  // thread past 20 ms twice within a minute is called async from then on) or "async" (each run on the
  // isolate's own thread: such a plugin costs only its own run). Read when a lane starts.
  laneCalls: z.enum(["async", "sync"]).default("sync"),
  // Each tenant's share of ctx.store, all its plugins together; past it, that tenant's own oldest entries go.
  storeQuota: z
    .strictObject({ entries: z.int().min(1).max(10_000_000).default(10_000), mb: z.int().min(1).max(64 * 1024).default(16) })
    .default({ entries: 10_000, mb: 16 }),
  adminToken: z.string().min(1).optional(),
  // The admin token from a file (a mounted Secret), read at every config load.
  adminTokenFile: z.string().min(1).optional(),
  // /metrics names every tenant: on a non-loopback bind it needs the admin token unless this says otherwise.
  metricsPublic: z.boolean().default(false),
  // Roll-out (README "Roll-out"): good versions kept per plugin, runs kept per tenant × plugin × hook,
  // and what is masked in those runs before they are stored.
  keepVersions: z.int().min(1).max(100).default(5),
  recentRuns: z.int().min(1).max(1000).default(50),
  redact: z.array(redactRuleSchema).max(100).default([]),
  // How many of the busiest tenants get series of their own in /metrics (the rest count as one);
  // 0: no tenant label at all, so the series count never grows with the number of tenants.
  metricsTenants: z.int().min(0).max(100).default(0),
  // One info line per request (the access log); off, answered requests are logged at debug.
  accessLog: z.boolean().default(false),
  // After SIGTERM, /readyz answers 503 this long while the host still serves, so that a balancer
  // stops sending before the port closes.
  drainMs: z.int().min(0).max(60_000).default(0),
}).refine((c) => !(c.adminToken && c.adminTokenFile), { message: "give adminToken or adminTokenFile, not both", path: ["adminTokenFile"] });

export type HostConfig = z.infer<typeof hostConfigSchema>;
export type TenantConfig = HostConfig["tenants"][string];

/** Everything the host needs to start: the environment (CONTRACT §1) plus the validated config file. */
export interface Settings {
  port: number;
  host: string;
  pluginsDir: string;
  configFile?: string;
  logLevel: "error" | "warn" | "info" | "debug";
  config: HostConfig;
}

export class ConfigError extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`${source} is not valid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Where Asterisk's MixMonitor writes call recordings by default (its `monitor` spool). Used only for
 * the default tenant, which exists only without a config file and only on a loopback address: the
 * connector calling it runs on this machine, so the paths it sends are paths of this file system.
 */
export const DEFAULT_RECORDS_DIR = "/var/spool/asterisk/monitor";

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default("127.0.0.1"),
  HOOKHOST_PLUGINS: z.string().min(1).default("./plugins"),
  HOOKHOST_CONFIG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["error", "warn", "info", "debug"]).default("info"),
  HOOKHOST_RECORDS_DIR: z.string().min(1).default(DEFAULT_RECORDS_DIR),
});

/** The tenant served when no config file names any: token-less, so loopback only. */
export const DEFAULT_TENANT = "default";

export function loadSettings(env: NodeJS.ProcessEnv, cwd = process.cwd()): Settings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError("the environment", formatIssues(parsed.error));
  const e = parsed.data;
  const configFile = e.HOOKHOST_CONFIG ? resolve(cwd, e.HOOKHOST_CONFIG) : existsSync(resolve(cwd, "hookhost.json")) ? resolve(cwd, "hookhost.json") : undefined;
  const config = configFile ? readConfigFile(configFile) : hostConfigSchema.parse({});
  const settings: Settings = { port: e.PORT, host: e.HOST, pluginsDir: resolve(cwd, e.HOOKHOST_PLUGINS), configFile, logLevel: e.LOG_LEVEL, config };
  if (!configFile) config.tenants[DEFAULT_TENANT] = tenantSchema.parse({ recordsDir: e.HOOKHOST_RECORDS_DIR });
  const exposed = bindingProblems(config, settings.host, configFile ?? "hookhost.json");
  if (exposed.length) throw new ConfigError("the environment", exposed);
  return settings;
}

/** The rule for a config on this address, at start and at every reload: no token-less tenant off loopback. */
export function bindingProblems(config: HostConfig, host: string, configFile: string): string[] {
  if (isLoopback(host)) return [];
  return Object.entries(config.tenants)
    .filter(([, t]) => !t.token && !t.tokenSha256)
    .map(([id]) => `HOST: ${host} is not a loopback address, but tenant ${id} has no token; bind 127.0.0.1 or ::1, or give it a token in ${configFile}`);
}

export function readConfigFile(file: string): HostConfig {
  const json = readJsonFile(file, (problems) => new ConfigError(file, problems));
  const parsed = hostConfigSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error));
  const { config, problems } = readTokenFiles(parsed.data, file);
  if (problems.length) throw new ConfigError(file, problems);
  return config;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
