// Stamps the lead or contact with the time of its last call (config.lastCallField), so managers
// can sort and filter clients by it; "" in config turns it off.
import { isoTime } from "./lib/call.js";
import { readConfig } from "./lib/config.js";

export default defineHook("customize_entity", (input, ctx) => {
  const config = readConfig(ctx.config);
  if (config.lastCallField === "" || input.call_full.entity === null) return undefined;
  const started = isoTime(input.call_full.channel.start_time, config.utcOffset);
  if (started === null) return undefined;
  return { [config.lastCallField]: started };
});
