import Koa from "koa";
import { randomUUID } from "node:crypto";
import { callerWaitMs, CALLER_WAIT_HEADER, chainBudgetMs } from "../budget.js";
import { traceHeader } from "../chain.js";
import { cancelsRequests } from "../connector-version.js";
import { adminRoutes } from "./admin.js";
import { consoleRoutes } from "./console.js";
import { HttpError } from "./errors.js";
import { inputSchemas, isHookName } from "../hooks.js";
import type { HostConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { Metrics, RouteClass } from "./metrics.js";
import { HEALTHZ_BODY, readyzBody, type Readiness } from "./readiness.js";
import { formatIssues } from "../names.js";
import { readJsonObject, safeDecode } from "./request-body.js";
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
  readiness: Pick<Readiness, "reasons">;
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
    // A token sent as the request id (a misconfigured client) would be echoed into every log line.
    const requestId = REQUEST_ID.test(given) && !deps.tenants().isToken(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set("x-request-id", requestId);
    const started = performance.now();
    try {
      await next();
    } catch (e) {
      const error = e instanceof HttpError ? e : new HttpError(500, "internal", "internal error");
      if (!(e instanceof HttpError)) deps.logger.error("request failed", { requestId, route: routeClass(ctx.path), error: e instanceof Error ? e.stack : String(e) });
      ctx.status = error.status;
      ctx.body = { state: "error", error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
    }
    const ms = performance.now() - started;
    const fields = ctx.state.logFields as { tenant: string; hook: string } | undefined;
    const route = routeClass(ctx.path);
    deps.metrics.response(route, ctx.status);
    if (fields) deps.metrics.request(fields.tenant, fields.hook, ctx.status, ms / 1000);
    // One line per request: the access log at info when the config asks for it; otherwise only
    // refused requests at info and answered ones at debug, so a busy host does not spend its time
    // on them (winston formats a line before its level filter drops it: the check comes first).
    // It holds what the host checked, never the path, query or headers as sent: a token put
    // anywhere in a request cannot reach the log.
    const level = deps.config().accessLog || ctx.status >= 400 ? "info" : "debug";
    if (deps.logger.isLevelEnabled(level)) {
      const trace = ctx.state.trace as string | undefined;
      deps.logger.log(level, "request", { requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(ms * 10) / 10, ...fields, ...(trace ? { trace } : {}) });
    }
  });

  app.use(consoleRoutes());
  app.use(async (ctx, next) => {
    // Liveness: the process answers. Readiness: it should get traffic now (readiness.ts).
    if (ctx.path === "/healthz") {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      ctx.body = HEALTHZ_BODY;
      return;
    }
    if (ctx.path === "/readyz") {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      const reasons = deps.readiness.reasons();
      ctx.status = reasons.length ? 503 : 200;
      ctx.set("cache-control", "no-store");
      ctx.body = readyzBody(reasons);
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

  app.use(adminRoutes(deps));
  app.use(async (ctx) => {
    const route = HOOK_ROUTE.exec(ctx.path);
    if (!route) throw new HttpError(404, "not_found", `no route ${ctx.method} ${ctx.path}`);
    if (ctx.method !== "POST") throw new HttpError(405, "method_not_allowed", "hooks are run with POST");
    const [tenantId, hook] = [safeDecode(route[1]), safeDecode(route[2])];
    const tenant = deps.tenants().authenticate(tenantId, ctx.get("authorization") || undefined);
    if (!tenant) throw new HttpError(401, "unauthorized", "unknown tenant or missing or wrong token");
    if (!isHookName(hook)) throw new HttpError(404, "unknown_hook", `unknown hook "${hook}"`);
    ctx.state.logFields = { tenant: tenant.id, hook };
    const limitKb = deps.config().bodyLimitKb;
    const input = await readJsonObject(ctx, limitKb * 1024, `body is larger than ${limitKb} KB`);
    const parsed = inputSchemas[hook].safeParse(input.value);
    if (!parsed.success) {
      throw new HttpError(422, "invalid_input", `input does not match ${hook}: ${formatIssues(parsed.error).join("; ")}`, parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
    }
    // The scripts get the input exactly as sent (unknown fields included), not zod's copy.
    const budgetMs = chainBudgetMs(hook, deps.config().budgets, callerWaitMs(ctx.get(CALLER_WAIT_HEADER) || undefined));
    const result = await deps.registry.run(tenant, hook, input, ctx.state.requestId, { budgetMs, cancellation: cancelsRequests(tenant.connectorVersion) });
    for (const t of result.trace) {
      deps.metrics.pluginRun(t.plugin, hook, t.status, t.ms / 1000);
      if (t.status !== "ok" && t.status !== "skip" && t.status !== "cancel") {
        deps.logger.warn("plugin run failed", { requestId: ctx.state.requestId, tenant: tenant.id, hook, plugin: t.plugin, version: t.version, outcome: t.status, ms: t.ms, error: t.error });
      }
    }
    for (const warning of result.warnings) deps.logger.warn(warning, { requestId: ctx.state.requestId, tenant: tenant.id, hook });
    if (result.trace.length) {
      ctx.state.trace = traceHeader(result.trace);
      ctx.set("x-hook-trace", ctx.state.trace);
    }
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

/** The kind of route a request was for: few label values, whatever the path. */
function routeClass(path: string): RouteClass {
  if (HOOK_ROUTE.test(path)) return "hook";
  if (STATUS_ROUTE.test(path)) return "plugins";
  if (path === "/metrics") return "metrics";
  if (path === "/healthz") return "healthz";
  return path === "/readyz" ? "readyz" : "other";
}

