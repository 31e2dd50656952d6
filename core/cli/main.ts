// The `hookhost` command (bin/hookhost.js starts this with the flags isolated-vm needs): reads the
// arguments, runs one command, exits with its code. One file per command beside this one.
import { parseArgs } from "node:util";
import { ConfigError } from "../config.js";
import { processIo, type Io } from "./io.js";
import type { Logger } from "../log.js";
import { stderrLogger } from "./logger.js";
import { UsageError } from "./usage.js";

const USAGE = `Usage:
  hookhost check [PLUGINS_DIR] [--json]
      Loads every plugin folder (default ./plugins) as the host does, type-checks its TypeScript
      against plugins.d.ts, and lists each plugin's state, hooks and errors (file:line:column).
      Exit code 1 when any folder is broken.
  hookhost run <hook> [--tenant T] [--plugins DIR] [--config FILE] [--input FILE|-]
      Runs one hook's chain on an input (stdin without --input) in the sandbox: the envelope on
      stdout, the trace on stderr. Exit code 1 when the input or the arguments are wrong.
  hookhost simulate <call.json> [--tenant T] [--plugins DIR] [--config FILE] [--json]
      Replays a recorded call (docs/simulate.md; examples in examples/calls/) through every hook
      in the connector's order and says what the connector does at each step.

  --tenant   the tenant whose plugins and config apply (default "default": no config file)
  --plugins  the plugins folder (default $HOOKHOST_PLUGINS, else ./plugins)
  --config   the host config (default $HOOKHOST_CONFIG, else ./hookhost.json when present)
  LOG_LEVEL  plugins' ctx.log lines at this level and above go to stderr (default info)`;

const hostOptions = {
  tenant: { type: "string", default: "default" },
  plugins: { type: "string" },
  config: { type: "string" },
} as const;

async function dispatch(argv: string[], io: Io, logger: Logger): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) throw new UsageError("no command given", true);
  if (command === "help" || command === "--help" || command === "-h") {
    io.out(USAGE);
    return 0;
  }
  switch (command) {
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
    default:
      throw new UsageError(`unknown command "${command}"`, true);
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

function parse<O extends Options>(args: string[], options: O, min: number, max: number, what = "") {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // parseArgs explains the problem well ("Unknown option '--x'"); only the kind of error changes.
    throw new UsageError((e as Error).message, true);
  }
  if (parsed.positionals.length < min) throw new UsageError(`missing ${what}`, true);
  if (parsed.positionals.length > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`, true);
  return parsed;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}

const level = ["error", "warn", "info", "debug"].includes(process.env.LOG_LEVEL ?? "") ? process.env.LOG_LEVEL! : "info";
const logger = stderrLogger(level);
let code: number;
try {
  code = await dispatch(process.argv.slice(2), processIo, logger);
} catch (e) {
  code = 1;
  if (e instanceof UsageError) processIo.err(`hookhost: ${e.message}${e.showUsage ? `\n\n${USAGE}` : ""}`);
  else if (e instanceof ConfigError) processIo.err(`hookhost: ${e.message}`);
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
