// The plugin author's API: everything a hook script sees, as TypeScript types (CONTRACT §3, §5).
//
// Hook scripts are ES modules whose default export is the hook:
//
//   export default defineHook("process_client_phone", (input, ctx) => {
//     return { phone: input.phone.replace(/\D/g, "") };
//   });
//
// Typecheck a plugins folder with `tsc --noEmit -p plugins/tsconfig.json`; the host itself only
// strips the types. Input and data types are generated from the zod schemas the host validates
// with (core/hooks.ts; `npm run types`), so what compiles here is what the host accepts. Inputs are
// loose: a field the connector adds over versions, or a misspelt one, is typed `unknown` and must be
// checked before use. The file is self-contained on purpose: importing core/hooks.ts would make
// every type-check (hookhost check, an editor) derive the types from zod's declarations, seconds each.
//
// Everything in `declare global` below is a global in hook scripts (they cannot import from
// outside their folder).
// The same names are exported for tools that want to import them.

/** Marks the values `cancel()` makes; no other object can pose as one. */
declare const cancelBrand: unique symbol;

/** A data type that a `cancel()` value does not fit, for the hooks that cannot be cancelled. */
type NotCancel<T> = T & { readonly [cancelBrand]?: never };

// generated:hooks — `npm run types` renders this block from core/hooks.ts; edit that, not this
/**
 * The hooks whose `cancel()` stops the CRM request that follows them (spec/hooks.md §6, the
 * `cancel()` column; the host's `rules[hook].cancellable`). Elsewhere a cancel is traced `invalid`.
 */
type CancellableHookName =
  | "customize_activity"
  | "customize_entity"
  | "process_final_params"
  | "process_registration_params"
  | "process_task_creation_params"
  | "customize_show_call_card"
  | "customize_attach_record_url";
/** Each hook's input: z.infer of its schema in `inputSchemas`. */
interface Inputs {
  customize_activity: {
    [x: string]: unknown;
    activity: Activity;
    call_full: CallFull;
  };
  customize_entity: {
    [x: string]: unknown;
    call_full: CallFull;
  };
  need_registration: {
    [x: string]: unknown;
    call_full: CallFull;
    call_stage: string;
  };
  process_client_phone: {
    [x: string]: unknown;
    phone: string;
    call_full: CallFull;
    call_stage: string;
  };
  process_final_params: {
    [x: string]: unknown;
    CALL_ID: string | number;
    DURATION: number;
    STATUS_CODE: string | number;
    USER_ID: number;
    call_full: CallFull;
    ADD_TO_CHAT?: boolean | 0 | 1 | undefined;
  };
  process_originate_params: {
    [x: string]: unknown;
    params: {
      [x: string]: unknown;
      channel: string;
      context: string;
      extension: string;
      caller_id?: string | undefined;
      priority?: string | undefined;
      request_data?: string | undefined;
    };
  };
  process_record_file_path: {
    [x: string]: unknown;
    file_path: string;
    call_full?: CallFull | undefined;
    call_stage?: string | undefined;
  };
  process_registration_params: {
    [x: string]: unknown;
    call_full: CallFull;
    call_stage: string;
    PHONE_NUMBER: string;
    TYPE: number;
    USER_ID: number;
    CALL_START_DATE?: string | undefined;
    CRM_CREATE?: boolean | 0 | 1 | undefined;
    CRM_SOURCE?: string | undefined;
    LINE_NUMBER?: string | undefined;
    SHOW?: boolean | 0 | 1 | undefined;
  };
  process_task_creation_params: {
    [x: string]: unknown;
    fields: TaskFields;
    call_full: CallFull;
  };
  process_user_phone: {
    [x: string]: unknown;
    phone: string;
    call_full: CallFull;
    call_stage: string;
  };
  customize_autodistribution: {
    [x: string]: unknown;
    number: string;
    name: string;
    from?: string | undefined;
    user?: AutodistributionUser | undefined;
    entity?: AutodistributionEntity | undefined;
    error?: string | undefined;
  };
  post_registration: {
    [x: string]: unknown;
    call_full: CallFull;
    call_stage: string;
  };
  customize_show_call_card: {
    [x: string]: unknown;
    CALL_ID: string | number;
    USER_ID: number | number[];
    call_full: CallFull;
    call_stage: string;
  };
  customize_attach_record_url: {
    [x: string]: unknown;
    DESCRIPTION: string;
    activity: Activity;
    call_full: CallFull;
    DESCRIPTION_TYPE?: number | undefined;
  };
}
/** What one plugin may return for each hook: z.infer of its schema in `dataSchemas`. */
interface Datas {
  customize_activity: {
    [x: string]: unknown;
  };
  customize_entity: {
    [x: string]: unknown;
  };
  need_registration: {
    [x: string]: unknown;
    result: boolean;
  };
  process_client_phone: {
    [x: string]: unknown;
    phone: string;
  };
  process_final_params: {
    [x: string]: unknown;
    ADD_TO_CHAT?: 0 | 1 | undefined;
    CALL_ID?: string | undefined;
    DURATION?: number | undefined;
    STATUS_CODE?: string | undefined;
    USER_ID?: number | undefined;
  };
  process_originate_params: {
    [x: string]: unknown;
    caller_id?: string | undefined;
    channel?: string | undefined;
    context?: string | undefined;
    extension?: string | undefined;
    priority?: string | undefined;
    request_data?: string | undefined;
  };
  process_record_file_path: {
    [x: string]: unknown;
    file_path?: string | undefined;
  };
  process_registration_params: {
    [x: string]: unknown;
    CALL_START_DATE?: string | undefined;
    CRM_CREATE?: 0 | 1 | undefined;
    CRM_SOURCE?: string | undefined;
    LINE_NUMBER?: string | undefined;
    PHONE_NUMBER?: string | undefined;
    SHOW?: 0 | undefined;
    TYPE?: 2 | 1 | undefined;
    USER_ID?: number | undefined;
  };
  process_task_creation_params: {
    [x: string]: unknown;
    fields: TaskFields;
  };
  process_user_phone: {
    [x: string]: unknown;
    phone: string;
  };
  customize_autodistribution: {
    [x: string]: unknown;
    number?: string | undefined;
    name?: string | undefined;
  };
  post_registration: unknown;
  customize_show_call_card: {
    [x: string]: unknown;
    CALL_ID?: string | undefined;
    USER_ID?: number | number[] | undefined;
  };
  customize_attach_record_url: {
    [x: string]: unknown;
    DESCRIPTION?: string | undefined;
    DESCRIPTION_TYPE?: number | undefined;
  };
}
// end generated:hooks

