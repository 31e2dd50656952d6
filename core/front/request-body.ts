import type Koa from "koa";
import { HttpError } from "./errors.js";

/** A path segment as the client meant it; one that does not decode stays as sent (and matches nothing). */
export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Reads the body with a hard size cap (413 before parsing, `tooLarge` says what the cap is) and
 * insists on a JSON object (400); an empty body is `{}` when `emptyIs` says so. Gives the object
 * and the text it was parsed from.
 */
export async function readJsonObject(ctx: Koa.Context, limitBytes: number, tooLarge: string, emptyIs?: "empty-object"): Promise<{ value: Record<string, unknown>; json: string }> {
  const declared = Number(ctx.get("content-length"));
  if (declared > limitBytes) throw new HttpError(413, "too_large", tooLarge);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new HttpError(413, "too_large", tooLarge);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (emptyIs && !text.trim()) return { value: {}, json: "{}" };
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new HttpError(400, "bad_json", `body nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "bad_json", `body is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "bad_json", "body must be a JSON object");
  return { value: value as Record<string, unknown>, json: text };
}

/** Deepest nesting of arrays and objects a body may have: the connector's inputs use about 5. */
export const MAX_JSON_DEPTH = 64;

// Copying, validating and logging a value all recurse; a body nested deeper than the stack would
// fail in any of them. One pass over the text before parsing, cheaper than the parse: brackets
// inside strings do not count, and a string is skipped in one jump to its closing quote.
function nestingExceeds(json: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = json.indexOf('"', i + 1);
        if (i === -1) return false; // unterminated: JSON.parse names that
        let backslashes = 0;
        while (json.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
