// The connector, as far as `hookhost simulate` needs it: which hook it calls at each moment of a
// call, with what input, and what it does with the answer (docs/hooks.md: the order, the requests,
// call_full). Each answer feeds the next steps: the normalised client number becomes
// PHONE_NUMBER, a `false` gate or a cancelled registration ends the CRM side of the call, the
// finish's USER_ID becomes the task's and the activity's responsible. docs/simulate.md says why.
import type { ChainResult, TraceEntry } from "../core/chain.js";
import type { HookName, Stage } from "../core/hooks.js";
import {
  buildCallFull,
  callIdFor,
  callResult,
  isoTime,
  resolveCall,
  secondsBetween,
  toUser,
  type Call,
  type CallConversation,
  type CallRegistration,
  type Knowledge,
  type Moment,
} from "./call-full.js";
import type { CallRecord, RecordUser } from "./call-record.js";

/** The four call stages, and the two moments outside them (docs/hooks.md). */
export type SimStage = Stage | "click_to_call" | "before_ringing";

export type RunHook = (hook: HookName, input: Record<string, unknown>) => Promise<ChainResult>;

export interface SimStep {
  stage: SimStage;
  /** PBX time of the moment */
  at: string;
  /** extension of the conversation the stage is about */
  conversation?: string;
  hook: HookName;
  input: Record<string, unknown>;
  data: Record<string, unknown>;
  cancelled: boolean;
  trace: TraceEntry[];
  /** what the connector does with the answer */
  action: string;
}

export interface Simulation {
  steps: SimStep[];
  /** why the connector followed the call no further, when it stopped early */
  stopped?: string;
}

type Obj = Record<string, unknown>;
type Event = { stage: Stage; at: string; conversation: CallConversation };

/** Replays one recorded call; `runHook` runs a hook's chain and answers as the host would. */
export async function simulateCall(record: CallRecord, runHook: RunHook): Promise<Simulation> {
  const connector = new Connector(resolveCall(record), runHook);
  await connector.play();
  return { steps: connector.steps, stopped: connector.stopped };
}

/** Stage events in time order; at the same second a ring comes before an answer, an answer before a hang-up. */
function stageEvents(call: Call): Event[] {
  const order: Record<string, number> = { conversation_requested: 0, conversation_accepted: 1, conversation_ended: 2 };
  const events = call.conversations.flatMap((c): Event[] => [
    { stage: "conversation_requested", at: c.ring, conversation: c },
    ...(c.answer ? [{ stage: "conversation_accepted" as const, at: c.answer, conversation: c }] : []),
    { stage: "conversation_ended", at: c.end, conversation: c },
  ]);
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.at < b.e.at ? -1 : a.e.at > b.e.at ? 1 : order[a.e.stage] - order[b.e.stage] || a.i - b.i))
    .map(({ e }) => e);
}

class Connector {
  readonly steps: SimStep[] = [];
  stopped?: string;
  private readonly record: CallRecord;
  private readonly known: Knowledge & { users: Map<string, RecordUser | null> };
  /** the client's number as process_client_phone last answered: what the CRM is asked with */
  private clientPhone: string;
  /** the Bitrix24 users the record knows, for looking one up by a phone number */
  private readonly directory: RecordUser[];
  private postRegistered = false;

  constructor(
    private readonly call: Call,
    private readonly runHook: RunHook,
  ) {
    const r = call.record;
    this.record = r;
    this.clientPhone = r.client;
    this.known = { dialed: r.client, users: new Map(), registration: null, entity: null, deal: null };
    const users = [...r.conversations.map((c) => c.user), r.crm.entity?.responsible, r.crm.deal?.responsible];
    this.directory = users.filter((u): u is RecordUser => !!u).filter((u, i, all) => all.findIndex((o) => o.id === u.id) === i);
    // Bitrix24 registers a click-to-call itself, before Asterisk dials, and names the
    // employee who clicked (fixture D: known already at post_registration).
    if (r.direction === "c2c") {
      this.bindRegistration(r.crm.callId!, true);
      const caller = call.conversations[0];
      this.known.users.set(caller.id, caller.user);
    }
  }

  async play(): Promise<void> {
    const r = this.record;
    if (r.direction === "c2c") await this.originate();
    if (r.direction === "inbound" && !r.ivr && r.settings.autodistribution) await this.autodistribution();
    for (const event of stageEvents(this.call)) {
      await this.conversationStage(event);
      if (this.stopped) return;
    }
    await this.callEnded();
  }

  // ---- outside the stages

