import { ConfigError, loadSettings } from "./config.js";
import { StartError } from "./front/errors.js";
import { createLogger, type Logger } from "./log.js";
import { listen } from "./front/listener.js";

const LEVELS = ["error", "warn", "info", "debug"];

/**
 * The host as a process (`npm start`, `hookhost serve`): settings from `env` and hookhost.json,
 * served until SIGTERM or SIGINT. Resolves with the exit code once the host has stopped (0) or
 * could not start (1: a bad config, a port taken, said in one log line), its log lines written.
 */
export async function serve(env: NodeJS.ProcessEnv): Promise<number> {
  const logger = createLogger(env.LOG_LEVEL && LEVELS.includes(env.LOG_LEVEL) ? env.LOG_LEVEL : "info");
  // Listened for from the start: a signal during start-up stops the host as soon as it is up. A
  // second signal while stopping is ignored, so that it cannot cut the requests in flight short.
  const stopSignal = new Promise<string>((resolve) => {
    process.on("SIGTERM", () => resolve("SIGTERM")).on("SIGINT", () => resolve("SIGINT"));
  });
  let code: number;
  try {
    const settings = loadSettings(env);
    const listener = await listen(settings.port, settings.host);
    // The rest of the host (isolated-vm, the compilers, koa) loads only once the port is ours.
    const { startHost } = await import("./front/server.js");
    const host = await startHost(settings, logger, listener);
    const signal = await stopSignal;
    logger.info(`${signal}: stopping, finishing requests in flight`);
    code = await host.close(10_000).then(
      () => 0,
      (e: unknown) => {
        logger.error("stop failed", { error: String(e) });
        return 1;
      },
    );
  } catch (e) {
    if (e instanceof ConfigError) logger.error(e.message, { problems: e.problems });
    else if (e instanceof StartError) logger.error(e.message);
    else logger.error("cannot start", { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    code = 1;
  }
  await flushed(logger);
  return code;
}

/** Resolves once the logger has handed its last line to stdout. */
async function flushed(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    logger.on("finish", resolve);
    logger.end();
  });
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
}
