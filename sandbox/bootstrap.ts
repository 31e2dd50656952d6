// The code that runs first inside every isolate, before any plugin module. It is the only place
// that holds the host's References: they live in this closure and never reach plugin code, which
// sees plain sandbox-made functions (`defineHook`, `cancel`, `ctx.log.*`, capability methods).
//
// Evaluated with `context.evalClosure(BOOTSTRAP, [logRef, capRef, grantsJson, maxResultChars])`.
// It returns three functions the host calls by Reference: `register(hook, fn)`,
// `run(hook, inputPieces, overlayPieces, ...pieces)` (input, overlay and ctx JSON, cut in pieces;
// the plugin gets `{ ...input, ...overlay }`) and `answer(id, ...pieces)`, a capability call's answer.
// Everything crossing the boundary is JSON text: strings, or arrays of string pieces under 1 KB
// (see pieces() in sandbox.ts); one copy in, one copy out per call.
export const BOOTSTRAP = String.raw`
const logRef = $0, capRef = $1, grants = JSON.parse($2), maxResultChars = $3;
const parse = JSON.parse, stringify = JSON.stringify, freeze = Object.freeze, define = Object.defineProperty;
const protoOf = Object.getPrototypeOf, isArray = Array.isArray, plainProto = Object.prototype, create = Object.create, Answered = Promise;
const cancels = new WeakSet();
const hooks = new Map();

function text(value, max) {
  try {
    const s = typeof value === "string" ? value : String(value);
    return s.length > max ? s.slice(0, max) + "…" : s;
  } catch { return "<unprintable>"; }
}
// Plugin code may throw anything (a Proxy, a getter that throws, a Symbol): never let describing
// it throw in turn.
function describe(e) {
  try {
    if (e instanceof Error) return text(e.name, 100) + ": " + text(e.message, 2000);
    if (typeof e === "symbol") return "a Symbol";
    return "non-Error thrown: " + text(e, 2000);
  } catch { return "an unprintable value was thrown"; }
}
const objectTag = Function.prototype.call.bind(Object.prototype.toString);
// A plain loop, not slice/join: nothing a plugin does to Array.prototype can garble its own input.
function joined(parts, from, to = parts.length) {
  let s = "";
  for (let i = from; i < to; i++) s += parts[i];
  return s;
}
function fieldsJson(fields) {
  if (fields === undefined) return "";
  try { const s = stringify(fields); return typeof s === "string" && s.length <= 16384 ? s : ""; } catch { return ""; }
}
const log = freeze({
  debug: (m, f) => { logRef.applyIgnored(undefined, ["debug", text(m, 4096), fieldsJson(f)]); },
  info: (m, f) => { logRef.applyIgnored(undefined, ["info", text(m, 4096), fieldsJson(f)]); },
  warn: (m, f) => { logRef.applyIgnored(undefined, ["warn", text(m, 4096), fieldsJson(f)]); },
  error: (m, f) => { logRef.applyIgnored(undefined, ["error", text(m, 4096), fieldsJson(f)]); },
});
// Capability calls of the current run waiting for their answer, by id. The host hands each answer
// back through answer(), in a call timed to the run's deadline (see deliver() in sandbox.ts).
let waiting = create(null), lastCall = 0;
// The answer's JSON arrives in pieces under 1 KB, like the input (see pieces() in sandbox.ts).
function answer(id, ...parts) {
  const resolve = waiting[id];
  if (resolve === undefined) return;
  delete waiting[id];
  resolve(joined(parts, 0));
}
// One sandbox-side wrapper per granted capability method; the arguments leave as one JSON string,
// so no getter, Proxy, function or cycle ever reaches the host.
function capability(name, methods) {
  const api = {};
  for (const method of methods) {
    api[method] = async (...args) => {
      // JSON turns a trailing undefined into null; an optional argument passed as undefined must
      // arrive omitted, as in set(key, value, undefined).
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      let json;
      try { json = stringify(args); } catch (e) { throw new TypeError("ctx." + name + "." + method + ": arguments must be JSON values (" + describe(e) + ")"); }
      const id = ++lastCall;
      const answered = new Answered((resolve) => { waiting[id] = resolve; });
      capRef.applyIgnored(undefined, [id, name, method, json]);
      const reply = parse(await answered);
      if (reply.error !== undefined) throw new Error("ctx." + name + "." + method + ": " + reply.error);
      return reply.value;
    };
  }
  return freeze(api);
}
const capabilities = {};
for (const name of Object.keys(grants)) capabilities[name] = capability(name, grants[name]);

define(globalThis, "defineHook", { value: function defineHook(name, fn) {
  if (typeof fn !== "function") throw new TypeError("defineHook(" + text(name, 64) + ", fn): fn must be a function");
  return fn;
}});
define(globalThis, "cancel", { value: function cancel(reason) {
  const c = freeze({ reason: reason === undefined ? "" : text(reason, 1000) });
  cancels.add(c);
  return c;
}});

function register(hook, fn) {
  if (typeof fn !== "function") throw new TypeError("the default export of " + hook + " is not a function");
  hooks.set(hook, fn);
}
// Each JSON string arrives cut into pieces of under 1 KB (see pieces() in sandbox.ts).
async function run(hook, inputPieces, overlayPieces, ...pieces) {
  // answers to an earlier run's calls are never delivered: forget those calls
  waiting = create(null);
  const inputJson = joined(pieces, 0, inputPieces);
  const overlayJson = joined(pieces, inputPieces, inputPieces + overlayPieces);
  const c = parse(joined(pieces, inputPieces + overlayPieces));
  const ctx = { tenant: c.tenant, hook: c.hook, plugin: c.plugin, config: c.config, data: c.data, log };
  for (const name of Object.keys(capabilities)) ctx[name] = capabilities[name];
  let result;
  try {
    const input = overlayJson === "{}" ? parse(inputJson) : { ...parse(inputJson), ...parse(overlayJson) };
    result = await hooks.get(hook)(input, freeze(ctx));
  }
  catch (e) { return stringify({ t: "error", message: describe(e) }); }
  if (result === undefined || result === null) return '{"t":"skip"}';
  if (cancels.has(result)) return stringify({ t: "cancel", reason: result.reason });
  // A Map or Set would serialize as {} and a class instance as its fields: a bug, not data.
  try {
    const proto = typeof result === "object" && !isArray(result) ? protoOf(result) : null;
    if (proto !== null && proto !== plainProto) {
      return stringify({ t: "error", message: "the result must be a plain object, an array or a JSON value, not " + text(objectTag(result), 100) });
    }
  } catch (e) { return stringify({ t: "error", message: "the result cannot be inspected: " + describe(e) }); }
  let out;
  try { out = stringify(result); }
  catch (e) { return stringify({ t: "error", message: "the result is not JSON-serializable: " + describe(e) }); }
  if (typeof out !== "string") return '{"t":"error","message":"the result is not a JSON value"}';
  if (out.length > maxResultChars) return stringify({ t: "error", message: "the result is larger than " + maxResultChars + " characters" });
  return '{"t":"ok","v":' + out + "}";
}
return [register, run, answer];
`;
