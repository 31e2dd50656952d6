// What a stock connector installation does in process_record_file_path: convert the recording to
// mp3 before upload (it saves the portal's disk space and plays in the CRM's own player). hookhost
// does it after the tenant's plugins, on the path they left, with what is left of the 9 s budget;
// on any failure the path stays as it was, so the connector uploads the original file.
import type { ChainStep } from "./chain.js";
import type { Tenant } from "./tenants.js";
import type { Capability, RunOutcome } from "../sandbox/index.js";

/** Its name in traces and metrics: the colon keeps it apart from every plugin name. */
export const STOCK_MP3 = "stock:mp3";

/** The stock conversion for this tenant, or nothing when it is switched off or has no records folder. */
export function stockRecordStep(tenant: Tenant, records: Capability): ChainStep | undefined {
  const recordsDir = tenant.recordsDir;
  if (!tenant.convertRecords || !recordsDir) return undefined;
  return {
    plugin: STOCK_MP3,
    timeoutMs: Infinity, // the chain's budget is its only limit
    async run(_input, _overlay, data, deadline): Promise<RunOutcome> {
      const path = data.file_path;
      // Asterisk records .wav; anything else (a plugin's mp3, another format) is left as it is.
      if (typeof path !== "string" || !/\.wav$/i.test(path)) return { status: "skip" };
      const call = { tenant: tenant.id, plugin: STOCK_MP3, hook: "process_record_file_path", recordsDir, allowHosts: [], deadline, signal: new AbortController().signal, run: {} };
      try {
        const mp3 = await records.convert!(call, [path, { format: "mp3" }]);
        return { status: "ok", value: { file_path: mp3 } };
      } catch (e) {
        const error = `recording not converted, the original is uploaded: ${e instanceof Error ? e.message : String(e)}`;
        return { status: Date.now() >= deadline - 50 ? "timeout" : "error", error };
      }
    },
  };
}
