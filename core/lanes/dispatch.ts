import type { ChainOptions, ChainResult } from "../chain.js";
import type { LoadedPlugin } from "../discovery.js";
import type { HookName } from "../hooks.js";
import type { MemoryReading } from "../../sandbox/index.js";

/** One hook request as it crosses to a lane: everything the lane's fold needs, in one message. */
export interface ChainRequest extends ChainOptions {
  tenant: string;
  hook: HookName;
  input: Record<string, unknown>;
  requestId: string;
}

/** What the front's registry needs of the lanes: where chains run, and what to tell them when plugins or config change. */
export interface LaneDispatch {
  /** runs the request's chain in the tenant's lane; `plugins` names the chain (for the answer if the lane dies) */
  run(request: ChainRequest, plugins: string[]): Promise<ChainResult>;
  /** a folder now serves this version */
  serve(dir: string, folder: string, plugin: LoadedPlugin): void;
  remove(dir: string): void;
  /** the host config changed */
  reconfigure(): void;
  /** runs of this plugin for this tenant fail with `reason` until it is reloaded */
  disable(plugin: string, tenant: string, reason: string): void;
  readonly sandboxesAlive: number;
  sandboxMemory(): MemoryReading;
}
