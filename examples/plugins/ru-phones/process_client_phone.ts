// Brings the client's number to one form before the connector searches the CRM with it, so a
// client calling as "89213451807" and one saved as "+7 (921) 345-18-07" are found as the same.
//
// There is deliberately no process_user_phone here: employee numbers are extensions ("202") and
// FMC mobiles that the connector matches against Bitrix24 profiles and fmc_patterns.txt itself;
// rewriting them to +7 would break that match.
import { formatFromConfig, normaliseRussian } from "./lib/phones.js";

export default defineHook("process_client_phone", (input, ctx) => {
  const phone = normaliseRussian(input.phone, formatFromConfig(ctx.config));
  // Nothing to say for extensions, foreign numbers and numbers already in shape.
  if (phone === null || phone === input.phone) return undefined;
  return { phone };
});
