// Keeps some calls out of Bitrix24: calls of black-listed extensions (a warehouse, a fax, test
// phones), calls of extensions off the white list (when one is given), and every call through an
// ignored trunk (a test or partner line). Everything comes from config, so one copy of the
// plugin serves tenants with different lists (host config `tenants.<id>.config.call-filter`).
//
//   "blacklist": ["555-559", "290"]   never register these extensions
//   "whitelist": ["201-209"]          register only these (empty: every extension)
//   "ignoredTrunks": ["74951234567"]  never register calls through these trunks
import { extensionsOf } from "./lib/call.js";
import { parseExtensionList, parseTrunks } from "./lib/extensions.js";

export default defineHook("need_registration", (input, ctx) => {
  const blacklist = parseExtensionList(ctx.config["blacklist"], "call-filter: config.blacklist");
  const whitelist = parseExtensionList(ctx.config["whitelist"], "call-filter: config.whitelist");
  const ignoredTrunks = parseTrunks(ctx.config["ignoredTrunks"], "call-filter: config.ignoredTrunks");

  const call = input.call_full;
  const trunk = call.channel.trunk.number;
  if (ignoredTrunks.includes(trunk)) {
    ctx.log.info("not registering: ignored trunk", { trunk, call: call.channel.id });
    return { result: false };
  }
  const extensions = extensionsOf(call);
  // A call missed on the IVR rang nobody: the extension lists have nothing to judge.
  if (extensions.length === 0) return { result: true };
  const allowed = (ext: string) => !blacklist.has(ext) && (whitelist.empty || whitelist.has(ext));
  if (extensions.some(allowed)) return { result: true };
  ctx.log.info("not registering: extension filtered", { extensions, call: call.channel.id });
  return { result: false };
});
