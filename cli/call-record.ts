// The call record `hookhost simulate` replays: one call as the PBX and the CRM saw it, in a form a
// person can write by hand. docs/simulate.md describes every field; examples/calls/ has four.
import { readJsonFile } from "../core/json-file.js";
import { z } from "zod";
import { formatIssues } from "../core/names.js";

const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const dateTime = z.string().regex(DATE_TIME, 'must be "YYYY-MM-DD HH:MM:SS" (the PBX\'s local time)');
const uniqueid = z.string().regex(/^\d+\.\d+$/, 'must be an Asterisk uniqueid "<unix>.<seq>"');

const userSchema = z.strictObject({
  id: z.int().positive(),
  name: z.string(),
  email: z.string().default(""),
  position: z.string().default(""),
  phones: z.array(z.string()).default([]),
});

const entitySchema = <const T extends readonly [string, ...string[]]>(types: T) =>
  z.strictObject({
    id: z.string().regex(/^\d+$/, "must be the numeric id as a string"),
    type: z.enum(types),
    name: z.string(),
    is_new: z.boolean().default(false),
    phones: z.array(z.string()).default([]),
    raw: z.record(z.string(), z.unknown()).default({}),
    responsible: userSchema,
    // derived from responsible.id when left out; accepted so fixtures' entities paste in as they are
    responsible_id: z.string().optional(),
  });

const conversationSchema = z.strictObject({
  /** the extension that rang */
  extension: z.string().min(1),
  /** the Bitrix24 user with that extension among their phones; null: none */
  user: userSchema.nullable().default(null),
  id: uniqueid.optional(),
  channel: z.string().min(1).optional(),
  ring: dateTime,
  /** when the extension answered; absent: it never did */
  answer: dateTime.optional(),
  /** when the extension put the client on hold (to transfer the call) */
  parked: dateTime.optional(),
  end: dateTime,
});

export const callRecordSchema = z
  .strictObject({
    direction: z.enum(["inbound", "outbound", "c2c"]),
    /** the client's number as the PBX shows it (c2c: as the employee clicked it in Bitrix24) */
    client: z.string().min(1),
    trunk: z.strictObject({ number: z.string(), name: z.string().default("") }).prefault({ number: "" }),
    /** the main channel's uniqueid (= linkedid) */
    id: uniqueid.optional(),
    channel: z.string().min(1).optional(),
    /** the PBX's UTC offset, for the ISO dates the connector sends Bitrix24 */
    timezone: z.string().regex(/^[+-]\d{2}:\d{2}$/, 'must be "+HH:MM" or "-HH:MM"').default("+00:00"),
    start: dateTime,
    end: dateTime,
    /** missed on the IVR: nobody rang; registered and finished together when the call ends */
    ivr: z.boolean().default(false),
    conversations: z.array(conversationSchema).default([]),
    /** call_full.result at the end, a SIP-like code; default 200 when answered, else 487 */
    result: z.int().min(0).optional(),
    hangup: z
      .strictObject({ cause: z.int().default(16), source: z.string().optional(), dialstatus: z.string().optional() })
      .optional(),
    /** what Bitrix24 holds and answers */
    crm: z
      .strictObject({
        /** the lead or contact found by the client's number (c2c: the one clicked) */
        entity: entitySchema(["lead", "contact"]).nullable().default(null),
        /** true: the entity does not exist yet; registering the call creates it (CRM_CREATE 1) */
        created: z.boolean().default(false),
        deal: entitySchema(["deal"]).nullable().default(null),
        callId: z.string().regex(/^externalCall\.[0-9a-f]+\.\d+$/, 'must look like "externalCall.<hex>.<unix>"').optional(),
        activityId: z.string().regex(/^\d+$/).default("1"),
      })
      .prefault({}),
    /** the connector's own settings, as its admin set them */
    settings: z
      .strictObject({
        defaultUserId: z.int().positive().default(1),
        crmCreate: z.boolean().default(true),
        crmSource: z.string().default("CALL"),
        /** when the call card is shown: when the extension rings, or when it answers */
        showCard: z.enum(["ringing", "answer"]).default("ringing"),
        /** upload the recording file, or write a link to it into the activity */
        recordMode: z.enum(["file", "link"]).default("file"),
        /** create a task for a missed inbound or unanswered outbound call */
        tasks: z.boolean().default(true),
        /** ISO date-time; default: 12:00 the next day, PBX time */
        taskDeadline: z.string().optional(),
        /** ask customize_autodistribution whom to ring before an inbound call rings */
        autodistribution: z.boolean().default(true),
        addToChat: z.boolean().default(true),
      })
      .prefault({}),
    record: z.strictObject({ file: z.string().min(1), url: z.string().default("") }).optional(),
    /** click-to-call only: what Asterisk is asked to originate */
    originate: z.strictObject({ context: z.string().default("from-internal"), line: z.string().optional() }).optional(),
  })
  .superRefine((call, ctx) => {
    if (call.end < call.start) ctx.addIssue({ code: "custom", path: ["end"], message: "is before start" });
    if (call.ivr && call.conversations.length) ctx.addIssue({ code: "custom", path: ["ivr"], message: "a call missed on the IVR has no conversations" });
    if (!call.ivr && !call.conversations.length) ctx.addIssue({ code: "custom", path: ["conversations"], message: 'at least one conversation, or "ivr": true' });
    if (call.direction === "c2c" && !call.crm.callId) ctx.addIssue({ code: "custom", path: ["crm", "callId"], message: "a click-to-call is registered by Bitrix24 before it starts: give its CALL_ID" });
    if (call.direction !== "inbound" && call.ivr) ctx.addIssue({ code: "custom", path: ["ivr"], message: "only inbound calls reach the IVR" });
    if (call.record && !call.record.url && call.settings.recordMode === "link") ctx.addIssue({ code: "custom", path: ["record", "url"], message: 'the "link" record mode writes this URL into the activity: give it' });
    call.conversations.forEach((c, i) => {
      const at = (field: string) => ["conversations", i, field];
      if (c.ring < call.start) ctx.addIssue({ code: "custom", path: at("ring"), message: "is before the call's start" });
      if (c.answer && c.answer < c.ring) ctx.addIssue({ code: "custom", path: at("answer"), message: "is before ring" });
      if (c.end < (c.answer ?? c.ring)) ctx.addIssue({ code: "custom", path: at("end"), message: "is before the conversation rang or was answered" });
      if (c.end > call.end) ctx.addIssue({ code: "custom", path: at("end"), message: "is after the call's end" });
      if (c.parked && (c.parked < (c.answer ?? c.end) || c.parked > c.end)) ctx.addIssue({ code: "custom", path: at("parked"), message: "must fall between answer and end" });
    });
  });

export type CallRecord = z.infer<typeof callRecordSchema>;
export type RecordUser = z.infer<typeof userSchema>;
export type RecordEntity = NonNullable<CallRecord["crm"]["entity"]> | NonNullable<CallRecord["crm"]["deal"]>;

export class CallRecordError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file} is not a valid call record:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "CallRecordError";
  }
}

export function parseCallRecord(json: unknown, file: string): CallRecord {
  const parsed = callRecordSchema.safeParse(json);
  if (!parsed.success) throw new CallRecordError(file, formatIssues(parsed.error));
  return parsed.data;
}

export function readCallRecord(file: string): CallRecord {
  return parseCallRecord(readJsonFile(file, (problems) => new CallRecordError(file, problems)), file);
}
