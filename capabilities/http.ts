// `ctx.http.fetch(url, init)`: an HTTP(S) request from a hook script (typically Bitrix24 REST) to
// one of the plugin's `allowHosts`. Every hop, redirects included, is checked the same way: scheme,
// exact host name, and every address the name resolves to; the connection then goes to the address
// that was checked, so a second DNS answer (rebinding) cannot redirect it.
import http from "node:http";
import https from "node:https";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import { pipeline, type Readable } from "node:stream";
import zlib from "node:zlib";
import { z } from "zod";
import { isLoopbackAddress, isPrivateAddress } from "./address.js";
import { CapabilityError, type Capability, type CapabilityCall } from "../sandbox/capability.js";

export const MAX_RESPONSE_BYTES = 1024 * 1024;
const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;

/** Every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<string[]>;

export interface HttpCapabilityOptions {
  /** Replaces the system resolver (tests play DNS with it). */
  resolve?: Resolver;
}

export interface FetchResult {
  status: number;
  headers: Record<string, string>;
  text: string;
  json?: unknown;
}

const systemResolve: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

// Framing and routing are the host's business; a script setting them could smuggle requests.
const refusedHeaders = new Set([
  "host", "connection", "content-length", "transfer-encoding",
  "keep-alive", "upgrade", "te", "trailer", "expect", "proxy-connection",
]);
// Dropped with the body when a redirect turns the request into a GET.
const bodyHeaders = new Set(["content-type", "content-encoding", "content-language", "content-location"]);
// Dropped when a redirect leaves the origin, so a credential only goes where the script sent it.
const credentialHeaders = new Set(["authorization", "cookie", "proxy-authorization"]);

const headersSchema = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    const problem = headerProblem(name, value);
    if (problem) ctx.addIssue({ code: "custom", message: `header "${name}" ${problem}` });
  }
});

function headerProblem(name: string, value: string): string | undefined {
  if (refusedHeaders.has(name.toLowerCase())) return "is set by the host and cannot be given";
  try {
    http.validateHeaderName(name);
  } catch {
    return "is not a valid header name";
  }
  try {
    http.validateHeaderValue(name, value);
  } catch {
    return "has a value with characters not allowed in a header";
  }
  return undefined;
}

const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;

const initSchema = z
  .strictObject({
    method: z.string().transform((m) => m.toUpperCase()).pipe(z.enum(methods)).optional(),
    headers: headersSchema.optional(),
    body: z
      .union([z.string(), z.array(z.json()), z.record(z.string(), z.json())], {
        error: "must be a string or a JSON object or array",
      })
      .optional(),
  })
  .refine((init) => init.body === undefined || !["GET", "HEAD"].includes(init.method ?? "GET"), {
    path: ["body"],
    message: "a GET or HEAD request cannot have a body",
  });

const argsSchema = z.tuple([z.string({ error: "must be a string" }), initSchema.optional()], {
  error: "expected fetch(url, init?)",
});

type Init = z.infer<typeof initSchema>;

interface Outgoing {
  method: (typeof methods)[number];
  headers: Record<string, string>;
  body?: Buffer;
}

/** A URL that passed every check, with the addresses it may connect to. */
interface Target {
  url: URL;
  /** Host name as in the URL, without IPv6 brackets. */
  host: string;
  /** Every address the host resolved to, all checked; connections go only to these. */
  addresses: string[];
}

export function createHttpCapability(options: HttpCapabilityOptions = {}): Capability {
  const resolve = options.resolve ?? systemResolve;
  return { fetch: (call, args) => fetchWithinLimits(call, args, resolve) };
}

async function fetchWithinLimits(call: CapabilityCall, args: unknown[], resolve: Resolver): Promise<FetchResult> {
  const parsed = argsSchema.safeParse(args);
  if (!parsed.success) throw new CapabilityError(`http.fetch: ${describeIssues(parsed.error)}`);
  const [rawUrl, init] = parsed.data;
  let outgoing = buildOutgoing(init ?? {});
  const allowed = new Set(call.allowHosts.map(normaliseHost));
  const url = parseUrl(rawUrl);

  const budget = timeBudget(call);
  let host = unbracket(url.hostname);
  try {
    let target = await checkTarget(url, allowed, resolve, budget.signal, false);
    for (let redirects = 0; ; redirects++) {
      host = target.host;
      const response = await send(target, outgoing, budget.signal);
      const location = response.headers.location;
      if (!isRedirect(response.statusCode) || location === undefined) return await readResponse(response, host);
      response.destroy();
      if (redirects === MAX_REDIRECTS) throw new CapabilityError(`request to ${host} made more than ${MAX_REDIRECTS} redirects`);
      const next = await checkTarget(parseRedirect(location, target), allowed, resolve, budget.signal, true);
      outgoing = redirectedOutgoing(outgoing, response.statusCode!, target.url.origin !== next.url.origin);
      target = next;
    }
  } catch (error) {
    if (budget.signal.aborted) throw new CapabilityError(`request to ${host} did not finish within the hook's time limit`);
    if (error instanceof CapabilityError) throw error;
    throw new CapabilityError(`request to ${host} failed: ${(error as Error).message}`);
  } finally {
    budget.dispose();
  }
}

function buildOutgoing(init: Init): Outgoing {
  const headers = { ...init.headers };
  let body: Buffer | undefined;
  if (typeof init.body === "string") body = Buffer.from(init.body);
  else if (init.body !== undefined) {
    body = Buffer.from(JSON.stringify(init.body));
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json";
    }
  }
  if (body && body.length > MAX_REQUEST_BODY_BYTES) {
    throw new CapabilityError(`http.fetch: init.body is ${body.length} bytes, over the ${MAX_REQUEST_BODY_BYTES}-byte limit`);
  }
  return { method: init.method ?? "GET", headers, body };
}

