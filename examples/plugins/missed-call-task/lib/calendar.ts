// Working days on the PBX's calendar. Dates are plain "YYYY-MM-DD" strings and the arithmetic runs
// on UTC midnights, so neither the host's time zone nor daylight saving can shift a day.

const DAY_MS = 24 * 60 * 60 * 1000;

/** The first working day after `date` ("2025-06-20", a Friday → "2025-06-23"). */
export function nextWorkingDay(date: string, workingDays: number[], holidays: string[]): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`the call's date ${JSON.stringify(date)} is not "YYYY-MM-DD"`);
  const [year, month, day] = date.split("-").map(Number);
  let time = Date.UTC(year!, month! - 1, day!);
  // A year ahead is as far as any holiday list can push it.
  for (let i = 0; i < 366; i++) {
    time += DAY_MS;
    const candidate = new Date(time);
    const iso = candidate.toISOString().slice(0, 10);
    const weekday = candidate.getUTCDay() || 7; // ISO: Sunday is 7
    if (workingDays.includes(weekday) && !holidays.includes(iso)) return iso;
  }
  throw new Error(`no working day within a year after ${date}: check config.workingDays and config.holidays`);
}
