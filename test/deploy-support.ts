// Runs the host the way a deployment starts it (the image's ENTRYPOINT + CMD, the unit's
// ExecStart), here on this machine: the paths it names inside the image or under /opt are mapped
// to this checkout and to temp folders, the rest of its command and environment is kept.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { writePlugins } from "./support.js";

export const TOKEN = "deploy-test-token";

/** A config folder (hookhost.json: tenant `acme` with TOKEN) and a plugins folder with one plugin, as the volumes would hold them. */
export function volumes(config: object = { tenants: { acme: { token: TOKEN } } }): { root: string; configDir: string; configFile: string; plugins: string } {
  const root = mkdtempSync(join(tmpdir(), "hookhost-deploy-"));
  const configDir = join(root, "config");
  const plugins = join(root, "plugins");
  mkdirSync(configDir);
  mkdirSync(plugins);
  writeFileSync(join(configDir, "hookhost.json"), JSON.stringify(config));
  writePlugins(plugins, {
    "plus/plugin.json": {},
    "plus/process_client_phone.js": `export default (input) => ({ phone: "+" + input.phone });`,
  });
  return { root, configDir, configFile: join(configDir, "hookhost.json"), plugins };
}

export interface Service {
  child: ChildProcess;
  /** stdout and stderr lines so far */
  lines: string[];
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `argv` with exactly `env` (plus PATH), its output read line by line. */
export function run(argv: string[], env: Record<string, string>, cwd: string): Service {
  const child = spawn(argv[0], argv.slice(1), { cwd, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => lines.push(line));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, lines, ended };
}

/** The loopback URL of the port the host logged it listens on (it may have bound 0.0.0.0). */
export async function listening(service: Service): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    for (const line of service.lines) {
      const at = /"message":"listening on http:\/\/[^"]*:(\d+)"/.exec(line);
      if (at) return `http://127.0.0.1:${at[1]}`;
    }
    const gone = await Promise.race([service.ended, new Promise((r) => setTimeout(r, 50, undefined))]);
    if (gone) throw new Error(`exited before listening: ${JSON.stringify(gone)}\n${service.lines.join("\n")}`);
  }
  throw new Error(`never listened:\n${service.lines.join("\n")}`);
}
