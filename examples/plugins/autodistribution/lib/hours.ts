// Whether the office is open, on the PBX's clock. The autodistribution request carries no time:
// the caller is waiting right now, so "now" is the moment that matters.
import type { RoutingConfig } from "./config.js";

/** True when `now` (epoch ms) falls on a working day within working hours, PBX local time. */
export function isOpen(now: number, config: RoutingConfig): boolean {
  // Shifting by the offset and reading the UTC fields gives the PBX's wall clock, whatever the
  // host's own time zone is.
  const local = new Date(now + config.offsetMinutes * 60_000);
  const weekday = local.getUTCDay() || 7; // ISO: Sunday is 7
  const minutes = local.getUTCHours() * 60 + local.getUTCMinutes();
  return config.workingDays.includes(weekday) && minutes >= config.opensAt && minutes < config.closesAt;
}
