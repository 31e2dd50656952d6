// missed-call-task's settings, checked on every call: a wrong deadline is worse than the
// connector's own task, and a thrown error leaves that one in place (the host logs it).

export interface TaskConfig {
  /** Hour of the deadline, PBX local time. */
  hour: number;
  /** The PBX's offset from UTC: call_full times are its local time without a zone. */
  utcOffset: string;
  /** ISO weekdays that are working days: 1 Monday … 7 Sunday. */
  workingDays: number[];
  /** Public holidays as "YYYY-MM-DD" (Russia's production calendar moves them every year). */
  holidays: string[];
  /** Task title; {phone} is the client's number, {line} the trunk's name. */
  title: string;
}

const PLACEHOLDER = /\{(\w*)\}/g;
const PLACEHOLDERS = ["phone", "line"];

export function readConfig(config: Record<string, unknown>): TaskConfig {
  const hour = config["hour"] ?? 12;
  if (typeof hour !== "number" || !Number.isInteger(hour) || hour < 0 || hour > 23) {
    throw new Error(`missed-call-task: config.hour must be a whole hour from 0 to 23, got ${JSON.stringify(hour)}`);
  }
  const utcOffset = config["utcOffset"] ?? "+03:00";
  if (typeof utcOffset !== "string" || !/^[+-](0\d|1[0-4]):[0-5]\d$/.test(utcOffset)) {
    throw new Error(`missed-call-task: config.utcOffset must look like "+03:00", got ${JSON.stringify(utcOffset)}`);
  }
  const workingDays = config["workingDays"] ?? [1, 2, 3, 4, 5];
  if (!Array.isArray(workingDays) || workingDays.length === 0 || !workingDays.every((d) => Number.isInteger(d) && d >= 1 && d <= 7)) {
    throw new Error(`missed-call-task: config.workingDays must list weekdays 1 (Monday) to 7 (Sunday), got ${JSON.stringify(workingDays)}`);
  }
  const holidays = config["holidays"] ?? [];
  if (!Array.isArray(holidays) || !holidays.every((d) => typeof d === "string" && /^\d{4}-\d{2}-\d{2}$/.test(d))) {
    throw new Error(`missed-call-task: config.holidays must list dates like "2025-11-04", got ${JSON.stringify(holidays)}`);
  }
  const title = config["title"] ?? "Перезвонить: {phone} ({line})";
  if (typeof title !== "string" || title.trim() === "") {
    throw new Error(`missed-call-task: config.title must be a non-empty string, got ${JSON.stringify(title)}`);
  }
  for (const [, name] of title.matchAll(PLACEHOLDER)) {
    if (!PLACEHOLDERS.includes(name!)) throw new Error(`missed-call-task: config.title has an unknown placeholder {${name}}; use {phone} or {line}`);
  }
  return { hour, utcOffset, workingDays, holidays, title };
}

/** The title with its placeholders filled in. */
export function fillTitle(title: string, values: { phone: string; line: string }): string {
  return title.replace(PLACEHOLDER, (_, name: string) => (name === "phone" ? values.phone : values.line));
}
