import { z } from "zod";

/**
 * One redaction rule (config `redact`): which values, and how they are masked. `key` matches a
 * property of that name at any depth; `path` a dot path from the root of each stored value, where
 * `*` matches any key or index.
 */
export const redactRuleSchema = z
  .strictObject({
    key: z.string().min(1).max(200).optional(),
    path: z.string().min(1).max(1000).optional(),
    // digits: every digit but the last `keep` becomes "*"; all: the whole value becomes "[redacted]"
    mask: z.enum(["digits", "all"]),
    keep: z.int().min(0).max(20).default(2),
  })
  .refine((r) => (r.key === undefined) !== (r.path === undefined), { message: "give either key or path" });

export type RedactRule = z.infer<typeof redactRuleSchema>;

/** A copy of `value` with the rules applied; the original is left as it was. */
export function redact(value: unknown, rules: readonly RedactRule[]): unknown {
  if (!rules.length) return copy(value);
  const paths = rules.filter((r) => r.path !== undefined).map((r) => ({ rule: r, segments: r.path!.split(".") }));
  const keys = new Map(rules.filter((r) => r.key !== undefined).map((r) => [r.key!, r]));
  const walk = (v: unknown, trail: string[]): unknown => {
    if (v === null || typeof v !== "object") return v;
    const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
    for (const [k, child] of Object.entries(v)) {
      const here = [...trail, k];
      const rule = keys.get(k) ?? paths.find((p) => p.segments.length === here.length && p.segments.every((s, i) => s === "*" || s === here[i]))?.rule;
      (out as Record<string, unknown>)[k] = rule ? mask(child, rule) : walk(child, here);
    }
    return out;
  };
  return walk(value, []);
}

function mask(value: unknown, rule: RedactRule): unknown {
  if (rule.mask === "all") return "[redacted]";
  if (typeof value === "string" || typeof value === "number") return maskDigits(String(value), rule.keep);
  if (Array.isArray(value)) return value.map((v) => mask(v, rule));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, rule)]));
  return value;
}

function maskDigits(text: string, keep: number): string {
  let shown = keep;
  const chars = [...text];
  for (let i = chars.length - 1; i >= 0; i--) {
    if (chars[i] < "0" || chars[i] > "9") continue;
    if (shown > 0) shown--;
    else chars[i] = "*";
  }
  return chars.join("");
}

function copy(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
