import { z } from "zod";

// Tenant ids and plugin names share one pattern (CONTRACT §2): safe in URLs, logs, and store keys.
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const ID_RULE = `must match ${ID_PATTERN.source}`;
export const idSchema = z.string().regex(ID_PATTERN, ID_RULE);

/** zod issues as "path: reason" lines, the form every config and manifest error is reported in. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    // a bad record key ("Invalid key in record") carries the key schema's own reason inside
    const inner = issue.code === "invalid_key" ? issue.issues.map((i) => i.message).join("; ") : "";
    return `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}${inner ? ` (${inner})` : ""}`;
  });
}