  private async originate(): Promise<void> {
    const r = this.record;
    const c = this.call.conversations[0];
    const entity = r.crm.entity;
    const international = r.client.trim().startsWith("+") ? `+${digits(r.client)}` : digits(r.client);
    const requestData = {
      CALL_ID: r.crm.callId,
      PHONE_NUMBER: r.client,
      PHONE_NUMBER_INTERNATIONAL: international,
      EXTENSION: "",
      USER_ID: String(c.user?.id ?? r.settings.defaultUserId),
      CALL_LIST_ID: "0",
      LINE_NUMBER: r.originate?.line ?? r.trunk.number,
      IS_MOBILE: "0",
      ...(entity ? { CRM_ENTITY_TYPE: entity.type.toUpperCase(), CRM_ENTITY_ID: entity.id } : {}),
    };
    const params = {
      caller_id: entity ? `"${entity.name}" <${international}>` : international,
      channel: `PJSIP/${c.extension}`,
      context: r.originate?.context ?? "from-internal",
      extension: international,
      priority: "1",
      request_data: JSON.stringify(requestData),
    };
    const step = await this.step("click_to_call", r.start, undefined, "process_originate_params", { params });
    const p = step.data;
    this.known.dialed = typeof p.extension === "string" ? p.extension : international;
    step.action = `originates the call: ${str(p.channel)} dials ${this.known.dialed} (context ${str(p.context)}, caller id ${str(p.caller_id)})`;
  }

  private async autodistribution(): Promise<void> {
    const r = this.record;
    const first = this.call.conversations[0];
    const entity = r.crm.created ? null : r.crm.entity;
    const input: Obj = { number: first.extension, name: entity?.name ?? "", from: r.client };
    if (first.user) input.user = { id: first.user.id, phones: first.user.phones, name: first.user.name, email: first.user.email, position: first.user.position };
    if (entity) input.entity = { type: entity.type, id: Number(entity.id), name: entity.name, responsible_id: entity.responsible.id };
    const step = await this.step("before_ringing", r.start, undefined, "customize_autodistribution", input);
    const { number, name } = step.data;
    if (typeof number !== "string" || number === "") {
      step.action = "answers no extension: the dialplan takes its normal route";
      return;
    }
    const differs = number !== first.extension ? ` (the record has ${first.extension} ringing first; the simulation follows the record)` : "";
    step.action = `rings ${number}, showing the caller as ${JSON.stringify(name ?? "")}${differs}`;
  }

  // ---- conversation stages

  private async conversationStage({ stage, at, conversation: c }: Event): Promise<void> {
    const moment: Moment = { at, active: c, final: false };
    if (stage === "conversation_requested" && this.record.direction === "c2c" && !this.postRegistered) await this.postRegistration(stage, moment, c);
    await this.userPhone(stage, moment, c);
    await this.clientPhoneStep(stage, moment, c);
    if (!(await this.gate(stage, moment, c))) return;
    if (stage === "conversation_requested" && !this.known.registration) await this.register(stage, moment, c, this.known.users.get(c.id)?.id);
    await this.card(stage, moment, c);
  }

  private async userPhone(stage: Stage, moment: Moment, c: CallConversation): Promise<void> {
    const step = await this.step(stage, moment.at, c, "process_user_phone", { phone: c.extension, call_full: this.callFull(moment), call_stage: stage });
    const phone = str(step.data.phone);
    const user = this.directory.find((u) => u.phones.includes(phone)) ?? null;
    this.known.users.set(c.id, user);
    step.action = user ? `finds Bitrix24 user ${user.id} (${user.name}) by ${phone}` : `finds no Bitrix24 user with the number ${phone}`;
  }

  private async clientPhoneStep(stage: Stage, moment: Moment, c?: CallConversation): Promise<void> {
    const step = await this.step(stage, moment.at, c, "process_client_phone", { phone: this.known.dialed, call_full: this.callFull(moment), call_stage: stage });
    this.clientPhone = str(step.data.phone);
    step.action = `uses ${this.clientPhone} as the client's number in Bitrix24`;
  }

  /** need_registration; false ends the simulation: the connector ignores the call from then on. */
  private async gate(stage: Stage, moment: Moment, c?: CallConversation): Promise<boolean> {
    const step = await this.step(stage, moment.at, c, "need_registration", { call_full: this.callFull(moment), call_stage: stage });
    const registered = this.known.registration !== null;
    if (step.data.result === false) {
      step.action = registered
        ? "is told not to register a call it has already registered: what it does then is not documented (docs/hooks.md, \"What the documentation leaves open\"); the simulation follows the call no further"
        : "does not register the call and ignores it from here on: no card, no finish, no task, no recording";
      this.stopped = `need_registration answered false at ${stage}${c ? ` (${c.extension})` : ""}`;
      return false;
    }
    step.action = registered ? "keeps following the registered call" : stage === "conversation_requested" || this.record.ivr ? "goes on to register the call" : "goes on (the call is not registered)";
    return true;
  }

