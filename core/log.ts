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

/**
 * A token bucket per key (plugin name): `allow(key)` is false once a key has spent its burst and
 * refills at `perSecond`, so one chatty plugin cannot flood the disk. Drops are counted per key.
 */
export function rateLimiter(perSecond: number, burst: number, now = () => Date.now()) {
  const buckets = new Map<string, { tokens: number; at: number; dropped: number }>();
  return {
    allow(key: string): boolean {
      const t = now();
      const b = buckets.get(key) ?? { tokens: burst, at: t, dropped: 0 };
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
      b.at = t;
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
      }
      b.dropped++;
      return false;
    },
    /** lines dropped per key since the last call */
    takeDropped(): Map<string, number> {
      const out = new Map<string, number>();
      for (const [key, b] of buckets) if (b.dropped) [out.set(key, b.dropped), (b.dropped = 0)];
      return out;
    },
  };
}
