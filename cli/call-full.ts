// `call_full` as the connector would send it at one moment of a recorded call (docs/hooks.md, "call_full"):
// who has rung, answered, parked or hung up by then, and what the connector has learnt so far.
import { createHash } from "node:crypto";
import type { CallFull, Channel, Conversation, Entity, Registration, User } from "../core/hooks.js";
import type { CallRecord, RecordEntity, RecordUser } from "./call-record.js";

/** Go's zero time: the connector's "has not happened yet". */
export const ZERO_TIME = "0001-01-01 00:00:00";

export type RecordConversation = CallRecord["conversations"][number];

/** A conversation with its uniqueid and channel name settled. */
export interface CallConversation extends RecordConversation {
  id: string;
  channel: string;
  /** the conversation is the call's main channel (an extension calling out) */
  primary: boolean;
}

/** The record with every default the connector's view needs filled in. */
export interface Call {
  record: CallRecord;
  id: string;
  channel: string;
  conversations: CallConversation[];
  /** the first answer of any conversation, if any */
  answeredAt?: string;
}

/** A registration as Bitrix24 answers it; without a CRM entity it carries no CRM_ENTITY_* (B1). */
export type CallRegistration = Pick<Registration, "CALL_ID"> & Partial<Registration>;

/** What the connector has learnt by a given moment: lookups, registration. */
export interface Knowledge {
  /** the client's number on the PBX (c2c: what originate dialled) */
  dialed: string;
  /** Bitrix24 users found so far, by conversation id */
  users: ReadonlyMap<string, RecordUser | null>;
  registration: CallRegistration | null;
  entity: RecordEntity | null;
  deal: RecordEntity | null;
}

export interface Moment {
  at: string;
  /** the conversation the stage is about; none once the call has ended */
  active?: CallConversation;
  final: boolean;
}

export function resolveCall(record: CallRecord): Call {
  const outgoing = record.direction !== "inbound";
  const id = record.id ?? `${unix(record.start, record.timezone)}.100`;
  const conversations = record.conversations.map((c, i): CallConversation => {
    const primary = outgoing && i === 0;
    return {
      ...c,
      id: c.id ?? (primary ? id : `${unix(c.ring, record.timezone)}.${101 + i}`),
      channel: c.channel ?? (primary && record.channel ? record.channel : `PJSIP/${c.extension}-${hex(i + 2)}`),
      primary,
    };
  });
  const channel = record.channel ?? (outgoing && conversations[0] ? conversations[0].channel : `PJSIP/trunk-${hex(1)}`);
  const answers = conversations.flatMap((c) => (c.answer ? [c.answer] : [])).sort();
  return { record, id, channel, conversations, answeredAt: answers[0] };
}

export function buildCallFull(call: Call, known: Knowledge, moment: Moment): CallFull {
  const r = call.record;
  const answered = call.answeredAt !== undefined && call.answeredAt <= moment.at;
  const [from, to] = r.direction === "inbound" ? [known.dialed, r.trunk.number] : [call.conversations[0]?.extension ?? "", known.dialed];
  const channel: Channel = {
    answer_time: answered ? call.answeredAt! : ZERO_TIME,
    end_time: moment.final ? r.end : ZERO_TIME,
    extra: moment.final ? hangupExtra(call, answered ? "ANSWER" : "CANCEL") : {},
    from: { number: from, name: "" },
    id: call.id,
    is_primary: true,
    name: call.channel,
    start_time: r.start,
    state: moment.final ? "ended" : answered ? "talking" : "ringing",
    to: { number: to, name: "" },
    trunk: { number: r.trunk.number, name: r.trunk.name },
    type: r.direction === "inbound" ? "incoming" : "outgoing",
    was_answered: answered,
  };
  const conversations: Record<string, Conversation> = {};
  for (const c of call.conversations) {
    if (c.ring > moment.at) continue;
    const ended = moment.final || c.end <= moment.at;
    const talking = c.answer !== undefined && c.answer <= moment.at;
    conversations[c.id] = {
      channel: {
        answer_time: talking ? c.answer! : ZERO_TIME,
        end_time: ended ? c.end : ZERO_TIME,
        extra: ended ? hangupExtra(call) : {},
        // an extension calling out is the call's main channel; one that is rung sees the client calling
        from: { number: c.primary ? c.extension : known.dialed, name: "" },
        id: c.id,
        is_primary: c.primary,
        name: c.channel,
        start_time: c.ring,
        state: ended ? "ended" : talking ? "talking" : "ringing",
        to: { number: c.primary ? known.dialed : c.extension, name: "" },
        trunk: { number: r.trunk.number, name: r.trunk.name },
        type: channel.type,
        was_answered: talking,
      },
      is_parked: !ended && c.parked !== undefined && c.parked <= moment.at,
      user: known.users.get(c.id) ?? null,
    };
  }
  return {
    active_conversation_id: moment.active?.id ?? "",
    channel,
    conversations,
    deal: known.deal ? toEntity(known.deal) : null,
    entity: known.entity ? toEntity(known.entity) : null,
    is_ivr: r.ivr,
    record: moment.final ? (r.record?.url ?? "") : "",
    // plugins.d.ts types the usual case, a registration bound to an entity
    registration: known.registration as Registration | null,
    result: moment.final ? callResult(call) : 0,
  };
}

/** call_full.result at the end: the record's, else 200 answered or 487 (cancelled by the caller). */
export function callResult(call: Call): number {
  return call.record.result ?? (call.answeredAt ? 200 : 487);
}

export function toEntity(e: RecordEntity): Entity {
  const { responsible_id, ...rest } = e;
  return { ...rest, responsible: toUser(e.responsible), responsible_id: responsible_id ?? String(e.responsible.id) };
}

export function toUser(u: RecordUser): User {
  return { id: u.id, name: u.name, email: u.email, position: u.position, phones: [...u.phones] };
}

/** "2025-06-17 10:12:05" at "+03:00" → "2025-06-17T10:12:05+03:00" */
export function isoTime(dateTime: string, timezone: string): string {
  return `${dateTime.replace(" ", "T")}${timezone}`;
}

export function unix(dateTime: string, timezone: string): number {
  return Math.floor(Date.parse(isoTime(dateTime, timezone)) / 1000);
}

export function secondsBetween(from: string, to: string): number {
  return Math.max(0, Math.round((Date.parse(`${to.replace(" ", "T")}Z`) - Date.parse(`${from.replace(" ", "T")}Z`)) / 1000));
}

/** A CALL_ID of Bitrix24's form, stable for a given call. */
export function callIdFor(call: Call): string {
  const digest = createHash("md5").update(call.id).digest("hex");
  return `externalCall.${digest}.${unix(call.record.start, call.record.timezone) + 1}`;
}

/** CEL `extra` of a channel that has hung up; as in the fixtures, only the main channel has a dial status. */
function hangupExtra(call: Call, mainDialstatus?: "ANSWER" | "CANCEL"): Record<string, unknown> {
  const h = call.record.hangup;
  const dialstatus = mainDialstatus === undefined ? "" : (h?.dialstatus ?? mainDialstatus);
  return { hangupcause: h?.cause ?? 16, hangupsource: h?.source ?? call.channel, dialstatus };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