function isRedirect(status: number | undefined): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function redirectedOutgoing(previous: Outgoing, status: number, crossOrigin: boolean): Outgoing {
  const toGet = (status === 303 && previous.method !== "HEAD") || ((status === 301 || status === 302) && previous.method === "POST");
  const drop = (name: string) => (toGet && bodyHeaders.has(name)) || (crossOrigin && credentialHeaders.has(name));
  const headers = Object.fromEntries(Object.entries(previous.headers).filter(([name]) => !drop(name.toLowerCase())));
  return toGet ? { method: "GET", headers } : { ...previous, headers };
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new CapabilityError(`http.fetch: url "${raw.slice(0, 200)}" is not a valid absolute URL`);
  }
}

function parseRedirect(location: string, from: Target): URL {
  try {
    return new URL(location, from.url);
  } catch {
    throw new CapabilityError(`request to ${from.host} redirected to an invalid URL "${location.slice(0, 200)}"`);
  }
}

async function checkTarget(url: URL, allowed: Set<string>, resolve: Resolver, signal: AbortSignal, redirected: boolean): Promise<Target> {
  const what = redirected ? "redirect to" : "url";
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CapabilityError(`http.fetch: ${what} uses ${url.protocol} (only http: and https: are allowed)`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new CapabilityError(`http.fetch: ${what} has credentials before the host; they are not allowed`);
  }
  const host = unbracket(url.hostname);
  if (!allowed.has(host)) {
    throw new CapabilityError(redirected ? `redirect to ${host} is not in allowHosts` : `host ${host} is not in allowHosts`);
  }
  // A listed IP literal is the explicit grant the contract asks for; no lookup is involved.
  if (isIP(host) !== 0) return { url, host, addresses: [host] };

  const addresses = await untilAborted(resolve(host), signal).catch((error: NodeJS.ErrnoException) => {
    if (signal.aborted) throw error;
    throw new CapabilityError(`cannot resolve ${host}: ${error.code ?? error.message}`);
  });
  if (addresses.length === 0) throw new CapabilityError(`cannot resolve ${host}: no addresses`);
  for (const address of addresses) {
    const refused = host === "localhost" ? !isLoopbackAddress(address) : isPrivateAddress(address);
    if (refused) {
      throw new CapabilityError(
        `${host} resolves to ${address}, a private or loopback address; only a listed IP address or "localhost" may reach one`,
      );
    }
  }
  return { url, host, addresses };
}

/** Connects to the checked addresses whatever the name resolves to by now; TLS and Host still use the name. */
function send(target: Target, outgoing: Outgoing, signal: AbortSignal): Promise<http.IncomingMessage> {
  const checked = target.addresses.map((address) => ({ address, family: isIP(address) }));
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, checked);
    else callback(null, checked[0]!.address, checked[0]!.family);
  };
  const client = target.url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target.url,
      { method: outgoing.method, headers: outgoing.headers, lookup: pinned, agent: false, signal },
      resolve,
    );
    request.on("error", reject);
    request.end(outgoing.body);
  });
}

// A compressed body (a script may send Accept-Encoding) is decoded as a browser's fetch would.
const decoders: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

async function readResponse(response: http.IncomingMessage, host: string): Promise<FetchResult> {
  const encoding = (response.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decoder = encoding === "identity" ? undefined : decoders[encoding];
  if (encoding !== "identity" && !decoder) {
    response.destroy();
    throw new CapabilityError(`response from ${host} uses content-encoding "${encoding.slice(0, 50)}", which http.fetch cannot decode (gzip, deflate and br can be)`);
  }
  // pipeline, not pipe: an aborted or failed response must end the decoder's stream too
  const body: Readable = decoder ? pipeline(response, decoder(), () => {}) : response;
  const tooBig = () => {
    response.destroy();
    body.destroy();
    // the limit holds for the decoded body too, so a small compressed bomb cannot get past it
    return new CapabilityError(`response from ${host} is over the ${MAX_RESPONSE_BYTES}-byte limit${decoder ? " once decoded" : ""}`);
  };
  if (Number(response.headers["content-length"]) > MAX_RESPONSE_BYTES) throw tooBig();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) throw tooBig();
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof CapabilityError || !decoder || response.errored) throw error;
    response.destroy();
    throw new CapabilityError(`response from ${host} could not be decoded as ${encoding}: ${(error as Error).message}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(response.headersDistinct)) headers[name] = values!.join(", ");
  const text = Buffer.concat(chunks).toString("utf8");
  const result: FetchResult = { status: response.statusCode!, headers, text };
  try {
    result.json = JSON.parse(text);
  } catch {
    // Not JSON: the script gets `text` only.
  }
  return result;
}

/** Aborts at the hook's deadline or when the run ends early, whichever comes first. */
function timeBudget(call: CapabilityCall): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  // setTimeout fires at once for delays over 2^31-1 ms; no hook runs that long anyway.
  const timer = setTimeout(abort, Math.min(Math.max(0, call.deadline - Date.now()), 2 ** 31 - 1));
  call.signal.addEventListener("abort", abort, { once: true });
  if (call.signal.aborted) abort();
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      call.signal.removeEventListener("abort", abort);
    },
  };
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** allowHosts entries compare like URL host names: lower case, IPv6 in canonical form without brackets. */
function normaliseHost(entry: string): string {
  const host = unbracket(entry.toLowerCase());
  return isIP(host) === 6 ? unbracket(new URL(`http://[${host}]`).hostname) : host;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const [first, ...rest] = issue.path;
      const where = first === undefined ? "arguments" : [first === 0 ? "url" : "init", ...rest.map(String)].join(".");
      return `${where}: ${issue.message}`;
    })
    .join("; ");
}
