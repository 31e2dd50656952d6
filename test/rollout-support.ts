// Helpers shared by the roll-out tests: admin and tenant calls to a real host, and plugin sources.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fixture, outputOf, ROOT, type Ran } from "./support.js";

export const ADMIN = "root-secret";
export const CONFIG = {
  tenants: { acme: { token: "acme-secret" }, globex: { token: "globex-secret" } },
  adminToken: ADMIN,
};

export interface Reply {
  status: number;
  body: any;
}

/** A GET or POST (with a JSON body) to `path` with `token` as the bearer. */
export async function call(url: string, path: string, token: string | undefined, body?: unknown): Promise<Reply> {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A process_client_phone hook that answers `phone` with `tag` appended. */
export function phoneHook(tag: string): string {
  return `export default (input) => ({ phone: input.phone + ${JSON.stringify(tag)} });\n`;
}

/** The connector's process_client_phone input for one call (its call_full.channel.id). */
export function phoneInput(callId: string, phone = "+79217770205"): Record<string, any> {
  const input = fixture("process_client_phone");
  input.call_full.channel.id = callId;
  input.phone = phone;
  return input;
}

/** The plugin's entry in the tenant's status, as the admin token sees it. */
export async function statusOf(url: string, tenant: string, plugin: string): Promise<any> {
  const reply = await call(url, `/v1/tenants/${tenant}/plugins`, ADMIN);
  return reply.body.plugins.find((p: { name: string }) => p.name === plugin);
}

/** Runs `hookhost …` as an operator does (bin/hookhost.js), with `env` added to the environment. */
export function hookhost(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  const merged = Object.entries<string | undefined>({ ...process.env, HOOKHOST_ADMIN_TOKEN: undefined, ...env }).filter((e): e is [string, string] => e[1] !== undefined);
  return outputOf(spawn(process.execPath, [join(ROOT, "bin", "hookhost.js"), ...args], { env: Object.fromEntries(merged) }));
}
