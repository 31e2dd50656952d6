#!/usr/bin/env node
// `hookhost` (npx hookhost …): runs the compiled CLI (dist/cli/main.js, made by `npm run build`,
// which `npm install` runs) in a child Node process started with the flags isolated-vm needs.
// --no-node-snapshot must be on the command line of the process that loads isolated-vm (Node
// refuses it in NODE_OPTIONS), so this launcher cannot simply import the CLI.
// isolated-vm is built for Node 24: when an older `node` started this launcher (a machine's own
// Node 20, in a folder that installed hookhost from a clone), the CLI runs on the Node 24 binary
// that this package's `node` dependency carries.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(`hookhost: ${main} is missing: run \`npm run build\` in ${fileURLToPath(new URL("..", import.meta.url))}\n`);
  process.exit(1);
}
const node = Number(process.versions.node.split(".")[0]) >= 24 ? process.execPath : join(dirname(createRequire(import.meta.url).resolve("node/package.json")), "bin", "node");

const child = spawn(node, ["--no-node-snapshot", main, ...process.argv.slice(2)], { stdio: "inherit" });

// Ctrl-C reaches the child through the terminal's process group; a signal sent to this process
// alone (kill, a supervisor) is passed on, so the child never outlives it.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}

child.on("error", (e) => {
  process.stderr.write(`hookhost: cannot start ${node}: ${e.message}\n`);
  process.exit(1);
});

child.on("exit", (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
