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

/** Plugin `ctx.log` lines allowed per tenant × plugin: a steady rate with room for a burst. */
const PLUGIN_LOG_PER_SECOND = 50;
const PLUGIN_LOG_BURST = 200;

/**
 * One token bucket per tenant × plugin, so that neither a chatty tenant nor a chatty plugin can
 * flood the disk or silence the others. The sandbox applies the same limit inside the isolate,
 * before a line crosses to the host, and reports what it dropped there (`dropped`); this bucket
 * still holds when a sandbox is rebuilt with a fresh one. Drops are counted per tenant × plugin.
 */
export function pluginLogLimiter() {
  const perSecond = PLUGIN_LOG_PER_SECOND;
  const burst = PLUGIN_LOG_BURST;
  const buckets = new Map<string, { tenant: string; plugin: string; tokens: number; at: number; dropped: number }>();
  const bucket = (tenant: string, plugin: string) => {
    const key = JSON.stringify([tenant, plugin]);
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = { tenant, plugin, tokens: burst, at: Date.now(), dropped: 0 }));
    return b;
  };
  return {
    perSecond,
    burst,
    allow(tenant: string, plugin: string): boolean {
      const b = bucket(tenant, plugin);
      const t = Date.now();
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
      b.at = t;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
      }
      b.dropped++;
      return false;
    },
    /** lines the sandbox dropped before they reached the host */
    dropped(tenant: string, plugin: string, count: number): void {
      bucket(tenant, plugin).dropped += count;
    },
    /** lines dropped per tenant × plugin since the last call */
    takeDropped(): { tenant: string; plugin: string; dropped: number }[] {
      const out: { tenant: string; plugin: string; dropped: number }[] = [];
      for (const b of buckets.values()) {
        if (!b.dropped) continue;
        out.push({ tenant: b.tenant, plugin: b.plugin, dropped: b.dropped });
        b.dropped = 0;
      }
      return out;
    },
  };
}

export type PluginLogLimiter = ReturnType<typeof pluginLogLimiter>;
