// The host side of a capability: what every `ctx.<capability>.<method>(...)` call from a hook
// script arrives as. Arguments are plain JSON values copied out of the sandbox, never trusted:
// each method validates them itself. The value it resolves with is copied back as JSON.

/** Who is calling and how long they have; built by the sandbox for each call. */
export interface CapabilityCall {
  tenant: string;
  plugin: string;
  hook: string;
  /** The tenant's `recordsDir` from the host config, when it has one. */
  recordsDir?: string;
  /** The plugin's `allowHosts` grant (exact host names). */
  allowHosts: string[];
  /** Epoch ms at which the hook run's time limit ends; the call must settle before it. */
  deadline: number;
  /** Aborted when the run ends early (timeout, sandbox disposed): stop work and clean up. */
  signal: AbortSignal;
  /** The same object for every call of one hook run (each call has its own signal): what per-run limits count by. */
  run: object;
}

/** An error whose message is meant for the plugin author; anything else is reported as "internal". */
export class CapabilityError extends Error {
  override name = "CapabilityError";
}

export type CapabilityMethod = (call: CapabilityCall, args: unknown[]) => Promise<unknown>;
export type Capability = Record<string, CapabilityMethod>;
