// The 14 Itgrix_bx customization hooks: what each accepts (input), what one plugin may return
// (data), and how several plugins' results chain into one answer. docs/hooks.md says why.
import { z } from "zod";

export const HOOK_NAMES = [
  "customize_activity",
  "customize_entity",
  "need_registration",
  "process_client_phone",
  "process_final_params",
  "process_originate_params",
  "process_record_file_path",
  "process_registration_params",
  "process_task_creation_params",
  "process_user_phone",
  "customize_autodistribution",
  "post_registration",
  "customize_show_call_card",
  "customize_attach_record_url",
] as const;

/** The 14 hook names; a hook script's file is named `<hook>.ts` (or `.js`, `.mjs`). */
export type HookName = (typeof HOOK_NAMES)[number];

const hookNameSet: ReadonlySet<string> = new Set(HOOK_NAMES);

export function isHookName(s: string): s is HookName {
  return hookNameSet.has(s);
}

// ---- Shapes the connector documents (docs/hooks.md, "call_full"). Types only: hookhost checks these as "an object"
// and never deeper, so a connector that changes them does not break every call.

/** The `call_stage` values the connector sends; the schemas take any string, as a new stage must not be refused. */
export type Stage = "conversation_requested" | "conversation_accepted" | "conversation_ended" | "call_ended";
/** "YYYY-MM-DD HH:MM:SS" in the PBX's local time; "0001-01-01 00:00:00" = has not happened. */
export type DateTime = string;
export type NumberInfo = { number: string; name: string };
export type User = { id: number; name: string; email: string; position: string; phones: string[] };
export type Entity = {
  id: string;
  is_new: boolean;
  name: string;
  phones: string[];
  raw: Record<string, unknown>;
  responsible: User;
  responsible_id: string;
  type: "lead" | "contact" | "deal";
};
export type Activity = Omit<Entity, "type"> & { type: "activity" };
export type Channel = {
  answer_time: DateTime;
  start_time: DateTime;
  end_time: DateTime;
  extra: Record<string, unknown>;
  from: NumberInfo;
  to: NumberInfo;
  trunk: NumberInfo;
  id: string;
  is_primary: boolean;
  name: string;
  state: "ringing" | "talking" | "ended" | "processed";
  type: "local" | "incoming" | "outgoing" | "unknown";
  was_answered: boolean;
};
export type Conversation = { channel: Channel; is_parked: boolean; user: User | null };
export type Registration = {
  CALL_ID: string;
  CRM_ENTITY_TYPE: "LEAD" | "CONTACT" | "COMPANY";
  CRM_ENTITY_ID: number;
  CRM_CREATED_LEAD: number | null;
  CRM_CREATED_ENTITIES: { ENTITY_TYPE: string; ENTITY_ID: number }[];
};
/** The call as the connector sees it, in every input except originate and autodistribution (spec §5). */
export type CallFull = {
  active_conversation_id: string;
  channel: Channel;
  conversations: Record<string, Conversation>;
  deal: Entity | null;
  entity: Entity | null;
  is_ivr: boolean;
  record: string;
  registration: Registration | null;
  result: number;
};
export type TaskFields = {
  CREATED_BY?: number;
  DEADLINE?: string;
  RESPONSIBLE_ID?: number;
  TITLE?: string;
  UF_CRM_TASK?: string[];
  [field: string]: unknown;
};
export type AutodistributionUser = { id: number; phones: string[]; name: string; email: string; position: string };
export type AutodistributionEntity = { type: string; id: number; name: string; responsible_id: number };

// ---- Building blocks

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** An object checked as an object only, typed as the documented shape T for plugin authors. */
function objectOf<T extends object>(typeName: string) {
  return z
    .custom<T>(isPlainObject, {
      error: (issue) => `Invalid input: expected object, received ${describe(issue.input)}`,
    })
    .meta({ typeName }); // names the type in the generated hook table (core/hook-table.ts)
}

// Ids the docs show quoted may arrive unquoted (the seed shows CALL_ID bare); the answer turns them into strings.
const stringId = z.union([z.string(), z.number()], {
  error: (issue) => `Invalid input: expected string or number, received ${describe(issue.input)}`,
});
// 0/1 flags also accept true/false; the answer turns them into 0/1.
const flag = z.union([z.literal(0), z.literal(1), z.boolean()], {
  error: (issue) => `Invalid input: expected 0, 1, true or false, received ${describe(issue.input)}`,
});
const callFull = objectOf<CallFull>("CallFull");
const callStage = z.string(); // any string: a connector adding a stage must not get 422 on every call

