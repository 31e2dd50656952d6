import { readFileSync } from "node:fs";
import type { Io } from "./io.js";
import { InputError, UsageError } from "./usage.js";

export type RolloutAction = "rollback" | "promote" | "abort";

export interface RolloutOptions {
  action: RolloutAction;
  plugin: string;
  url: string;
  version?: string;
  tokenFile?: string;
}

/** How long the host may take to answer an admin action (it answers at once; this is for a host that hangs). */
const ANSWER_WAIT_MS = 10_000;

/**
 * `hookhost rollback | promote | abort`: one admin call to a running host. The admin token comes
 * from --token-file, else HOOKHOST_ADMIN_TOKEN (never from the command line, where `ps` shows it).
 */
export async function rolloutCommand(options: RolloutOptions, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const token = options.tokenFile !== undefined ? readToken(options.tokenFile) : env.HOOKHOST_ADMIN_TOKEN?.trim();
  if (!token) throw new InputError("no admin token: set HOOKHOST_ADMIN_TOKEN or give --token-file FILE");
  let url: URL;
  try {
    url = new URL(`/v1/admin/plugins/${encodeURIComponent(options.plugin)}/${options.action}`, options.url);
  } catch {
    throw new UsageError(`--url: "${options.url}" is not a URL`);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(options.version === undefined ? {} : { version: options.version }),
      signal: AbortSignal.timeout(ANSWER_WAIT_MS),
    });
  } catch (e) {
    io.err(`hookhost: cannot reach the host at ${url.origin}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
    return 1;
  }
  const text = await response.text();
  let body: Record<string, any>;
  try {
    body = JSON.parse(text) as Record<string, any>;
  } catch {
    io.err(`hookhost: ${url.origin} answered ${response.status} with something that is not hookhost's JSON: ${text.slice(0, 200)}`);
    return 1;
  }
  if (!response.ok) {
    const why = response.status === 401 ? " (the host refused the admin token: check HOOKHOST_ADMIN_TOKEN or --token-file)" : "";
    io.err(`hookhost: ${options.action} ${options.plugin}: ${response.status} ${body.error?.code ?? ""}: ${body.error?.message ?? text}${why}`);
    return 1;
  }
  switch (options.action) {
    case "rollback":
      io.out(body.version === body.previous ? `${body.plugin}: already serving ${body.version}` : `${body.plugin}: serving ${body.version} (was ${body.previous}) until its folder changes`);
      break;
    case "promote":
      io.out(`${body.plugin}: serving ${options.plugin}'s version ${body.version} until ${body.plugin}'s folder changes`);
      break;
    case "abort":
      io.out(`${body.candidate}: aborted; it runs again when its folder changes`);
      break;
  }
  return 0;
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new InputError(`--token-file: cannot read ${file}: ${(e as Error).message}`);
  }
  if (!token) throw new InputError(`--token-file: ${file} is empty`);
  return token;
}