  private async register(stage: Stage, moment: Moment, c: CallConversation | undefined, userId: number | undefined): Promise<void> {
    const r = this.record;
    const input = {
      CALL_START_DATE: isoTime(r.start, r.timezone),
      CRM_CREATE: r.settings.crmCreate ? 1 : 0,
      CRM_SOURCE: r.settings.crmSource,
      LINE_NUMBER: r.trunk.number,
      PHONE_NUMBER: this.clientPhone,
      SHOW: 0,
      TYPE: r.direction === "inbound" ? 2 : 1,
      USER_ID: userId ?? r.settings.defaultUserId,
      call_full: this.callFull(moment),
      call_stage: stage,
    };
    const step = await this.step(stage, moment.at, c, "process_registration_params", input);
    if (step.cancelled) {
      step.action = "does not register the call: a plugin cancelled telephony.externalCall.register";
      return;
    }
    const d = step.data;
    const createAllowed = d.CRM_CREATE === 1; // final shaping has made a true 1
    const registration = this.bindRegistration(this.record.crm.callId ?? callIdFor(this.call), createAllowed);
    const entity = this.known.entity;
    const what = entity
      ? `${r.crm.created ? "creating" : "binding it to"} ${entity.type.toUpperCase()} ${entity.id} (${entity.name})`
      : r.crm.created
        ? "with no CRM entity (CRM_CREATE is 0 and the number is unknown)"
        : "with no CRM entity (the record has none)";
    step.action = `registers the call ${what}: CALL_ID ${registration.CALL_ID}, PHONE_NUMBER ${str(d.PHONE_NUMBER)}, USER_ID ${str(d.USER_ID)}, TYPE ${str(d.TYPE)}`;
    await this.postRegistration(stage, moment, c);
  }

  private async postRegistration(stage: Stage, moment: Moment, c?: CallConversation): Promise<void> {
    this.postRegistered = true;
    const step = await this.step(stage, moment.at, c, "post_registration", { call_full: this.callFull(moment), call_stage: stage });
    step.action = "reads only the answer's state: the plugins' side effects are all that happens";
  }

  /** customize_show_call_card, for a registered call with a Bitrix24 user to show it to. */
  private async card(stage: Stage, moment: Moment, c: CallConversation): Promise<void> {
    const user = this.known.users.get(c.id);
    if (!this.known.registration || !user) return;
    const input = { CALL_ID: this.known.registration.CALL_ID, USER_ID: user.id, call_full: this.callFull(moment), call_stage: stage };
    const step = await this.step(stage, moment.at, c, "customize_show_call_card", input);
    const when = this.record.settings.showCard;
    const shows = (stage === "conversation_requested" && when === "ringing") || (stage === "conversation_accepted" && when === "answer");
    const hides = stage === "conversation_ended" || stage === "call_ended";
    if (!shows && !hides) {
      step.action = `sends nothing now: the card is shown ${when === "ringing" ? "when the extension rings" : "when it answers"}`;
      return;
    }
    const verb = shows ? "show" : "hide";
    if (step.cancelled) {
      step.action = `does not ${verb} the card: a plugin cancelled telephony.externalCall.${verb}`;
      return;
    }
    const ids = ([] as unknown[]).concat(step.data.USER_ID).map(String).join(", ");
    step.action = shows ? `shows the card to users ${ids}` : `hides the card from users ${ids} (telephony.externalCall.hide; which request follows here is not documented)`;
  }

  // ---- the end of the call

  private async callEnded(): Promise<void> {
    const r = this.record;
    const stage: Stage = "call_ended";
    const moment: Moment = { at: r.end, final: true };
    // The employee the call ends with: the last to answer; on an outgoing call, else the caller.
    const answered = this.call.conversations.filter((c) => c.answer).sort((a, b) => (a.answer! < b.answer! ? -1 : 1));
    const last = answered[answered.length - 1] ?? this.call.conversations.find((c) => c.primary);
    if (last) await this.userPhone(stage, moment, last);
    await this.clientPhoneStep(stage, moment);
    if (!(await this.gate(stage, moment))) return;
    // A call missed on the IVR rang nobody: it is registered now, together with its finish.
    if (!this.known.registration && r.ivr) await this.register(stage, moment, undefined, this.known.entity?.responsible.id ?? r.crm.entity?.responsible.id);
    if (!this.known.registration) {
      this.stopped = "the call was never registered, so there is nothing to finish, no task, no activity and no recording";
      return;
    }
    if (last) await this.card(stage, moment, last);
    const finished = await this.finish(moment, last);
    if (!this.call.answeredAt && r.settings.tasks) await this.task(moment, finished.userId);
    await this.updateEntity(moment);
    if (finished.ok) {
      const activity = this.activity(finished.userId);
      await this.updateActivity(moment, activity);
      if (r.record && r.settings.recordMode === "link") await this.attachRecordUrl(moment, activity);
    }
    if (r.record && r.settings.recordMode === "file") await this.recordFile(moment);
  }

