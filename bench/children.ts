import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "./paths.js";

/** A server under test running in a process of its own, so its memory and CPU are measured alone. */
export interface Child {
  pid: number;
  url: string;
  /** SIGTERM, then wait for the exit; rejects when it does not exit cleanly within 15 s */
  stop(): Promise<void>;
}

export interface HostOptions {
  pluginsDir: string;
  configFile?: string;
  /** where the host's log lines go (stdout and stderr) */
  logFile: string;
  logLevel: string;
  /** extra node flags for the host process (profiling, GC experiments) */
  nodeArgs?: string[];
}

/** The compiled host (dist/core/main.js) exactly as `npm start` runs it, on a free loopback port. */
export async function startHostProcess(o: HostOptions): Promise<Child> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", HOOKHOST_PLUGINS: o.pluginsDir, LOG_LEVEL: o.logLevel };
  if (o.configFile) env.HOOKHOST_CONFIG = o.configFile;
  else delete env.HOOKHOST_CONFIG;
  return startChild([...(o.nodeArgs ?? []), "--no-node-snapshot", join(ROOT, "dist", "core", "main.js")], env, port, o.logFile);
}

/** The bare Koa echo server (bench/echo-server.ts), the ceiling the host is compared with. */
export async function startEchoProcess(logFile: string): Promise<Child> {
  const port = await freePort();
  return startChild(["--no-node-snapshot", "--import", "tsx", join(ROOT, "bench", "echo-server.ts")], { ...process.env, PORT: String(port) }, port, logFile);
}

async function startChild(args: string[], env: NodeJS.ProcessEnv, port: number, logFile: string): Promise<Child> {
  const log = openSync(logFile, "a");
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", log, log] });
  closeSync(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, child, exited);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${args.at(-1)} did not start (log: ${logFile}): ${(e as Error).message}`);
  }
  return {
    pid: child.pid!,
    url,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const { code, signal } = await exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`${args.at(-1)} exited with ${signal ?? `code ${code}`} (log: ${logFile})`);
    },
  };
}

/** Polls GET /healthz until it answers 200; fails early when the child exits. */
async function waitReady(url: string, child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (gone) throw new Error(`exited with code ${child.exitCode}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no 200 from /healthz within 30 s");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
