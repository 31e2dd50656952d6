import type Koa from "koa";
import { HttpError } from "./errors.js";
import { isHookName } from "../hooks.js";
import { LaneUnavailable } from "../lanes/dispatch.js";
import { ID_PATTERN } from "../names.js";
import type { Registry } from "../registry.js";
import type { Tenant, Tenants } from "../tenants.js";
import { RolloutRefusal } from "../versions.js";
import { readJsonObject, safeDecode } from "./request-body.js";

export interface AdminDeps {
  registry: Registry;
  tenants: () => Tenants;
}

const ADMIN_ACTION = /^\/v1\/admin\/plugins\/([^/]+)\/(rollback|promote|abort)$/;
const RUNS_ROUTE = /^\/v1\/tenants\/([^/]+)\/(runs|shadow)$/;
const VERSION = /^[0-9a-f]{12}$/;
/** Largest body an admin action takes: `{ "version": "…" }` needs a few dozen bytes. */
const MAX_BODY_BYTES = 4096;

/**
 * The roll-out routes (README "Roll-out"): the admin's overview, rollback, promote and abort; each
 * tenant's recent runs and shadow differences (its own token, or the admin's). Other paths go on.
 */
export function adminRoutes(deps: AdminDeps): Koa.Middleware {
  return async (ctx, next) => {
    const authorization = ctx.get("authorization") || undefined;
    if (ctx.path === "/v1/admin/overview") {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      requireAdmin(deps, authorization);
      ctx.body = await overview(deps);
      return;
    }
    const action = ADMIN_ACTION.exec(ctx.path);
    if (action) {
      if (ctx.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      requireAdmin(deps, authorization);
      const name = safeDecode(action[1]);
      if (!ID_PATTERN.test(name)) throw new HttpError(404, "unknown_plugin", `no plugin named ${JSON.stringify(name)} is loaded`);
      const { value: body } = await readJsonObject(ctx, MAX_BODY_BYTES, `an admin action's body is at most ${MAX_BODY_BYTES} bytes`, "empty-object");
      try {
        if (action[2] === "rollback") {
          const version = body.version;
          if (version !== undefined && (typeof version !== "string" || !VERSION.test(version))) throw new HttpError(400, "bad_request", "version must be a version id: 12 hex characters");
          ctx.body = deps.registry.rollback(name, version);
        } else {
          if (Object.keys(body).length) throw new HttpError(400, "bad_request", `${action[2]} takes no parameters (an empty body or {})`);
          ctx.body = action[2] === "promote" ? deps.registry.promote(name) : deps.registry.abort(name);
        }
      } catch (e) {
        if (e instanceof RolloutRefusal) throw new HttpError(e.status, e.code, e.message);
        throw e;
      }
      return;
    }
    const runs = RUNS_ROUTE.exec(ctx.path);
    if (runs) {
      if (ctx.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      const tenant = reader(deps, safeDecode(runs[1]), authorization);
      const limit = optionalLimit(ctx.query.limit);
      if (runs[2] === "shadow") {
        ctx.body = { differences: await lanesAnswer(deps.registry.runs.shadowDifferences(tenant.id, limit)) };
        return;
      }
      const plugin = single(ctx.query.plugin, "plugin");
      const hook = single(ctx.query.hook, "hook");
      if (hook !== undefined && !isHookName(hook)) throw new HttpError(404, "unknown_hook", `unknown hook "${hook}"`);
      ctx.body = { runs: await lanesAnswer(deps.registry.runs.list(tenant.id, { plugin, hook, limit })) };
      return;
    }
    await next();
  };
}

async function overview(deps: AdminDeps) {
  const ids = deps.tenants().ids;
  const { stats, unavailable } = await deps.registry.runs.hookStats(ids);
  const tenants = ids.map((id) => ({
    id,
    plugins: deps.registry.status(id, true).plugins,
    hooks: stats[id] ?? {},
    ...(unavailable[id] === undefined ? {} : { runsUnavailable: unavailable[id] }),
  }));
  return { tenants, candidates: deps.registry.candidates() };
}

/** A read of the recent runs; with lanes, one whose lane died or is restarting answers 503. */
async function lanesAnswer<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (e) {
    if (e instanceof LaneUnavailable) throw new HttpError(503, "lane_unavailable", e.message);
    throw e;
  }
}

function requireAdmin(deps: AdminDeps, authorization: string | undefined): void {
  if (!deps.tenants().isAdmin(authorization)) throw new HttpError(401, "unauthorized", "the admin token is required");
}

/** The tenant whose runs these are, when the token is its own or the admin's; one 401 for every failure. */
function reader(deps: AdminDeps, tenantId: string, authorization: string | undefined): Tenant {
  const tenants = deps.tenants();
  const tenant = tenants.isAdmin(authorization) ? tenants.get(tenantId) : tenants.authenticate(tenantId, authorization);
  if (!tenant) throw new HttpError(401, "unauthorized", "unknown tenant or missing or wrong token");
  return tenant;
}

function single(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) throw new HttpError(400, "bad_request", `give ${name} once`);
  return value === "" ? undefined : value;
}

function optionalLimit(value: string | string[] | undefined): number | undefined {
  const text = single(value, "limit");
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw new HttpError(400, "bad_request", "limit must be a whole number from 1");
  return Number(text);
}