// ---- Input schemas (the required fields; loose: unknown fields pass through)

const customizeActivityInput = z.looseObject({ activity: objectOf<Activity>("Activity"), call_full: callFull });
const customizeEntityInput = z.looseObject({ call_full: callFull });
const needRegistrationInput = z.looseObject({ call_full: callFull, call_stage: callStage });
const phoneInput = z.looseObject({ phone: z.string(), call_full: callFull, call_stage: callStage });
const processFinalParamsInput = z.looseObject({
  ADD_TO_CHAT: flag.optional(),
  CALL_ID: stringId,
  DURATION: z.number(),
  STATUS_CODE: stringId,
  USER_ID: z.number(),
  call_full: callFull,
});
const originateParams = {
  caller_id: z.string().optional(),
  channel: z.string(),
  context: z.string(),
  extension: z.string(),
  priority: z.string().optional(),
  request_data: z.string().optional(),
};
const processOriginateParamsInput = z.looseObject({ params: z.looseObject(originateParams) });
const INPUT_ONLY_KEYS = ["call_full", "call_stage"] as const;
// The documentation shows only the recording's path here; call_full may come, and is not required.
const processRecordFilePathInput = z.looseObject({ file_path: z.string(), call_full: callFull.optional(), call_stage: callStage.optional() });
const registrationParams = {
  CALL_START_DATE: z.string().optional(),
  CRM_CREATE: flag.optional(),
  CRM_SOURCE: z.string().optional(),
  LINE_NUMBER: z.string().optional(),
  PHONE_NUMBER: z.string(),
  SHOW: flag.optional(),
  TYPE: z.number(),
  USER_ID: z.number(),
};
const processRegistrationParamsInput = z.looseObject({ ...registrationParams, call_full: callFull, call_stage: callStage });
const processTaskCreationParamsInput = z.looseObject({ fields: objectOf<TaskFields>("TaskFields"), call_full: callFull });
const customizeAutodistributionInput = z.looseObject({
  number: z.string(),
  name: z.string(),
  from: z.string().optional(),
  user: objectOf<AutodistributionUser>("AutodistributionUser").optional(),
  entity: objectOf<AutodistributionEntity>("AutodistributionEntity").optional(),
  error: z.string().optional(),
});
const postRegistrationInput = z.looseObject({ call_full: callFull, call_stage: callStage });
const userIds = z.union([z.number(), z.array(z.number())], {
  error: (issue) => `Invalid input: expected number or array of numbers, received ${describe(issue.input)}`,
});
const customizeShowCallCardInput = z.looseObject({
  CALL_ID: stringId,
  // the connector sends a number; an earlier plugin's array reaches the next one through the view
  USER_ID: userIds,
  call_full: callFull,
  call_stage: callStage,
});
const customizeAttachRecordUrlInput = z.looseObject({
  DESCRIPTION: z.string(),
  DESCRIPTION_TYPE: z.number().optional(),
  activity: objectOf<Activity>("Activity"),
  call_full: callFull,
});

export const inputSchemas = {
  customize_activity: customizeActivityInput,
  customize_entity: customizeEntityInput,
  need_registration: needRegistrationInput,
  process_client_phone: phoneInput,
  process_final_params: processFinalParamsInput,
  process_originate_params: processOriginateParamsInput,
  process_record_file_path: processRecordFilePathInput,
  process_registration_params: processRegistrationParamsInput,
  process_task_creation_params: processTaskCreationParamsInput,
  process_user_phone: phoneInput,
  customize_autodistribution: customizeAutodistributionInput,
  post_registration: postRegistrationInput,
  customize_show_call_card: customizeShowCallCardInput,
  customize_attach_record_url: customizeAttachRecordUrlInput,
} satisfies { [H in HookName]: z.ZodType };

// ---- Data schemas: what ONE plugin may return. A value the connector documents in another form
// is converted to it (true → 1, 304 → "304"); one that cannot be converted fails the check, and the
// trace names the plugin and the field (`invalid`).

/** true/false → 1/0: the form a PHP customization often returns for a [0/1] flag. */
export function toFlag(v: unknown): unknown {
  return v === true ? 1 : v === false ? 0 : v;
}