  private async finish(moment: Moment, last: CallConversation | undefined): Promise<{ ok: boolean; userId: number }> {
    const r = this.record;
    const user = last ? this.known.users.get(last.id) : undefined;
    const input = {
      ADD_TO_CHAT: r.settings.addToChat ? 1 : 0,
      CALL_ID: this.known.registration!.CALL_ID,
      DURATION: this.call.answeredAt ? secondsBetween(this.call.answeredAt, r.end) : 0,
      STATUS_CODE: statusCode(this.call),
      // a missed call goes to the client's responsible (S11), else to the default user
      USER_ID: user?.id ?? this.known.entity?.responsible.id ?? r.settings.defaultUserId,
      call_full: this.callFull(moment),
    };
    const step = await this.step("call_ended", moment.at, undefined, "process_final_params", input);
    if (step.cancelled) {
      step.action = "does not finish the call: a plugin cancelled telephony.externalCall.finish; it stays open in Bitrix24 and gets no activity";
      return { ok: false, userId: input.USER_ID };
    }
    const d = step.data;
    step.action = `finishes the call with STATUS_CODE ${str(d.STATUS_CODE)}, DURATION ${str(d.DURATION)} s, USER_ID ${str(d.USER_ID)}, ADD_TO_CHAT ${str(d.ADD_TO_CHAT)}`;
    return { ok: true, userId: typeof d.USER_ID === "number" ? d.USER_ID : input.USER_ID };
  }

  private async task(moment: Moment, userId: number): Promise<void> {
    const r = this.record;
    const entity = this.known.entity;
    const fields = {
      CREATED_BY: r.settings.defaultUserId,
      DEADLINE: r.settings.taskDeadline ?? nextDayNoon(r.end, r.timezone),
      RESPONSIBLE_ID: userId,
      TITLE: r.direction === "inbound" ? `Пропущенный звонок от ${this.clientPhone}` : `Неотвеченный звонок на ${this.clientPhone}`,
      UF_CRM_TASK: [...(entity ? [`${entity.type === "lead" ? "L" : "C"}_${entity.id}`] : []), ...(this.known.deal ? [`D_${this.known.deal.id}`] : [])],
    };
    const step = await this.step("call_ended", moment.at, undefined, "process_task_creation_params", { fields, call_full: this.callFull(moment) });
    if (step.cancelled) {
      step.action = "creates no task: a plugin cancelled it";
      return;
    }
    const f = (step.data.fields ?? {}) as Obj;
    step.action = `creates task ${JSON.stringify(f.TITLE ?? "")} for user ${str(f.RESPONSIBLE_ID)}, deadline ${str(f.DEADLINE)}`;
  }

  private async updateEntity(moment: Moment): Promise<void> {
    const entity = this.known.entity;
    if (!entity) return;
    const step = await this.step("call_ended", moment.at, undefined, "customize_entity", { call_full: this.callFull(moment) });
    step.action = fieldUpdate(step, `${entity.type.toUpperCase()} ${entity.id}`);
  }

  private async updateActivity(moment: Moment, activity: Obj): Promise<void> {
    const step = await this.step("call_ended", moment.at, undefined, "customize_activity", { activity, call_full: this.callFull(moment) });
    step.action = fieldUpdate(step, `activity ${str(activity.id)}`);
  }

  private async attachRecordUrl(moment: Moment, activity: Obj): Promise<void> {
    const url = this.record.record!.url;
    const input = { DESCRIPTION: `<audio controls preload="none" src="${url}"></audio>`, DESCRIPTION_TYPE: 3, activity, call_full: this.callFull(moment) };
    const step = await this.step("call_ended", moment.at, undefined, "customize_attach_record_url", input);
    step.action = step.cancelled ? "writes no link to the recording: a plugin cancelled the activity update" : fieldUpdate(step, `activity ${str(activity.id)}`);
  }

