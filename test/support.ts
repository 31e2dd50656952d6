import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import winston from "winston";
import { fileURLToPath, pathToFileURL } from "node:url";
import { hostConfigSchema, type Settings } from "../core/config.js";
import { silentLogger, type Logger } from "../core/log.js";
import type { RunningHost } from "../core/front/server.js";
import { built } from "./dist.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURES = join(ROOT, "examples", "inputs");

/**
 * `npm test` runs the suite twice: with the default lanes, then with HOOKHOST_TEST_LANES=0 (the
 * in-process mode). A test's own `lanes` wins.
 */
export const TEST_LANES = process.env.HOOKHOST_TEST_LANES === undefined ? undefined : Number(process.env.HOOKHOST_TEST_LANES);

/** `config` (as hookhost.json gives it) with this pass's lanes, unless it names its own. */
export function withTestLanes<T extends object>(config: T): T & { lanes?: number } {
  return TEST_LANES === undefined || "lanes" in config ? config : { ...config, lanes: TEST_LANES };
}

/** Settings as the host read them (no config file names `lanes`), with this pass's lanes. */
export function withTestLanesSettings(settings: Settings): Settings {
  return TEST_LANES === undefined ? settings : { ...settings, config: { ...settings.config, lanes: TEST_LANES } };
}

/** Whether hosts started by this pass run their sandboxes in lanes (`config` as the test gives it). */
export function lanesOn(config: { lanes?: number } = {}): boolean {
  return (withTestLanes(config).lanes ?? 1) > 0;
}

/** The connector's recorded input for a hook (examples/inputs), a fresh copy each time. */
export function fixture(hook: string): Record<string, any> {
  return JSON.parse(readFileSync(join(FIXTURES, `${hook}.input.json`), "utf8"));
}

/** A temp plugins folder; `files` maps "<folder>/<path>" to content (objects are written as JSON). */
export function pluginsDir(files: Record<string, string | object> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "hookhost-plugins-"));
  writePlugins(dir, files);
  return dir;
}

export function writePlugins(dir: string, files: Record<string, string | object>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === "string" ? content : JSON.stringify(content));
  }
}

export interface TestHost extends RunningHost {
  dir: string;
  post(tenant: string, hook: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
  trace: string[];
}

type ServerModule = typeof import("../core/front/server.js");

/** The compiled host (dist/), as `npm start` runs it; its types are those of the source it is built from. */
async function loadHost(): Promise<ServerModule> {
  return import(pathToFileURL(built("core/front/server.js")).href);
}

/** startHost of the compiled host: what tests that start a host call (not the source's, which is not what users run). */
export const startHost: ServerModule["startHost"] = async (...args) => (await loadHost()).startHost(...args);

/** The real host on 127.0.0.1, port 0, against `dir`, with a config given as the JSON file would be. */
export async function startTestHost(dir: string, config: unknown = undefined, configFile?: string, logger: Logger = silentLogger()): Promise<TestHost> {
  // No config: the one token-less tenant `default`, as without a config file (no records folder here).
  const parsed = hostConfigSchema.parse(withTestLanes((config ?? { tenants: { default: {} } }) as object));
  const settings: Settings = { port: 0, host: "127.0.0.1", pluginsDir: dir, configFile, logLevel: "error", config: parsed };
  const host = await startHost(settings, logger);
  return {
    ...host,
    dir,
    post: (tenant, hook, body, headers = {}) => postHook(host.url, tenant, hook, body, headers),
    async close() {
      await host.close(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs `body` (a string as is, anything else as JSON) to a hook of the host at `url`. */
export async function postHook(url: string, tenant: string, hook: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${url}/v1/tenants/${tenant}/hooks/${hook}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsedBody: unknown = text;
  try {
    parsedBody = JSON.parse(text);
  } catch {
    // left as text: the test asserts on it
  }
  const trace = response.headers.get("x-hook-trace");
  return { status: response.status, body: parsedBody, headers: response.headers, trace: trace ? trace.split(",") : [] };
}

/** `plugin;status=ok;ms=3` → `plugin;status=ok` (durations vary). */
export function statuses(trace: string[]): string[] {
  return trace.map((t) => t.replace(/;ms=\d+(;v=[0-9a-f]{12})?$/, ""));
}

/** Polls `check` until it stops throwing, for up to `ms` (reloads land within 2 s); rethrows the last failure. */
export async function eventually<T>(check: () => Promise<T>, ms = 4000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(50);
    }
  }
}

/** One line the host logged, with its fields. */
export type LogLine = { level: string; message: string } & Record<string, unknown>;

/** A logger that keeps every line at `level` and above in `lines`, for tests that assert on logs. */
export function keepingLogger(level = "info"): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({ objectMode: true, write: (line: LogLine, _encoding, next) => (lines.push(line), next()) });
  return { logger: winston.createLogger({ level, transports: [new winston.transports.Stream({ stream })] }), lines };
}

/** A hook that runs `input.attack` (one of `attacks`), or answers normally without one. */
export function hostile(attacks: Record<string, string>): string {
  const cases = Object.entries(attacks).map(([name, body]) => `    case ${JSON.stringify(name)}: { ${body} }`);
  return `export default async (input, ctx) => {
  switch (input.attack) {
${cases.join("\n")}
  }
  return { hostile: "fine" };
};`;
}

/** What a child process wrote and how it ended. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output until it closes (rejects when it cannot be started). */
export function outputOf(child: ChildProcessWithoutNullStreams): Promise<Ran> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
