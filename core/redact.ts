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
  const keys = new Map(rules.filter((r) => r.key !== undefined).map((r) => [r.key!, r]));
  const paths = rules.filter((r) => r.path !== undefined).map((r) => ({ rule: r, segments: r.path!.split(".") }));
  // The keys from the root to the value being walked; kept only when a rule names a path.
  const trail: string[] = [];
  const byPath = (depth: number): RedactRule | undefined => {
    for (const { rule, segments } of paths) {
      if (segments.length !== depth + 1) continue;
      let i = 0;
      while (i <= depth && (segments[i] === "*" || segments[i] === trail[i])) i++;
      if (i > depth) return rule;
    }
    return undefined;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== "object") return v;
    const array = Array.isArray(v);
    const out: Record<string, unknown> | unknown[] = array ? new Array(v.length) : {};
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      const child = (v as Record<string, unknown>)[k];
      let rule = array ? undefined : keys.get(k);
      if (!rule && paths.length) {
        trail[depth] = k;
        rule = byPath(depth);
      }
      (out as Record<string, unknown>)[k] = rule ? mask(child, rule) : walk(child, depth + 1);
    }
    return out;
  };
  return walk(value, 0);
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
