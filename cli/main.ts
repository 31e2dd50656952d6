// The `hookhost` command (bin/hookhost.js starts this with the flags isolated-vm needs): reads the
// arguments, runs one command, exits with its code: 0 done, 1 failed, 2 called wrongly. One file
// per command beside this one.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../core/config.js";
import { processIo, type Io } from "./io.js";
import type { Logger } from "../core/log.js";
import { stderrLogger } from "./logger.js";
import { PACKAGE_ROOT } from "../core/package-root.js";
import { InputError, UsageError } from "./usage.js";

const HOST_OPTIONS_HELP = `  --tenant   the tenant whose plugins and config apply (default "default": no config file)
  --plugins  the plugins folder (default $HOOKHOST_PLUGINS, else ./plugins)
  --config   the host config (default $HOOKHOST_CONFIG, else ./hookhost.json when present)
  LOG_LEVEL  plugins' ctx.log lines at this level and above go to stderr (default info)`;

const ADMIN_OPTIONS_HELP = `  --url         the running host (default http://127.0.0.1:8080)
  --token-file  a file holding the admin token (default: $HOOKHOST_ADMIN_TOKEN)
  Exit code 1 when the host refuses (the message says why) or cannot be reached.`;

/** Each command's usage: printed by `hookhost <command> --help`, and after a usage error. */
const COMMANDS = {
  serve: `hookhost serve [--port N] [--host ADDR] [--plugins DIR] [--config FILE]
  Runs the host (as npm start does) until SIGTERM or SIGINT. The options override the environment
  variables PORT (default 8080), HOST (default 127.0.0.1), HOOKHOST_PLUGINS and HOOKHOST_CONFIG.
  Exit code 1 when it cannot start (a bad config, the port taken).`,
  check: `hookhost check [PLUGINS_DIR] [--json]
  Loads every plugin folder (default ./plugins) as the host does, type-checks its TypeScript
  against plugins.d.ts, and lists each plugin's state, hooks and errors (file:line:column).
  Exit code 1 when any folder is broken.`,
  run: `hookhost run <hook> [--tenant T] [--plugins DIR] [--config FILE] [--input FILE|-]
  Runs one hook's chain on an input (stdin without --input) in the sandbox: the envelope on
  stdout, the trace on stderr. Exit code 1 when the input is not JSON or not the hook's input.

${HOST_OPTIONS_HELP}`,
  simulate: `hookhost simulate <call.json> [--tenant T] [--plugins DIR] [--config FILE] [--json]
  Replays a recorded call (docs/simulate.md; examples in examples/calls/) through every hook
  in the connector's order and says what the connector does at each step.

${HOST_OPTIONS_HELP}`,
  rollback: `hookhost rollback <plugin> [--version V] [--url URL] [--token-file FILE]
  Makes the running host serve the plugin's previous good version (or version V, one of the
  versions its status lists) until the plugin's folder changes.

${ADMIN_OPTIONS_HELP}`,
  promote: `hookhost promote <candidate> [--url URL] [--token-file FILE]
  Serves a candidate's version (plugin.json candidateOf) as the plugin it is a candidate of,
  until that plugin's folder changes; the candidate stops running.

${ADMIN_OPTIONS_HELP}`,
  abort: `hookhost abort <candidate> [--url URL] [--token-file FILE]
  Stops a candidate (shadow or canary) until its folder changes.

${ADMIN_OPTIONS_HELP}`,
} as const;

type Command = keyof typeof COMMANDS;

const USAGE = `Usage: hookhost <command> [options]    (hookhost <command> --help for one command)

${Object.values(COMMANDS)
  .map((text) => text.split("\n\n")[0])
  .join("\n\n")}

  hookhost --version, hookhost --help
Exit codes: 0 done, 1 failed (the message says why), 2 called wrongly.`;

function isCommand(name: string): name is Command {
  return Object.hasOwn(COMMANDS, name);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
  return `hookhost ${pkg.version} (node ${process.version})`;
}

const hostOptions = {
  tenant: { type: "string", default: "default" },
  plugins: { type: "string" },
  config: { type: "string" },
} as const;

