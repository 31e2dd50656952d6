// The code that runs first inside every isolate, before any plugin module. It is the only place
// that holds the host's References: they live in this closure and never reach plugin code, which
// sees plain sandbox-made functions (`defineHook`, `cancel`, `ctx.log.*`, capability methods).
//
// Evaluated with `context.evalClosure(BOOTSTRAP, [logRef, capRef, grantsJson, limitsJson, fixedJson])`
// (limits: see bootstrapLimits() in sandbox.ts; fixed: ctx's tenant, plugin and config JSON, or
// null). It returns the functions the host calls by Reference: `register(hook, fn)`,
// `run(sync, hook, inputPieces, overlayPieces, dataOnly, ...pieces)` (input, overlay and ctx JSON,
// or with dataOnly ctx.data's JSON alone, cut in pieces; the plugin gets `{ ...input, ...overlay }`),
// `answer(id, ...pieces)`, a capability call's answer, and for sync runs `poll()` and `late()`.
//
// A run is sync when the host calls it with applySync (in a lane process). It answers at once when
// the plugin's result is there by the end of that call, microtasks included (isolated-vm runs them
// before it returns); poll() hands over a result that settled in those microtasks. A plugin that
// awaits the host (a capability) is not done then: poll() answers null, and the host waits for
// late(), the promise of the answer, as for an async run. While the host is inside applySync, log
// lines and capability calls cross with applySync too: isolated-vm runs them inline on the host's
// thread, inside the run, so they carry its request id.
// Everything crossing the boundary is JSON text: strings, or arrays of string pieces under 1 KB
// (see pieces() in sandbox.ts); one copy in, one copy out per call.
//
// Plugin code shares this realm: it may replace String.prototype.slice, JSON, Map.prototype.get,
// Function.prototype.call or set Object.prototype.timeout. So every built-in used below is taken
// before plugin code runs, no method is looked up on a plugin-reachable object at call time, and
// the options handed to isolated-vm have no prototype.
export const BOOTSTRAP = String.raw`
const logRef = $0, capRef = $1, grants = JSON.parse($2), limits = JSON.parse($3), fixed = JSON.parse($4);
// uncurry(f)(self, ...args) is f.call(self, ...args), with both call and f fixed now
const uncurry = Function.prototype.bind.bind(Function.prototype.call);
const slice = uncurry(String.prototype.slice), toText = String;
const parse = JSON.parse, stringify = JSON.stringify;
const freeze = Object.freeze, define = Object.defineProperty, protoOf = Object.getPrototypeOf, hasOwn = Object.hasOwn;
const isArray = Array.isArray, plainProto = Object.prototype, objectTag = uncurry(Object.prototype.toString);
const isInstance = uncurry(Function.prototype[Symbol.hasInstance]), ErrorType = Error, TypeErrorType = TypeError;
const PromiseType = Promise, then = uncurry(Promise.prototype.then);
const mapGet = uncurry(Map.prototype.get), mapSet = uncurry(Map.prototype.set);
const weakAdd = uncurry(WeakSet.prototype.add), weakHas = uncurry(WeakSet.prototype.has);
const now = Date.now, min = Math.min;
const sendLog = uncurry(logRef.applyIgnored), sendCall = uncurry(capRef.applyIgnored);
const sendLogNow = uncurry(logRef.applySync), sendCallNow = uncurry(capRef.applySync);
// true while the host waits in applySync for this run (see the top of this file)
let inline = false;
function toHost(ref, args) {
  if (inline) (ref === logRef ? sendLogNow : sendCallNow)(ref, undefined, args);
  else (ref === logRef ? sendLog : sendCall)(ref, undefined, args);
}
const { maxResultChars, maxLogChars, maxFieldsChars, maxErrorChars, maxReasonChars, callsInFlight, maxArgsChars, logPerSecond, logBurst } = limits;
const crosses = { __proto__: null };
for (const level of limits.logLevels) crosses[level] = true;

// isolated-vm waits for a run's promise with then() and catch(), which look up "then",
// "constructor" and Symbol.species in this realm; so does every await below. Fixed, so that no
// plugin code runs in the middle of them.
define(Promise.prototype, "then", { writable: false, configurable: false });
define(Promise.prototype, "constructor", { writable: false, configurable: false });
define(Promise, Symbol.species, { configurable: false });

const cancels = new WeakSet();
const hooks = new Map();

function text(value, max) {
  try {
    const s = typeof value === "string" ? value : toText(value);
    return s.length > max ? slice(s, 0, max) + "…" : s;
  } catch { return "<unprintable>"; }
}
// Plugin code may throw anything (a Proxy, a getter that throws, a Symbol): never let describing
// it throw in turn.
function describe(e) {
  try {
    if (isInstance(ErrorType, e)) return text(text(e.name, 100) + ": " + text(e.message, maxErrorChars), maxErrorChars);
    if (typeof e === "symbol") return "a Symbol";
    return text("non-Error thrown: " + text(e, maxErrorChars), maxErrorChars);
  } catch { return "an unprintable value was thrown"; }
}
function errorAnswer(message) {
  return stringify({ __proto__: null, t: "error", message: text(message, maxErrorChars) });
}
// A plain loop, not slice/join: nothing a plugin does to Array.prototype can garble its own input.
function joined(parts, from, to = parts.length) {
  let s = "";
  for (let i = from; i < to; i++) s += parts[i];
  return s;
}
function fieldsJson(fields) {
  if (fields === undefined) return "";
  try { const s = stringify(fields); return typeof s === "string" && s.length <= maxFieldsChars ? s : ""; } catch { return ""; }
}

// The log rate limit acts here, before a line crosses: a loop of ctx.log calls costs the host
// nothing past the limit, and lines the host would not write (below its level) never cross.
// Dropped lines are counted and reported with the next line that crosses, or at the run's end.
let tokens = logBurst, filledAt = now(), dropped = 0;
function emit(level, message, fields) {
  if (crosses[level] !== true) return;
  if (logPerSecond !== null) {
    const t = now();
    tokens = min(logBurst, tokens + ((t - filledAt) * logPerSecond) / 1000);
    filledAt = t;
    if (tokens < 1) { dropped++; return; }
    tokens--;
  }
  const lost = dropped;
  dropped = 0;
  toHost(logRef, [lost, level, text(message, maxLogChars), fieldsJson(fields)]);
}
function reportDrops() {
  if (dropped === 0) return;
  const lost = dropped;
  dropped = 0;
  toHost(logRef, [lost]);
}
const log = freeze({
  debug: (m, f) => emit("debug", m, f),
  info: (m, f) => emit("info", m, f),
  warn: (m, f) => emit("warn", m, f),
  error: (m, f) => emit("error", m, f),
});

// A run may have callsInFlight capability calls in flight; past that a call is refused here,
// before it crosses. Calls left over from an earlier run do not count against the next one.
let runs = 0, inFlight = 0;
function ignore() {}
// A refusal is one rejected promise per method, made once: a flood of refused calls allocates
// nothing (no error, no stack, no promise each), and it has a handler already, since isolated-vm
// lists every rejection made without one and scans that list each time a handler is added later
// (thousands of refusals handled at once, as by Promise.allSettled, would cost their square).
function refusal(message) {
  let reject;
  const promise = new PromiseType((_, r) => { reject = r; });
  then(promise, undefined, ignore);
  reject(new ErrorType(message));
  return promise;
}
// Capability calls of the current run waiting for their answer, by id. The host hands each answer
// back through answer(), in a call timed to the run's deadline (see deliver() in sandbox.ts).
let waiting = { __proto__: null }, lastCall = 0;
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
    const label = "ctx." + name + "." + method;
    const refused = refusal(label + ": more than " + callsInFlight + " capability calls in flight in this run; await some before making more");
    api[method] = (...args) => (inFlight >= callsInFlight ? refused : send(name, method, label, args));
  }
  return freeze(api);
}
async function send(name, method, label, args) {
  // JSON turns a trailing undefined into null; an optional argument passed as undefined must
  // arrive omitted, as in set(key, value, undefined).
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  args.length = n;
  let json;
  try { json = stringify(args); } catch (e) { throw new TypeErrorType(label + ": arguments must be JSON values (" + describe(e) + ")"); }
  if (typeof json !== "string") throw new TypeErrorType(label + ": arguments must be JSON values");
  if (json.length > maxArgsChars) throw new TypeErrorType(label + ": the arguments are " + json.length + " characters as JSON; the limit is " + maxArgsChars);
  const mine = runs;
  inFlight++;
  const id = ++lastCall;
  const answered = new PromiseType((resolve) => { waiting[id] = resolve; });
  let reply;
  // the host hands the answer back through answer(), in a call timed to the run's deadline
  try { toHost(capRef, [id, name, method, json]); reply = await answered; }
  finally { if (mine === runs) inFlight--; }
  const settled = parse(reply);
  if (hasOwn(settled, "error")) throw new ErrorType(label + ": " + settled.error);
  return hasOwn(settled, "value") ? settled.value : undefined;
}
const capabilities = {};
for (const name of Object.keys(grants)) capabilities[name] = capability(name, grants[name]);

define(globalThis, "defineHook", { value: function defineHook(name, fn) {
  if (typeof fn !== "function") throw new TypeErrorType("defineHook(" + text(name, 64) + ", fn): fn must be a function");
  return fn;
}});
define(globalThis, "cancel", { value: function cancel(reason) {
  const c = freeze({ reason: reason === undefined ? "" : text(reason, maxReasonChars) });
  weakAdd(cancels, c);
  return c;
}});

function register(hook, fn) {
  if (typeof fn !== "function") throw new TypeErrorType("the default export of " + hook + " is not a function");
  mapSet(hooks, hook, fn);
}
// A sync run's answer once its result settles, and the promise of it (see the top of this file).
let lateAnswer = null, lateRun = null;
function run(sync, hook, inputPieces, overlayPieces, dataOnly, ...pieces) {
  runs++;
  inFlight = 0;
  // answers to an earlier run's calls are never delivered: forget those calls
  waiting = { __proto__: null };
  inline = sync;
  lateAnswer = null;
  lateRun = null;
  const answer = start(hook, inputPieces, overlayPieces, dataOnly, pieces);
  if (typeof answer === "string") {
    const out = ended(answer);
    return sync ? out : new PromiseType((resolve) => resolve(out));
  }
  const mine = runs;
  const done = then(answer, (a) => {
    if (mine !== runs) return a;
    lateAnswer = ended(a);
    return lateAnswer;
  });
  if (!sync) return done;
  lateRun = done;
  return null;
}
function ended(answer) {
  reportDrops();
  inline = false;
  return answer;
}
// The sync run's answer if its result settled in the microtasks of run(); else null, and the run
// goes on asynchronously: from now on the host is not inside applySync.
function poll() {
  if (lateAnswer !== null) return lateAnswer;
  inline = false;
  return null;
}
function late() {
  return lateRun;
}
// The answer as a string when the plugin's result is there at once; else the promise of it.
// Each JSON string arrives cut into pieces of under 1 KB (see pieces() in sandbox.ts).
function start(hook, inputPieces, overlayPieces, dataOnly, pieces) {
  let result;
  try {
    const inputJson = joined(pieces, 0, inputPieces);
    const overlayJson = joined(pieces, inputPieces, inputPieces + overlayPieces);
    const last = parse(joined(pieces, inputPieces + overlayPieces));
    // the config is parsed for every run: what a plugin changes in it never reaches the next run
    const c = dataOnly ? { tenant: fixed.tenant, hook, plugin: fixed.plugin, config: parse(fixed.configJson), data: last } : last;
    // spread defines own properties: no setter a plugin put on Object.prototype is called
    const ctx = { tenant: c.tenant, hook: c.hook, plugin: c.plugin, config: c.config, data: c.data, log, ...capabilities };
    const input = overlayJson === "{}" ? parse(inputJson) : { ...parse(inputJson), ...parse(overlayJson) };
    result = mapGet(hooks, hook)(input, freeze(ctx));
    // taken up as await would: a thenable's then() is plugin code, and runs inside the run
    if (thenable(result)) return then(new PromiseType((resolve) => resolve(result)), finish, failed);
  } catch (e) { return failed(e); }
  return finish(result);
}
function thenable(value) {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return false;
  return typeof value.then === "function";
}
function failed(e) {
  return errorAnswer(describe(e));
}
function finish(result) {
  if (result === undefined || result === null) return '{"t":"skip"}';
  if (weakHas(cancels, result)) return stringify({ __proto__: null, t: "cancel", reason: result.reason });
  // A Map or Set would serialize as {} and a class instance as its fields: a bug, not data.
  try {
    const proto = typeof result === "object" && !isArray(result) ? protoOf(result) : null;
    if (proto !== null && proto !== plainProto) {
      return errorAnswer("the result must be a plain object, an array or a JSON value, not " + text(objectTag(result), 100));
    }
  } catch (e) { return errorAnswer("the result cannot be inspected: " + describe(e)); }
  let out;
  try { out = stringify(result); }
  catch (e) { return errorAnswer("the result is not JSON-serializable: " + describe(e)); }
  if (typeof out !== "string") return errorAnswer("the result is not a JSON value");
  if (out.length > maxResultChars) return errorAnswer("the result is larger than " + maxResultChars + " characters");
  return '{"t":"ok","v":' + out + "}";
}
return [register, run, answer, poll, late];
`;
