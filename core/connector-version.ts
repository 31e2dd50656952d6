// Which Itgrix connector a tenant runs: it decides what an empty answer means. 3.10 is the
// documented version; request cancellation (an empty `data` skips the CRM request) came in 3.13.
import { z } from "zod";

export const DEFAULT_CONNECTOR_VERSION = "3.10";
const CANCELLATION_SINCE: Version = [3, 13];
// call_full, which every hook but two requires, came in 3.10.
const OLDEST: Version = [3, 10];

type Version = [major: number, minor: number];

function parse(version: string): Version {
  const [major, minor] = version.split(".").map(Number);
  return [major!, minor!];
}

function atLeast(version: string, than: Version): boolean {
  const [major, minor] = parse(version);
  return major !== than[0] ? major > than[0] : minor >= than[1];
}

export const connectorVersionSchema = z
  .string()
  .regex(/^\d{1,3}\.\d{1,3}(\.\d{1,4})?$/, 'must be the connector\'s version, e.g. "3.10" or "3.13.2"')
  .refine((v) => atLeast(v, OLDEST), "hookhost serves connector 3.10 and later (call_full came in 3.10)");

/** Whether this connector skips a CRM request when a hook answers an empty `data`. */
export function cancelsRequests(version: string): boolean {
  return atLeast(version, CANCELLATION_SINCE);
}