/** post_registration's data is ignored (`unknown` in the schema): any object will do there. */
type DataOf<H extends HookName> = unknown extends Datas[H] ? Record<string, unknown> : Datas[H];

type Awaitable<T> = T | Promise<T>;

declare global {
  // generated:globals — `npm run types` renders this block from core/hooks.ts; edit that, not this
  /** The 14 hook names; a hook script's file is named `<hook>.ts` (or `.js`, `.mjs`). */
  type HookName =
    | "customize_activity"
    | "customize_entity"
    | "need_registration"
    | "process_client_phone"
    | "process_final_params"
    | "process_originate_params"
    | "process_record_file_path"
    | "process_registration_params"
    | "process_task_creation_params"
    | "process_user_phone"
    | "customize_autodistribution"
    | "post_registration"
    | "customize_show_call_card"
    | "customize_attach_record_url";
  /** The `call_stage` values the connector sends; the schemas take any string, as a new stage must not be refused. */
  type Stage = "conversation_requested" | "conversation_accepted" | "conversation_ended" | "call_ended";
  /** "YYYY-MM-DD HH:MM:SS" in the PBX's local time; "0001-01-01 00:00:00" = has not happened. */
  type DateTime = string;
  type NumberInfo = {
    number: string;
    name: string;
  };
  type User = {
    id: number;
    name: string;
    email: string;
    position: string;
    phones: string[];
  };
  type Entity = {
    id: string;
    is_new: boolean;
    name: string;
    phones: string[];
    raw: Record<string, unknown>;
    responsible: User;
    responsible_id: string;
    type: "lead" | "contact" | "deal";
  };
  type Activity = Omit<Entity, "type"> & {
    type: "activity";
  };
  type Channel = {
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
  type Conversation = {
    channel: Channel;
    is_parked: boolean;
    user: User | null;
  };
  type Registration = {
    CALL_ID: string;
    CRM_ENTITY_TYPE: "LEAD" | "CONTACT" | "COMPANY";
    CRM_ENTITY_ID: number;
    CRM_CREATED_LEAD: number | null;
    CRM_CREATED_ENTITIES: {
      ENTITY_TYPE: string;
      ENTITY_ID: number;
    }[];
  };
  /** The call as the connector sees it, in every input except originate and autodistribution (spec §5). */
  type CallFull = {
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
  type TaskFields = {
    [field: string]: unknown;
    CREATED_BY?: number;
    DEADLINE?: string;
    RESPONSIBLE_ID?: number;
    TITLE?: string;
    UF_CRM_TASK?: string[];
  };
  type AutodistributionUser = {
    id: number;
    phones: string[];
    name: string;
    email: string;
    position: string;
  };
  type AutodistributionEntity = {
    type: string;
    id: number;
    name: string;
    responsible_id: number;
  };
  // end generated:globals

  /** What the hook receives: the connector's input, with earlier plugins' results applied (spec §6). */
  type HookInput<H extends HookName> = Inputs[H];
  /** What one plugin may return for the hook (keys it leaves out keep the chained value, spec §6). */
  type HookData<H extends HookName> = DataOf<H>;

  /** What `cancel()` returns; return it from a hook to cancel the CRM request that follows. */
  interface Cancel {
    readonly reason: string;
    readonly [cancelBrand]: true;
  }

  /**
   * What a hook function may return (or resolve with): the hook's data; nothing, `undefined` or
   * `null` for "no change"; or, where the hook allows it, `cancel(reason)`.
   */
  type HookResult<H extends HookName> = Awaitable<
    (H extends CancellableHookName ? HookData<H> | Cancel : NotCancel<HookData<H>>) | null | undefined | void
  >;

  /** Log lines carry tenant, plugin, hook and request id; `fields` must be JSON (≤ 16 KiB). */
  interface HookLog {
    debug(message: string, fields?: Record<string, unknown>): void;
    info(message: string, fields?: Record<string, unknown>): void;
    warn(message: string, fields?: Record<string, unknown>): void;
    error(message: string, fields?: Record<string, unknown>): void;
  }

  /** `ctx.records`, present only with `"records": true` in plugin.json (CONTRACT §5). */
  interface RecordsCapability {
    /**
     * Converts a recording inside the tenant's `recordsDir` with lame or ffmpeg, outside the
     * sandbox, and resolves with the new file's path (beside the source; the source is kept).
     * Rejects when the file is outside `recordsDir`, the encoder fails, or the hook's time runs out.
     */
    convert(path: string, options: { format: "mp3"; /** 8–320, default 32 */ bitrateKbps?: number }): Promise<string>;
  }

  interface HttpRequestInit {
    /** GET (default), POST, PUT, PATCH, DELETE or HEAD. */
    method?: string;
    /** Host, Content-Length and the other framing headers are refused. */
    headers?: Record<string, string>;
    /** A string is sent as is; an object or array as JSON (Content-Type defaults to application/json). */
    body?: string | Record<string, unknown> | unknown[];
  }

  interface HttpResponse {
    status: number;
    headers: Record<string, string>;
    /** The body as UTF-8; a gzip, deflate or br body is decoded first. */
    text: string;
    /** The parsed body, when it is JSON. */
    json?: unknown;
  }

  /** `ctx.http`, present only when plugin.json lists `allowHosts` (CONTRACT §5). */
  interface HttpCapability {
    /**
     * An HTTP(S) request to one of the plugin's `allowHosts`; redirects are followed only within
     * them. Rejects on any other host, a response body over 1 MiB (decoded), an encoding other than
     * gzip, deflate or br, or when the hook's time runs out.
     */
    fetch(url: string, init?: HttpRequestInit): Promise<HttpResponse>;
  }

  /** `ctx.store`, present only with `"store": true` in plugin.json (CONTRACT §5). */
  interface StoreCapability {
    /** The stored value, or `undefined` when the key is missing or expired. */
    get(key: string): Promise<unknown>;
    /** Stores a JSON value (≤ 64 KiB) for this tenant and plugin; `ttlSec` defaults to one day. */
    set(key: string, value: unknown, options?: { ttlSec?: number }): Promise<void>;
    /** Deleting a missing key is not an error. */
    delete(key: string): Promise<void>;
  }

  /** The hook's second argument. Frozen: a hook cannot change it. */
  interface HookContext<H extends HookName = HookName> {
    readonly tenant: string;
    readonly hook: H;
    /** The plugin's name (plugin.json `name`, else its folder's). */
    readonly plugin: string;
    /** plugin.json `config` with the tenant's overrides merged over it; unchecked, so check it. */
    readonly config: Record<string, unknown>;
    /** The chained data so far: the hook's default, then each earlier plugin's result folded in. */
    readonly data: HookData<H>;
    readonly log: HookLog;
    /** Only with `"records": true` in plugin.json; absent otherwise. */
    readonly records?: RecordsCapability;
    /** Only when plugin.json lists `allowHosts`; absent otherwise. */
    readonly http?: HttpCapability;
    /** Only with `"store": true` in plugin.json; absent otherwise. */
    readonly store?: StoreCapability;
  }

  /**
   * A hook function, for scripts that do without defineHook:
   * `const hook: Hook<"need_registration"> = (input, ctx) => …; export default hook;`
   */
  type Hook<H extends HookName> = (input: HookInput<H>, ctx: HookContext<H>) => HookResult<H>;

  /** Returns `fn` unchanged; gives `input`, `ctx` and the result the types of hook `name`. */
  function defineHook<H extends HookName>(name: H, fn: Hook<NoInfer<H>>): Hook<H>;

  /** A value to return from a cancellable hook: the chain stops and the CRM request is not made. */
  function cancel(reason?: string): Cancel;
}

export type HookName = globalThis.HookName;
export type HookInput<H extends HookName> = globalThis.HookInput<H>;
export type HookData<H extends HookName> = globalThis.HookData<H>;
export type CallFull = globalThis.CallFull;
export type Cancel = globalThis.Cancel;
export type HookResult<H extends HookName> = globalThis.HookResult<H>;
export type HookContext<H extends HookName = HookName> = globalThis.HookContext<H>;
export type Hook<H extends HookName> = globalThis.Hook<H>;
