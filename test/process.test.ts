// The host as a process, started the ways a user starts it: `npm start` and `hookhost serve`.
// Signals stop it (no orphan keeps serving); a port already taken ends it at once with one line.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fixture, pluginsDir, postHook, ROOT } from "./support.js";

const BIN = join(ROOT, "bin", "hookhost.js");
const PLUGIN = {
  "upper/plugin.json": {},
  "upper/process_client_phone.js": `export default (input) => ({ phone: "+" + input.phone });`,
};

interface Started {
  child: ChildProcess;
  /** every stdout line so far */
  lines: string[];
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `command` in the checkout with a temp plugins folder, its stdout read line by line. */
function start(command: string, args: string[], env: Record<string, string>, plugins: string): Started {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, HOOKHOST_PLUGINS: plugins, HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => lines.push(line));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, lines, ended };
}

/** The URL from the host's "listening on" line. */
async function listening(started: Started): Promise<string> {
  for (let i = 0; i < 600; i++) {
    for (const line of started.lines) {
      const at = /"message":"listening on (http:[^"]+)"/.exec(line);
      if (at) return at[1];
    }
    const gone = await Promise.race([started.ended, new Promise((r) => setTimeout(r, 50, undefined))]);
    if (gone) throw new Error(`exited before listening: ${JSON.stringify(gone)}\n${started.lines.join("\n")}`);
  }
  throw new Error(`never listened:\n${started.lines.join("\n")}`);
}

/** Whether anything still accepts connections at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

function occupiedPort(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

const ways: [string, (port: string) => [string, string[], Record<string, string>]][] = [
  ["npm start", (port) => ["npm", ["start", "--silent"], { PORT: port }]],
  ["hookhost serve", (port) => [process.execPath, [BIN, "serve", "--port", port], {}]],
];

describe("the host as a process", function () {
  this.timeout(60_000);

  it("runs on Node 24, the binary of the node dependency, as npm start and npm test do", () => {
    assert.equal(process.versions.node.split(".")[0], "24", `npm test ran ${process.execPath} (${process.version})`);
  });

  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const [way, command] of ways) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      it(`${way}: ${signal} stops the host itself, not only the launcher, and it exits 0`, async () => {
        const dir = pluginsDir(PLUGIN);
        dirs.push(dir);
        const [cmd, args, env] = command("0");
        const host = start(cmd, args, env, dir);
        children.push(host.child);
        const url = await listening(host);
        const answer = await postHook(url, "default", "process_client_phone", fixture("process_client_phone"));
        assert.equal(answer.body.data.phone, "+89213451807");
        host.child.kill(signal);
        const how = await host.ended;
        assert.deepEqual(how, { code: 0, signal: null }, host.lines.join("\n"));
        // the launcher's exit is not enough: nothing may be left serving on the port
        assert.equal(await answers(url), false, `something still serves ${url} after ${way} exited`);
      });
    }

    it(`${way}: a port already taken ends it with code 1 and one line saying so, without loading plugins`, async () => {
      const taken = await occupiedPort();
      const dir = pluginsDir(PLUGIN);
      dirs.push(dir);
      try {
        const port = String((taken.address() as AddressInfo).port);
        const [cmd, args, env] = command(port);
        const host = start(cmd, args, env, dir);
        children.push(host.child);
        const timer = setTimeout(() => host.child.kill("SIGKILL"), 20_000);
        const how = await host.ended;
        clearTimeout(timer);
        assert.deepEqual(how, { code: 1, signal: null }, host.lines.join("\n"));
        const said = host.lines.filter((l) => l.trim() !== "" && !l.startsWith(">"));
        assert.equal(said.length, 1, said.join("\n"));
        assert.match(said[0], new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
      } finally {
        taken.close();
      }
    });
  }

  it("a config that does not validate ends the start with code 1, naming the problem", async () => {
    const dir = pluginsDir({ ...PLUGIN, "hookhost.json": { tenants: { acme: { tokn: "x" } } } });
    dirs.push(dir);
    const host = start(process.execPath, [BIN, "serve", "--port", "0", "--config", join(dir, "hookhost.json")], {}, dir);
    children.push(host.child);
    assert.deepEqual(await host.ended, { code: 1, signal: null });
    assert.match(host.lines.join("\n"), /tenants\.acme.*tokn/);
  });
});