/** A number where the connector documents a string (STATUS_CODE 304, a bare CALL_ID) → its digits. */
export function toStringId(v: unknown): unknown {
  return typeof v === "number" && Number.isFinite(v) ? String(v) : v;
}

const answerFlag = z.preprocess(
  toFlag,
  z.union([z.literal(0), z.literal(1)], { error: (issue) => `Invalid input: expected 0 or 1 (true and false are converted), received ${JSON.stringify(issue.input)}` }),
);
const answerString = z.preprocess(
  toStringId,
  z.string({ error: (issue) => `Invalid input: expected a string (a number is converted), received ${describe(issue.input)}` }),
);
// The card has a request and a hook of its own (customize_show_call_card): registration never shows it.
const answerShow = z.preprocess(toFlag, z.literal(0, { error: "SHOW is always 0: the call card is shown through customize_show_call_card" }));
const answerType = z.union([z.literal(1), z.literal(2)], { error: "TYPE must be 1 (outgoing) or 2 (incoming)" });

const fieldMap = z.looseObject({});
// A PHP customization returns a bare true/false here; both forms are accepted.
const needRegistrationData = z.preprocess((v) => (typeof v === "boolean" ? { result: v } : v), z.looseObject({ result: z.boolean() }));
const phoneData = z.looseObject({ phone: z.string() });
const processFinalParamsData = z.looseObject({
  ADD_TO_CHAT: answerFlag.optional(),
  CALL_ID: answerString.optional(),
  DURATION: z.number().optional(),
  STATUS_CODE: answerString.optional(),
  USER_ID: z.number().optional(),
});
const originateKeys = {
  caller_id: z.string().optional(),
  channel: z.string().optional(),
  context: z.string().optional(),
  extension: z.string().optional(),
  priority: z.string().optional(),
  request_data: z.string().optional(),
};
/** The answer is flat; a plugin that mirrors the input's `{ params: {…} }` has it flattened (its keys win). */
function flattenParams(v: unknown): unknown {
  if (!isPlainObject(v) || !isPlainObject(v.params)) return v;
  const { params, ...rest } = v;
  return { ...rest, ...params };
}
const processOriginateParamsData = z.preprocess(flattenParams, z.looseObject(originateKeys));
const processRecordFilePathData = z.looseObject({ file_path: z.string().optional() });
const processRegistrationParamsData = z.looseObject({
  CALL_START_DATE: z.string().optional(),
  CRM_CREATE: answerFlag.optional(),
  CRM_SOURCE: z.string().optional(),
  LINE_NUMBER: z.string().optional(),
  PHONE_NUMBER: z.string().optional(),
  SHOW: answerShow.optional(),
  TYPE: answerType.optional(),
  USER_ID: z.number().optional(),
});
const processTaskCreationParamsData = z.looseObject({ fields: objectOf<TaskFields>("TaskFields") });
const customizeAutodistributionData = z.looseObject({ number: z.string().optional(), name: z.string().optional() });
const postRegistrationData = z.unknown(); // ignored: only the envelope's state is read
const customizeShowCallCardData = z.looseObject({ CALL_ID: answerString.optional(), USER_ID: userIds.optional() });
const customizeAttachRecordUrlData = z.looseObject({
  DESCRIPTION: z.string().optional(),
  DESCRIPTION_TYPE: z.number().optional(),
});

export const dataSchemas = {
  customize_activity: fieldMap,
  customize_entity: fieldMap,
  need_registration: needRegistrationData,
  process_client_phone: phoneData,
  process_final_params: processFinalParamsData,
  process_originate_params: processOriginateParamsData,
  process_record_file_path: processRecordFilePathData,
  process_registration_params: processRegistrationParamsData,
  process_task_creation_params: processTaskCreationParamsData,
  process_user_phone: phoneData,
  customize_autodistribution: customizeAutodistributionData,
  post_registration: postRegistrationData,
  customize_show_call_card: customizeShowCallCardData,
  customize_attach_record_url: customizeAttachRecordUrlData,
} satisfies { [H in HookName]: z.ZodType };

export type HookInput<H extends HookName> = z.infer<(typeof inputSchemas)[H]>;
export type HookData<H extends HookName> = z.infer<(typeof dataSchemas)[H]>;

// ---- Chaining rules (docs/hooks.md, "Chaining")

export type Kind = "gate" | "transform" | "fields" | "effect";