  private async recordFile(moment: Moment): Promise<void> {
    const file = this.record.record!.file;
    const step = await this.step("call_ended", moment.at, undefined, "process_record_file_path", { file_path: file, call_full: this.callFull(moment) });
    const path = typeof step.data.file_path === "string" ? step.data.file_path : file;
    step.action = `uploads ${path} to the call (telephony.externalCall.attachRecord)${path !== file ? ` instead of ${file}` : ""}`;
  }

  // ---- helpers

  /** Registers the call in the simulated Bitrix24: the record's entity, created only when allowed. */
  private bindRegistration(callId: string, createAllowed: boolean): CallRegistration {
    const crm = this.record.crm;
    const entity = crm.entity && (!crm.created || createAllowed) ? crm.entity : null;
    const created = entity && crm.created ? [{ ENTITY_TYPE: entity.type.toUpperCase(), ENTITY_ID: Number(entity.id) }] : [];
    const registration: CallRegistration = {
      CALL_ID: callId,
      CRM_CREATED_LEAD: entity && crm.created && entity.type === "lead" ? Number(entity.id) : null,
      ...(entity ? { CRM_ENTITY_TYPE: entity.type === "lead" ? "LEAD" : "CONTACT", CRM_ENTITY_ID: Number(entity.id) } : {}),
      CRM_CREATED_ENTITIES: created,
    };
    this.known.registration = registration;
    this.known.entity = entity;
    this.known.deal = entity ? crm.deal : null;
    return registration;
  }

  /** The call's activity ("дело"), which Bitrix24 creates when the call is finished. */
  private activity(userId: number): Obj {
    const r = this.record;
    const entity = this.known.entity;
    const user = this.directory.find((u) => u.id === userId);
    const subject = `${r.direction === "inbound" ? "Входящий" : "Исходящий"} звонок ${this.clientPhone}`;
    const raw: Obj = {
      ID: r.crm.activityId,
      ...(entity ? { OWNER_ID: entity.id, OWNER_TYPE_ID: entity.type === "lead" ? "1" : "3" } : {}),
      TYPE_ID: "2",
      PROVIDER_ID: "VOXIMPLANT_CALL",
      PROVIDER_TYPE_ID: "CALL",
      SUBJECT: subject,
      START_TIME: isoTime(r.start, r.timezone),
      END_TIME: isoTime(r.end, r.timezone),
      COMPLETED: "Y",
      STATUS: "2",
      RESPONSIBLE_ID: String(userId),
      PRIORITY: "2",
      DIRECTION: r.direction === "inbound" ? "1" : "2",
      ORIGIN_ID: `VI_${this.known.registration!.CALL_ID}`,
      AUTHOR_ID: String(userId),
    };
    return {
      id: r.crm.activityId,
      is_new: false,
      name: subject,
      phones: [],
      raw,
      responsible: user ? toUser(user) : { id: userId, name: "", email: "", position: "", phones: [] },
      responsible_id: String(userId),
      type: "activity",
    };
  }

  private callFull(moment: Moment) {
    return buildCallFull(this.call, this.known, moment);
  }

  private async step(stage: SimStage, at: string, c: CallConversation | undefined, hook: HookName, input: Obj): Promise<SimStep> {
    const result = await this.runHook(hook, input);
    const step: SimStep = { stage, at, ...(c ? { conversation: c.extension } : {}), hook, input, data: result.data, cancelled: result.cancelled, trace: result.trace, action: "" };
    this.steps.push(step);
    return step;
  }
}

/** Bitrix24's STATUS_CODE for the call (B2): 200 answered, the PBX's code where Bitrix24 has it, else 304 missed. */
function statusCode(call: Call): string {
  if (call.answeredAt) return "200";
  const result = callResult(call);
  return [402, 403, 404, 423, 480, 484, 486, 503, 603].includes(result) ? String(result) : "304";
}

function nextDayNoon(dateTime: string, timezone: string): string {
  const day = new Date(`${dateTime.slice(0, 10)}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return `${day.toISOString().slice(0, 10)}T12:00:00${timezone}`;
}

function fieldUpdate(step: SimStep, what: string): string {
  if (step.cancelled) return `does not update ${what}: a plugin cancelled the update`;
  const fields = Object.entries(step.data);
  if (!fields.length) return `leaves ${what} as it is (no fields to change)`;
  return `updates ${what}: ${fields.map(([k, v]) => `${k} = ${short(v)}`).join(", ")}`;
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "undefined";
}

function digits(phone: string): string {
  return phone.replace(/\D/g, "");
}
