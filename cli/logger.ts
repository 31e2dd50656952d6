import winston from "winston";
import type { Logger } from "../core/log.js";

/**
 * The commands' logger: every line to stderr, so stdout carries only the command's answer (an
 * envelope, a timeline, JSON). Plugin `ctx.log` lines come through here, labelled with the plugin.
 */
export function stderrLogger(level: string): Logger {
  const format = winston.format.printf(({ level, message, plugin, fields }) => {
    const who = typeof plugin === "string" ? `[${plugin}] ` : "";
    const extra = fields && typeof fields === "object" && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
    return `  ${who}${level}: ${String(message)}${extra}`;
  });
  return winston.createLogger({
    level,
    format,
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}