const adminOptions = {
  url: { type: "string", default: "http://127.0.0.1:8080" },
  "token-file": { type: "string" },
} as const;

async function dispatch(argv: string[], io: Io, logger: Logger): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) throw new UsageError("no command given");
  if (command === "--version" || command === "-v" || command === "version") {
    io.out(version());
    return 0;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    const topic = args[0];
    io.out(topic !== undefined && isCommand(topic) ? `Usage: ${COMMANDS[topic]}` : USAGE);
    return 0;
  }
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"`);
  if (args.includes("--help") || args.includes("-h")) {
    io.out(`Usage: ${COMMANDS[command]}`);
    return 0;
  }
  switch (command) {
    case "serve": {
      const { values } = parse(args, { port: { type: "string" }, host: { type: "string" }, plugins: { type: "string" }, config: { type: "string" } }, 0, 0);
      const { serve } = await import("../core/serve.js");
      const env = { ...process.env };
      if (values.port !== undefined) env.PORT = values.port;
      if (values.host !== undefined) env.HOST = values.host;
      if (values.plugins !== undefined) env.HOOKHOST_PLUGINS = values.plugins;
      if (values.config !== undefined) env.HOOKHOST_CONFIG = values.config;
      return serve(env);
    }
    case "check": {
      const { values, positionals } = parse(args, { json: { type: "boolean", default: false } }, 0, 1);
      const { checkCommand } = await import("./check.js");
      return checkCommand({ pluginsDir: positionals[0] ?? process.env.HOOKHOST_PLUGINS ?? "./plugins", json: values.json }, io);
    }
    case "run": {
      const { values, positionals } = parse(args, { ...hostOptions, input: { type: "string" } }, 1, 1, "<hook>");
      const { runCommand } = await import("./run.js");
      return runCommand({ hook: positionals[0], ...values }, io, logger);
    }
    case "simulate": {
      const { values, positionals } = parse(args, { ...hostOptions, json: { type: "boolean", default: false } }, 1, 1, "<call.json>");
      const { simulateCommand } = await import("./simulate.js");
      return simulateCommand({ call: positionals[0], ...values }, io, logger);
    }
    case "rollback":
    case "promote":
    case "abort": {
      const { values, positionals } = parse(args, { ...adminOptions, version: { type: "string" } }, 1, 1, command === "rollback" ? "<plugin>" : "<candidate>");
      if (command !== "rollback" && values.version !== undefined) throw new UsageError(`--version is for rollback only; ${command} acts on the candidate's loaded version`);
      const { rolloutCommand } = await import("./rollout.js");
      return rolloutCommand({ action: command, plugin: positionals[0], url: values.url, tokenFile: values["token-file"], version: values.version }, io);
    }
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

function parse<O extends Options>(args: string[], options: O, min: number, max: number, what = "") {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // parseArgs explains the problem well ("Unknown option '--x'"); only the kind of error changes.
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length < min) throw new UsageError(`missing ${what}`);
  if (parsed.positionals.length > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
  return parsed;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}

const level = ["error", "warn", "info", "debug"].includes(process.env.LOG_LEVEL ?? "") ? process.env.LOG_LEVEL! : "info";
const logger = stderrLogger(level);
const argv = process.argv.slice(2);
let code: number;
try {
  code = await dispatch(argv, processIo, logger);
} catch (e) {
  code = 1;
  if (e instanceof UsageError) {
    code = 2;
    const usage = argv[0] !== undefined && isCommand(argv[0]) ? `Usage: ${COMMANDS[argv[0]]}` : USAGE;
    processIo.err(`hookhost: ${e.message}\n\n${usage}`);
  } else if (e instanceof InputError || e instanceof ConfigError) processIo.err(`hookhost: ${e.message}`);
  else processIo.err(`hookhost: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
}
// winston hands lines to its transports a tick later: let the plugins' last lines out first.
await new Promise((resolve) => {
  logger.on("finish", resolve);
  logger.end();
});
// A sandbox or a Redis client may still hold the event loop: the answer is out, so leave now.
await Promise.all([flush(process.stdout), flush(process.stderr)]);
process.exit(code);
