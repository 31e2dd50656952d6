// autodistribution's settings, checked on every call. A thrown error leaves the connector's own
// routing in place (the host logs it), which beats ringing the wrong phone.

export interface RoutingConfig {
  /** Where calls go outside working hours; "" keeps the connector's choice at all hours. */
  dutyExtension: string;
  /** Minutes since midnight, PBX local time: [start, end). */
  opensAt: number;
  closesAt: number;
  /** ISO weekdays that are working days: 1 Monday … 7 Sunday. */
  workingDays: number[];
  /** The PBX's offset from UTC in minutes. */
  offsetMinutes: number;
  /** Shown before the client's name on the operator's phone, e.g. "СПб" or "8-800". */
  tag: string;
}

const HOURS = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

export function readConfig(config: Record<string, unknown>): RoutingConfig {
  const duty = config["dutyExtension"] ?? "";
  if (typeof duty !== "string" || !/^\d*$/.test(duty)) {
    throw new Error(`autodistribution: config.dutyExtension must be an extension like "299" or "", got ${JSON.stringify(duty)}`);
  }
  const hours = config["workingHours"] ?? "09:00-19:00";
  const h = typeof hours === "string" ? HOURS.exec(hours) : null;
  const opensAt = h ? Number(h[1]) * 60 + Number(h[2]) : NaN;
  const closesAt = h ? Number(h[3]) * 60 + Number(h[4]) : NaN;
  if (!h || closesAt > 24 * 60 || opensAt >= closesAt) {
    throw new Error(`autodistribution: config.workingHours must look like "09:00-19:00" (start before end), got ${JSON.stringify(hours)}`);
  }
  const workingDays = config["workingDays"] ?? [1, 2, 3, 4, 5];
  if (!Array.isArray(workingDays) || !workingDays.every((d) => Number.isInteger(d) && d >= 1 && d <= 7)) {
    throw new Error(`autodistribution: config.workingDays must list weekdays 1 (Monday) to 7 (Sunday), got ${JSON.stringify(workingDays)}`);
  }
  const offset = config["utcOffset"] ?? "+03:00";
  const o = typeof offset === "string" ? /^([+-])(0\d|1[0-4]):([0-5]\d)$/.exec(offset) : null;
  if (!o) throw new Error(`autodistribution: config.utcOffset must look like "+03:00", got ${JSON.stringify(offset)}`);
  const offsetMinutes = (o[1] === "-" ? -1 : 1) * (Number(o[2]) * 60 + Number(o[3]));
  const tag = config["tag"] ?? "";
  if (typeof tag !== "string") throw new Error(`autodistribution: config.tag must be a string, got ${JSON.stringify(tag)}`);
  return { dutyExtension: duty, opensAt, closesAt, workingDays, offsetMinutes, tag: tag.trim() };
}