export interface HookRule {
  kind: Kind;
  cancellable: boolean;
  /** one plugin run's limit when neither plugin.json nor the host config sets one */
  defaultTimeoutMs: number;
  /** the whole chain's time when the host config sets none (the most it may set, for the record hook) */
  budgetMs: number;
  initial(input: Record<string, unknown>): Record<string, unknown>;
  /** What a plugin sees on top of the connector's input: it gets `{ ...input, ...overlay(data) }`, built inside its sandbox. */
  overlay(data: Record<string, unknown>): Record<string, unknown>;
  fold(data: Record<string, unknown>, result: Record<string, unknown>): Record<string, unknown>;
  stops(data: Record<string, unknown>): boolean;
  /** Final shaping: inputs-only keys dropped, values in the form the connector documents. */
  finalize(data: Record<string, unknown>): Record<string, unknown>;
}

/** The connector waits a fixed 10 s for the record hook; the last second is the shim's, the network's and the upload's. */
export const RECORD_CHAIN_BUDGET_MS = 9000;
/**
 * Every other hook: the connector's customization timeout is a setting whose value is not
 * documented; the shim waits 2500 ms by default, and the host answers within 2000 ms of that.
 */
export const CHAIN_BUDGET_MS = 2000;

type Obj = Record<string, unknown>;

const POLLUTING_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** A copy of `obj` without prototype-polluting keys, `undefined` values and the `dropped` keys. */
function clean(obj: Obj, dropped: readonly string[] = []): Obj {
  const out: Obj = {};
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (POLLUTING_KEYS.has(key) || dropped.includes(key) || value === undefined) continue;
    out[key] = value;
  }
  return out;
}

function asObject(v: unknown): Obj {
  return isPlainObject(v) ? v : {};
}

/** The keys of `input` among `keys` that it actually carries. */
function pick(input: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const key of keys) if (input[key] !== undefined) out[key] = input[key];
  return out;
}

// call_full and call_stage are inputs only: never in data, whatever a plugin returns.
const mergeShallow = (data: Obj, result: Obj): Obj => ({ ...data, ...clean(result, INPUT_ONLY_KEYS) });
const inputOnly = (): Obj => ({});
const rootKeysOverlay = (data: Obj): Obj => clean(data, INPUT_ONLY_KEYS);
const never = (): boolean => false;
const finalizeCommon = (data: Obj): Obj => clean(data, INPUT_ONLY_KEYS);

/** Fields whose documented form the answer is given in, and how each is converted to it. */
type AnswerForms = Record<string, (v: unknown) => unknown>;
/** Final shaping with conversions: the connector's own values go back in its documented form too. */
function finalizeWith(forms: AnswerForms) {
  return (data: Obj): Obj => {
    const out = finalizeCommon(data);
    for (const [key, convert] of Object.entries(forms)) if (key in out) out[key] = convert(out[key]);
    return out;
  };
}

const FINAL_PARAMS_KEYS = ["ADD_TO_CHAT", "CALL_ID", "DURATION", "STATUS_CODE", "USER_ID"] as const;
const REGISTRATION_KEYS = Object.keys(registrationParams);
const AUTODISTRIBUTION_READ_ONLY = ["from", "user", "entity", "error"] as const;
const AUTODISTRIBUTION_DROPPED = [...INPUT_ONLY_KEYS, ...AUTODISTRIBUTION_READ_ONLY];
/** Asterisk shows at most 20 characters of a CallerID name. */
const CALLER_NAME_MAX = 20;

const fieldsRule = (cancellable: boolean, defaultTimeoutMs: number): HookRule => ({
  kind: "fields",
  cancellable,
  defaultTimeoutMs,
  budgetMs: CHAIN_BUDGET_MS,
  initial: () => ({}),
  overlay: inputOnly,
  fold: mergeShallow,
  stops: never,
  finalize: finalizeCommon,
});

const phoneRule: HookRule = {
  kind: "transform",
  cancellable: false,
  defaultTimeoutMs: 1000,
  budgetMs: CHAIN_BUDGET_MS,
  initial: (input) => ({ phone: input.phone }),
  overlay: (data) => ({ phone: data.phone }),
  fold: (_data, result) => clean(result, INPUT_ONLY_KEYS), // replace
  stops: never,
  finalize: finalizeCommon,
};

