import { ConfigError, loadSettings } from "./config.js";
import { createLogger } from "./log.js";
import { startHost } from "./server.js";

// `npm start`: settings from the environment and hookhost.json, then serve until SIGTERM/SIGINT.
const logger = createLogger(process.env.LOG_LEVEL && ["error", "warn", "info", "debug"].includes(process.env.LOG_LEVEL) ? process.env.LOG_LEVEL : "info");
try {
  const settings = loadSettings(process.env);
  const host = await startHost(settings, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping, finishing requests in flight`);
    host.close(10_000).then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error("stop failed", { error: String(e) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (e) {
  if (e instanceof ConfigError) logger.error(e.message, { problems: e.problems });
  else logger.error("cannot start", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  // Let the log line reach stdout before exiting.
  process.exitCode = 1;
}
