// crm-fields' settings, checked once per call so a typo in plugin.json or in a tenant's override
// fails loudly (the host logs and traces the error) instead of writing odd values into the CRM.

export interface CrmFieldsConfig {
  /** Trunk numbers whose calls get a high-priority activity (the 8-800 sales line). */
  highPriorityLines: string[];
  /** The lead/contact field that gets the call's start time; custom fields are named per portal. "" = off. */
  lastCallField: string;
  /** The PBX's offset from UTC: call_full times are the PBX's local time without a zone. */
  utcOffset: string;
}

export function readConfig(config: Record<string, unknown>): CrmFieldsConfig {
  const lines = config["highPriorityLines"] ?? [];
  if (!Array.isArray(lines) || !lines.every((l): l is string => typeof l === "string")) {
    throw new Error(`crm-fields: config.highPriorityLines must be a list of trunk numbers, got ${JSON.stringify(lines)}`);
  }
  const field = config["lastCallField"] ?? "";
  if (typeof field !== "string" || (field !== "" && !/^UF_CRM_\w+$/.test(field))) {
    throw new Error(`crm-fields: config.lastCallField must be a custom field name like "UF_CRM_LAST_CALL" or "", got ${JSON.stringify(field)}`);
  }
  const offset = config["utcOffset"] ?? "+03:00";
  if (typeof offset !== "string" || !/^[+-](0\d|1[0-4]):[0-5]\d$/.test(offset)) {
    throw new Error(`crm-fields: config.utcOffset must look like "+03:00", got ${JSON.stringify(offset)}`);
  }
  return { highPriorityLines: lines, lastCallField: field, utcOffset: offset };
}