const rootKeysRule = (
  cancellable: boolean,
  defaultTimeoutMs: number,
  initial: (input: Obj) => Obj,
  forms: AnswerForms = {},
  budgetMs = CHAIN_BUDGET_MS,
): HookRule => ({
  kind: "transform",
  cancellable,
  defaultTimeoutMs,
  budgetMs,
  initial,
  overlay: rootKeysOverlay,
  fold: mergeShallow,
  stops: never,
  finalize: finalizeWith(forms),
});

export const rules: { [H in HookName]: HookRule } = {
  customize_activity: fieldsRule(true, 2000),
  customize_entity: fieldsRule(true, 2000),
  need_registration: {
    kind: "gate",
    cancellable: false,
    defaultTimeoutMs: 1000,
    budgetMs: CHAIN_BUDGET_MS,
    initial: () => ({ result: true }),
    overlay: inputOnly,
    fold: (data, result) => ({ ...mergeShallow(data, result), result: data.result !== false && result.result !== false }),
    stops: (data) => data.result === false,
    finalize: finalizeCommon,
  },
  process_client_phone: phoneRule,
  process_final_params: rootKeysRule(true, 2000, (input) => pick(input, FINAL_PARAMS_KEYS), { ADD_TO_CHAT: toFlag, CALL_ID: toStringId, STATUS_CODE: toStringId }),
  process_originate_params: {
    kind: "transform",
    cancellable: false,
    defaultTimeoutMs: 2000,
    budgetMs: CHAIN_BUDGET_MS,
    initial: (input) => clean(asObject(input.params), INPUT_ONLY_KEYS), // the answer is flat
    overlay: (data) => ({ params: clean(data, INPUT_ONLY_KEYS) }),
    fold: mergeShallow,
    stops: never,
    finalize: finalizeCommon,
  },
  // Each plugin may use what is left of the chain's budget: converting a long recording takes seconds.
  // Only the path is answered: legacy input fields (conversation, call) are never echoed back.
  process_record_file_path: rootKeysRule(false, RECORD_CHAIN_BUDGET_MS, (input) => pick(input, ["file_path"]), {}, RECORD_CHAIN_BUDGET_MS),
  process_registration_params: rootKeysRule(true, 2000, (input) => pick(input, REGISTRATION_KEYS), { CRM_CREATE: toFlag, SHOW: toFlag }),
  process_task_creation_params: {
    kind: "transform",
    cancellable: true,
    defaultTimeoutMs: 2000,
    budgetMs: CHAIN_BUDGET_MS,
    initial: (input) => ({ fields: clean(asObject(input.fields)) }),
    overlay: (data) => ({ fields: { ...asObject(data.fields) } }),
    fold: (data, result) => ({
      ...mergeShallow(data, result),
      fields: { ...asObject(data.fields), ...clean(asObject(result.fields)) },
    }),
    stops: never,
    finalize: finalizeCommon,
  },
  process_user_phone: phoneRule,
  customize_autodistribution: {
    kind: "transform",
    cancellable: false,
    defaultTimeoutMs: 800, // a caller is waiting
    budgetMs: CHAIN_BUDGET_MS,
    initial: (input) => pick(input, ["number", "name"]),
    // read-only keys always come from the connector's input, never from a plugin
    overlay: (data) => pick(data, ["number", "name"]),
    fold: (data, result) => ({ ...data, ...clean(result, AUTODISTRIBUTION_DROPPED) }),
    stops: never,
    finalize: (data) => {
      const out = clean(data, AUTODISTRIBUTION_DROPPED);
      if (typeof out.name === "string") out.name = Array.from(out.name).slice(0, CALLER_NAME_MAX).join("");
      return out;
    },
  },
  post_registration: {
    kind: "effect",
    cancellable: false,
    defaultTimeoutMs: 2000,
    budgetMs: CHAIN_BUDGET_MS,
    initial: () => ({}),
    overlay: inputOnly,
    fold: (data) => ({ ...data }), // results are ignored; every plugin runs for its side effects
    stops: never,
    finalize: finalizeCommon,
  },
  customize_show_call_card: rootKeysRule(true, 2000, (input) => pick(input, ["CALL_ID", "USER_ID"]), { CALL_ID: toStringId }),
  customize_attach_record_url: rootKeysRule(true, 2000, (input) => pick(input, ["DESCRIPTION", "DESCRIPTION_TYPE"])),
};
