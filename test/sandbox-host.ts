import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { keepingLogger, pluginsDir, postHook, ROOT, startTestHost, withTestLanes, type Answer, type LogLine, type TestHost } from "./support.js";

/**
 * The real host as startTestHost runs it, but keeping what it logs: the error text of a failed
 * plugin run (the trace header carries only its status) is in the host's log line for that request.
 */
export interface WatchedHost extends TestHost {
  /** plugin → error text of every failed run of this answer's request */
  errors(answer: Answer): Record<string, string>;
}

/**
 * Starts the host on 127.0.0.1:0 over a temp plugins folder made of `files` (and whatever `prepare`
 * adds to it), with `config` as hookhost.json would give it.
 */
export async function startWatchedHost(files: Record<string, string | object>, config: unknown, prepare?: (dir: string) => void): Promise<WatchedHost> {
  const dir = pluginsDir(files);
  prepare?.(dir);
  const { logger, lines } = keepingLogger("warn");
  const host = await startTestHost(dir, config, undefined, logger);
  return {
    ...host,
    errors(answer) {
      const id = answer.headers.get("x-request-id");
      const out: Record<string, string> = {};
      for (const line of lines) if (line.requestId === id && line.message === "plugin run failed") out[String(line.plugin)] = String(line.error);
      return out;
    },
  };
}

/** Asserts that no answer or error text shows where the host runs: the plugins folder, the checkout. */
export function assertNoHostPaths(host: WatchedHost, ...texts: unknown[]): void {
  for (const text of texts) {
    const s = typeof text === "string" ? text : JSON.stringify(text);
    for (const path of [host.dir, ROOT, `${dirname(ROOT)}/`, "node_modules", "file://"]) assert.ok(!s.includes(path), `${path} leaked in ${s.slice(0, 300)}`);
  }
}

/** The host as `npm start` runs it, in a child process: for attacks that may leave the process unable to exit normally. */
export interface ChildHost {
  dir: string;
  pid: number;
  /** what the process wrote to stderr so far (it is also passed on to this process's stderr) */
  stderr(): string;
  /** the log lines it wrote so far */
  logs(): LogLine[];
  /** POST a hook call as `tenant` (`t` by default) */
  post(hook: string, body: unknown, tenant?: string): Promise<Answer>;
  /** GET `path`, its JSON body */
  get(path: string): Promise<any>;
  /** plugin → error text of every failed run of this answer's request */
  errors(answer: Answer): Promise<Record<string, string>>;
  /** SIGTERM; resolves with how the process ended and how long it took */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

const TSX = import.meta.resolve("tsx");

/** Starts core/main.ts on 127.0.0.1:0 over a temp plugins folder made of `files`, with `config` (it serves the token-less tenant `t`). */
export async function spawnHost(files: Record<string, string | object>, config: object = {}): Promise<ChildHost> {
  const dir = pluginsDir(files);
  const configFile = join(dir, ".hookhost.json");
  writeFileSync(configFile, JSON.stringify(withTestLanes({ tenants: { t: {} }, ...config })));
  const child = spawn(process.execPath, ["--no-node-snapshot", "--import", TSX, join(ROOT, "core", "main.ts")], {
    cwd: dir,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", HOOKHOST_PLUGINS: dir, HOOKHOST_CONFIG: configFile, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    process.stderr.write(chunk);
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const lines: LogLine[] = [];
  let listening: (url: string) => void;
  const url = new Promise<string>((resolve, reject) => {
    listening = resolve;
    void ended.then((how) => reject(new Error(`the host exited before listening: ${JSON.stringify(how)}`)));
  });
  createInterface({ input: child.stdout! }).on("line", (text) => {
    try {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      const at = /^listening on (http:\S+)$/.exec(line.message);
      if (at) listening(at[1]);
    } catch {
      // not a log line
    }
  });
  const base = await url;
  return {
    dir,
    pid: child.pid!,
    stderr: () => stderr,
    logs: () => lines,
    post: (hook, body, tenant = "t") => postHook(base, tenant, hook, body),
    async get(path) {
      return (await fetch(`${base}${path}`)).json();
    },
    async errors(answer) {
      const id = answer.headers.get("x-request-id");
      // the warn line is written right after the answer: give it a moment to arrive
      for (let i = 0; i < 50 && !lines.some((l) => l.requestId === id && l.message === "plugin run failed"); i++) await delay(20);
      const out: Record<string, string> = {};
      for (const line of lines) if (line.requestId === id && line.message === "plugin run failed") out[String(line.plugin)] = String(line.error);
      return out;
    },
    async stop() {
      const started = Date.now();
      child.kill("SIGTERM");
      // a host that cannot exit is the failure this reports: never wait for it forever
      const how = await Promise.race([ended, delay(10_000).then(() => undefined)]);
      if (!how) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      return how ? { ...how, ms: Date.now() - started } : { code: null, signal: null, ms: Infinity };
    },
  };
}
