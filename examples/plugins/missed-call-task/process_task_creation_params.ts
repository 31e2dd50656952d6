// The task the connector creates for a missed call: due the next working day at noon (config.hour)
// on the PBX's clock, so a call missed on Friday evening is not overdue by Saturday morning, and
// titled with the client's number so the task list says whom to call back.
//
// The deadline counts from when the call ended, not from the host's clock: the connector may call
// this hook late, and the host may run in another time zone than the PBX.
import { nextWorkingDay } from "./lib/calendar.js";
import { fillTitle, readConfig } from "./lib/config.js";

const NEVER = "0001-01-01 00:00:00";

export default defineHook("process_task_creation_params", (input, ctx) => {
  const config = readConfig(ctx.config);
  const channel = input.call_full.channel;
  const ended = channel.end_time !== NEVER ? channel.end_time : channel.start_time;
  const day = nextWorkingDay(ended.slice(0, 10), config.workingDays, config.holidays);
  const deadline = `${day}T${String(config.hour).padStart(2, "0")}:00:00${config.utcOffset}`;
  // The client is whoever is not our extension: the caller on a missed inbound call, the number
  // dialled on an unanswered outbound one.
  const phone = channel.type === "outgoing" ? channel.to.number : channel.from.number;
  const line = channel.trunk.name || channel.trunk.number || "—";
  return { fields: { DEADLINE: deadline, TITLE: fillTitle(config.title, { phone, line }) } };
});
