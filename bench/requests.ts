import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "./paths.js";

/** One request of a load run: for which tenant, which hook, and the exact body bytes sent. */
export interface HookRequest {
  tenant: string;
  hook: string;
  body: string;
}

/** The path a request is posted to. */
export function hookPath(r: HookRequest): string {
  return `/v1/tenants/${r.tenant}/hooks/${r.hook}`;
}

/** Each request once for each tenant, the tenants taking turns. */
export function fromTenants(requests: HookRequest[], tenants: string[]): HookRequest[] {
  return requests.flatMap((r) => tenants.map((tenant) => ({ ...r, tenant })));
}

const STAGES = ["conversation_requested", "conversation_accepted", "conversation_ended", "call_ended"];
// The formats a client's number arrives in, and the cases the bench plugins treat differently:
// a blocked 8-800 number, a short internal number, and (below) a call on the gate's test trunk.
const PHONES = ["89213451807", "8 921 345-18-07", "+7 (921) 345-18-07", "79213451807", "9031186240", "88005553535", "201"];

/** process_client_phone's fixture in several variants (phone format, stage, trunk), rotated by a load run. */
export function clientPhoneRequests(): HookRequest[] {
  const base = fixture("process_client_phone");
  const variants: Record<string, any>[] = PHONES.map((phone, i) => ({ ...base, phone, call_stage: STAGES[i % STAGES.length] }));
  const onTestTrunk = structuredClone(base);
  onTestTrunk.call_full.channel.trunk.number = "74950000000";
  variants.push(onTestTrunk);
  return variants.map((input) => ({ tenant: "default", hook: "process_client_phone", body: JSON.stringify(input) }));
}

/** Every hook's fixture, as the connector sends it (0.5 to 5.7 KB). */
export function allHookRequests(): HookRequest[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".input.json"))
    .sort()
    .map((f) => ({ tenant: "default", hook: f.replace(".input.json", ""), body: JSON.stringify(fixture(f.replace(".input.json", ""))) }));
}

function fixture(hook: string): Record<string, any> {
  return JSON.parse(readFileSync(join(FIXTURES, `${hook}.input.json`), "utf8"));
}
