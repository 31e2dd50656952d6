import type Koa from "koa";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../package-root.js";
import { HttpError } from "./errors.js";

/** The console's files (plain HTML/JS/CSS in the repo's console/ folder), by the path they answer. */
const FILES: Record<string, { file: string; type: string }> = {
  "/console": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/console/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};
const FOLDER = join(PACKAGE_ROOT, "console");

/**
 * The console shows what tenants control (plugin folders, errors, inputs, log lines). It only makes
 * text nodes of them; this policy is the second wall: only these files may run or style the page,
 * nothing inline, no frames, no form sent anywhere, requests to this host only.
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves the operator console at /console. The page holds no data: it asks for the admin token and
 * reads the admin API with it, which answers 401 without it.
 */
export function consoleRoutes(): Koa.Middleware {
  // Read once: the files ship with the host and are small.
  const files = new Map(Object.entries(FILES).map(([path, f]) => [path, { body: readFileSync(join(FOLDER, f.file)), type: f.type }]));
  return async (ctx, next) => {
    if (ctx.path !== "/console" && !ctx.path.startsWith("/console/")) return next();
    const file = files.get(ctx.path);
    if (!file) throw new HttpError(404, "not_found", `no route ${ctx.method} ${ctx.path}`);
    if (ctx.method !== "GET" && ctx.method !== "HEAD") throw new HttpError(405, "method_not_allowed", "use GET");
    ctx.set("content-security-policy", CONSOLE_CSP);
    ctx.set("x-content-type-options", "nosniff");
    ctx.set("x-frame-options", "DENY");
    ctx.set("referrer-policy", "no-referrer");
    ctx.set("cache-control", "no-cache");
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
