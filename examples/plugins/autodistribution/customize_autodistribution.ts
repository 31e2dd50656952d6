// Decides whom an inbound call rings before anyone does (the caller is waiting: keep it quick).
// Outside working hours the call goes to the duty extension instead of a manager who has gone
// home; at all hours the operator's phone shows the line's tag and the client's CRM name, e.g.
// "СПб Павел Григорьев". The request carries no trunk, so the tag comes from config: set it per
// tenant (host config `tenants.<id>.config.autodistribution.tag`) when each tenant is one line.
import { readConfig } from "./lib/config.js";
import { isOpen } from "./lib/hours.js";

/** Asterisk shows at most 20 characters of a CallerID name; the host would cut it too, with a warning. */
const CALLER_NAME_MAX = 20;

export default defineHook("customize_autodistribution", (input, ctx) => {
  const config = readConfig(ctx.config);
  // The CRM's name for the client when it knows one, else the number that is calling.
  const client = input.entity?.name || input.from || input.name;
  const name = Array.from([config.tag, client].filter((part) => part !== "").join(" "))
    .slice(0, CALLER_NAME_MAX)
    .join("")
    .trimEnd();
  if (config.dutyExtension !== "" && !isOpen(Date.now(), config)) {
    ctx.log.info("outside working hours: routing to the duty extension", { from: input.number, to: config.dutyExtension });
    return { number: config.dutyExtension, name };
  }
  return { name };
});
