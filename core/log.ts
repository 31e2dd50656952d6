import winston from "winston";

export type Logger = winston.Logger;

/** JSON lines for machines; a readable line when a person watches a terminal. */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  const format = pretty
    ? winston.format.combine(
        winston.format.timestamp({ format: "HH:mm:ss.SSS" }),
        winston.format.printf(({ timestamp, level, message, ...rest }) => {
          const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
          return `${timestamp} ${level.padEnd(5)} ${message}${fields}`;
        }),
      )
    : winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json());
  return winston.createLogger({ level, format, transports: [new winston.transports.Console()] });
}

/** A logger for tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
