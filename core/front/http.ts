import Koa from "koa";
import { randomUUID } from "node:crypto";
import { callerWaitMs, CALLER_WAIT_HEADER, chainBudgetMs } from "../budget.js";
import { traceHeader } from "../chain.js";
import { cancelsRequests } from "../connector-version.js";
import { HttpError } from "./errors.js";
import { inputSchemas, isHookName } from "../hooks.js";
import type { HostConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { Metrics } from "./metrics.js";
import { formatIssues } from "../names.js";
import type { Registry } from "../registry.js";
import type { Tenants } from "../tenants.js";

export interface AppDeps {
  registry: Registry;
  metrics: Metrics;
  tenants: () => Tenants;
  config: () => HostConfig;
  logger: Logger;
  /** The host listens on a loopback address only, so whoever reaches it is on this machine. */
  loopback: boolean;
}

const HOOK_ROUTE = /^\/v1\/tenants\/([^/]+)\/hooks\/([^/]+)$/;
const STATUS_ROUTE = /^\/v1\/tenants\/([^/]+)\/plugins$/;
const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = false;
  // Errors are turned into the JSON envelope here and only here.
  app.use(async (ctx, next) => {
    const given = ctx.get("x-request-id");
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set("x-request-id", requestId);
    const started = performance.now();
    try {
      await next();
    } catch (e) {
      const error = e instanceof HttpError ? e : new HttpError(500, "internal", "internal error");
      if (!(e instanceof HttpError)) deps.logger.error("request failed", { requestId, path: ctx.path, error: e instanceof Error ? e.stack : String(e) });
      if (error.status === 401) deps.metrics.unauthorized(routeClass(ctx.path));
      ctx.status = error.status;
      ctx.body = { state: "error", error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
    }
    const ms = performance.now() - started;
    const fields = ctx.state.logFields as { tenant: string; hook: string } | undefined;
    if (fields) deps.metrics.request(fields.tenant, fields.hook, ctx.status, ms / 1000);
    // One line per request; answered hooks at debug so a busy host does not spend its time on them
    // (winston formats a line before its level filter drops it: the check comes first).
    const level = ctx.status < 400 ? "debug" : "info";
    if (deps.logger.isLevelEnabled(level)) deps.logger.log(level, "request", { requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10, ...fields });
  });

  app.use(async (ctx, next) => {
    if (ctx.path === "/healthz") {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      ctx.body = { status: "ok" };
      return;
    }
    if (ctx.path === "/metrics") {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      if (!metricsOpen(deps) && !deps.tenants().isAdmin(ctx.get("authorization") || undefined)) throw new HttpError(401, "unauthorized", "the admin token is required");
      ctx.type = deps.metrics.contentType;
      ctx.body = await deps.metrics.text();
      return;
    }
    const status = STATUS_ROUTE.exec(ctx.path);
    if (status) {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      const tenantId = safeDecode(status[1]);
      const authorization = ctx.get("authorization") || undefined;
      const tenants = deps.tenants();
      const admin = tenants.isAdmin(authorization);
      const allowed = admin ? tenants.get(tenantId) : tenants.authenticate(tenantId, authorization);
      if (!allowed) throw new HttpError(401, "unauthorized", "unknown tenant or missing or wrong token");
      // A tenant's token sees only the folders that would serve it; the admin token sees every broken one.
      ctx.body = { tenant: allowed.id, ...deps.registry.status(allowed.id, admin) };
      return;
    }
    await next();
  });

  app.use(async (ctx) => {
    const route = HOOK_ROUTE.exec(ctx.path);
    if (!route) throw new HttpError(404, "not_found", `no route ${ctx.method} ${ctx.path}`);
    if (ctx.method !== "POST") throw new HttpError(405, "method_not_allowed", "hooks are run with POST");
    const [tenantId, hook] = [safeDecode(route[1]), safeDecode(route[2])];
    const tenant = deps.tenants().authenticate(tenantId, ctx.get("authorization") || undefined);
    if (!tenant) throw new HttpError(401, "unauthorized", "unknown tenant or missing or wrong token");
    if (!isHookName(hook)) throw new HttpError(404, "unknown_hook", `unknown hook "${hook}"`);
    ctx.state.logFields = { tenant: tenant.id, hook };
    const body = await readJsonObject(ctx, deps.config().bodyLimitKb);
    const parsed = inputSchemas[hook].safeParse(body);
    if (!parsed.success) {
      throw new HttpError(422, "invalid_input", `input does not match ${hook}: ${formatIssues(parsed.error).join("; ")}`, parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
    }
    // The scripts get the input exactly as sent (unknown fields included), not zod's copy.
    const budgetMs = chainBudgetMs(hook, deps.config().budgets, callerWaitMs(ctx.get(CALLER_WAIT_HEADER) || undefined));
    const result = await deps.registry.run(tenant, hook, body, ctx.state.requestId, { budgetMs, cancellation: cancelsRequests(tenant.connectorVersion) });
    for (const t of result.trace) {
      deps.metrics.pluginRun(t.plugin, hook, t.status, t.ms / 1000);
      if (t.status !== "ok" && t.status !== "skip" && t.status !== "cancel") {
        deps.logger.warn("plugin run failed", { requestId: ctx.state.requestId, tenant: tenant.id, hook, plugin: t.plugin, outcome: t.status, ms: t.ms, error: t.error });
      }
    }
    for (const warning of result.warnings) deps.logger.warn(warning, { requestId: ctx.state.requestId, tenant: tenant.id, hook });
    if (result.trace.length) ctx.set("x-hook-trace", traceHeader(result.trace));
    ctx.body = { state: "success", data: result.data };
  });
  return app;
}

// The metrics list every tenant id. Open without the admin token: when none is configured and the
// host is reachable from this machine only, or when the config says metricsPublic.
function metricsOpen(deps: AppDeps): boolean {
  const config = deps.config();
  return config.metricsPublic || (!config.adminToken && deps.loopback);
}

/** The kind of route a refused request was for: few label values, whatever the path. */
function routeClass(path: string): "hook" | "plugins" | "metrics" | "other" {
  if (HOOK_ROUTE.test(path)) return "hook";
  if (STATUS_ROUTE.test(path)) return "plugins";
  return path === "/metrics" ? "metrics" : "other";
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Reads the body with a hard size cap (413 before parsing) and insists on a JSON object (400). */
async function readJsonObject(ctx: Koa.Context, limitKb: number): Promise<Record<string, unknown>> {
  const limit = limitKb * 1024;
  const declared = Number(ctx.get("content-length"));
  if (declared > limit) throw new HttpError(413, "too_large", `body is larger than ${limitKb} KB`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, "too_large", `body is larger than ${limitKb} KB`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new HttpError(400, "bad_json", `body nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "bad_json", `body is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "bad_json", "body must be a JSON object");
  return value as Record<string, unknown>;
}

/** Deepest nesting of arrays and objects a body may have: the connector's inputs use about 5. */
export const MAX_JSON_DEPTH = 64;

// Copying, validating and logging a value all recurse; a body nested deeper than the stack would
// fail in any of them. One pass over the text before parsing, cheaper than the parse: brackets
// inside strings do not count, and a string is skipped in one jump to its closing quote.
function nestingExceeds(json: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = json.indexOf('"', i + 1);
        if (i === -1) return false; // unterminated: JSON.parse names that
        let backslashes = 0;
        while (json.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
