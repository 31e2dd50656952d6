// The plugin author's API: everything a hook script sees, as TypeScript types (CONTRACT §3, §5).
//
// Hook scripts are ES modules whose default export is the hook:
//
//   export default defineHook("process_client_phone", (input, ctx) => {
//     return { phone: input.phone.replace(/\D/g, "") };
//   });
//
// Typecheck a plugins folder with `tsc --noEmit -p plugins/tsconfig.json`; the host itself only
// strips the types. Input and data types come from the zod schemas the host validates with
// (core/hooks.ts), so what compiles here is what the host accepts. Inputs are loose: a field the
// connector adds over versions, or a misspelt one, is typed `unknown` and must be checked before use.
//
// Everything in `declare global` below is a global in hook scripts (they cannot import from
// outside their folder).
// The same names are exported for tools that want to import them.
import type {
  Activity as CoreActivity,
  AutodistributionEntity as CoreAutodistributionEntity,
  AutodistributionUser as CoreAutodistributionUser,
  CallFull as CoreCallFull,
  Channel as CoreChannel,
  Conversation as CoreConversation,
  DateTime as CoreDateTime,
  Entity as CoreEntity,
  HookData as CoreHookData,
  HookInput as CoreHookInput,
  HookName as CoreHookName,
  NumberInfo as CoreNumberInfo,
  Registration as CoreRegistration,
  Stage as CoreStage,
  TaskFields as CoreTaskFields,
  User as CoreUser,
} from "./core/hooks.js";

/** Marks the values `cancel()` makes; no other object can pose as one. */
declare const cancelBrand: unique symbol;

/** A data type that a `cancel()` value does not fit, for the hooks that cannot be cancelled. */
type NotCancel<T> = T & { readonly [cancelBrand]?: never };

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

/** post_registration's data is ignored (`unknown` in the schema): any object will do there. */
type DataOf<H extends CoreHookName> = unknown extends CoreHookData<H> ? Record<string, unknown> : CoreHookData<H>;

type Awaitable<T> = T | Promise<T>;

declare global {
  /** The 14 hook names; a hook script's file is named `<hook>.ts` (or `.js`, `.mjs`). */
  type HookName = CoreHookName;
  /** What the hook receives: the connector's input, with earlier plugins' results applied (spec §6). */
  type HookInput<H extends HookName> = CoreHookInput<H>;
  /** What one plugin may return for the hook (keys it leaves out keep the chained value, spec §6). */
  type HookData<H extends HookName> = DataOf<H>;

  /** The call as the connector sees it, in every input except originate and autodistribution (spec §5). */
  type CallFull = CoreCallFull;
  type Channel = CoreChannel;
  type Conversation = CoreConversation;
  type NumberInfo = CoreNumberInfo;
  type User = CoreUser;
  type Entity = CoreEntity;
  type Activity = CoreActivity;
  type Registration = CoreRegistration;
  /** "YYYY-MM-DD HH:MM:SS" in the PBX's local time; "0001-01-01 00:00:00" = has not happened. */
  type DateTime = CoreDateTime;
  /** conversation_requested · conversation_accepted · conversation_ended · call_ended */
  type Stage = CoreStage;
  type TaskFields = CoreTaskFields;
  type AutodistributionUser = CoreAutodistributionUser;
  type AutodistributionEntity = CoreAutodistributionEntity;

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

export type HookName = CoreHookName;
export type HookInput<H extends HookName> = CoreHookInput<H>;
export type HookData<H extends HookName> = DataOf<H>;
export type CallFull = CoreCallFull;
export type Cancel = globalThis.Cancel;
export type HookResult<H extends HookName> = globalThis.HookResult<H>;
export type HookContext<H extends HookName = HookName> = globalThis.HookContext<H>;
export type Hook<H extends HookName> = globalThis.Hook<H>;
