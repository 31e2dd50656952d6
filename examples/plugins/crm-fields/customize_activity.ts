// Makes the call's activity ("дело") readable at a glance in the CRM feed: the subject starts with
// the line the client called and the extensions that talked to them, e.g.
// "[8-800 горячая линия, 205→202] Входящий звонок +79852174490"; calls on the lines listed in
// config.highPriorityLines (the 8-800 sales line) become high-priority activities.
import { answeringExtensions } from "./lib/call.js";
import { readConfig } from "./lib/config.js";

/** Bitrix24 activity priorities: 1 low, 2 medium, 3 high. */
const HIGH_PRIORITY = 3;

export default defineHook("customize_activity", (input, ctx) => {
  const config = readConfig(ctx.config);
  const call = input.call_full;
  const trunk = call.channel.trunk;
  const tags = [trunk.name || trunk.number, answeringExtensions(call).join("→")].filter((t) => t !== "");
  const fields: Record<string, unknown> = {};
  if (tags.length > 0) fields["SUBJECT"] = `[${tags.join(", ")}] ${input.activity.name}`;
  if (config.highPriorityLines.includes(trunk.number)) fields["PRIORITY"] = HIGH_PRIORITY;
  return Object.keys(fields).length > 0 ? fields : undefined;
});
