import { z } from "zod";
import { HOOK_NAMES, type HookName } from "./hooks.js";
import { idSchema } from "./names.js";

const hookTimeouts = Object.fromEntries(HOOK_NAMES.map((h) => [h, z.int().min(1).max(60_000).optional()])) as Record<
  HookName,
  z.ZodOptional<z.ZodInt>
>;

/** plugin.json (CONTRACT §3). Strict: a misspelt field is an error naming it, never silently ignored. */
export const manifestSchema = z
  .strictObject({
    name: idSchema.optional(),
    priority: z.int().min(-1_000_000).max(1_000_000).default(100),
    tenants: z.union([z.literal("*"), z.array(idSchema).min(1)]).default("*"),
    enabled: z.boolean().default(true),
    timeouts: z.strictObject(hookTimeouts).default({}),
    memoryMb: z.int().min(8).max(4096).optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    records: z.boolean().default(false),
    allowHosts: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.:[\]-]+$/, "must be a bare host name or IP address")).default([]),
    store: z.boolean().default(false),
    // A candidate version of another plugin (README "Roll-out"): it never answers as itself.
    candidateOf: idSchema.optional(),
    mode: z.enum(["shadow", "canary"]).optional(),
    percent: z.number().min(0).max(100).optional(),
  })
  .superRefine((m, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (m.candidateOf === undefined) {
      if (m.mode !== undefined) problem("mode", "only a candidate has a mode: add candidateOf (the plugin it is a candidate of)");
      if (m.percent !== undefined) problem("percent", "only a canary candidate has a percent: add candidateOf and \"mode\": \"canary\"");
      return;
    }
    if (m.mode === undefined) problem("mode", 'a candidate needs a mode: "shadow" or "canary"');
    if (m.mode === "canary" && m.percent === undefined) problem("percent", "a canary needs the percent of calls it answers (0–100)");
    if (m.mode === "shadow" && m.percent !== undefined) problem("percent", "a shadow runs on every call: percent is for canaries");
  });

export type Manifest = z.infer<typeof manifestSchema> & { name: string };

/** Whether the plugin serves this tenant (plugin.json `tenants`). */
export function servesTenant(manifest: Pick<Manifest, "tenants">, tenant: string): boolean {
  return manifest.tenants === "*" || manifest.tenants.includes(tenant);
}
