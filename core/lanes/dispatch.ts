import type { ChainOptions, ChainResult } from "../chain.js";
import type { LoadedPlugin } from "../discovery.js";
import type { HookName } from "../hooks.js";
import type { ShadowCounts } from "../rollout.js";
import type { DecidedRun, StoppedTrial } from "../registry.js";
import type { RunsReader } from "../runs.js";
import type { MemoryReading } from "../../sandbox/index.js";

/**
 * One hook request as it crosses to a lane: everything the lane's fold needs, in one message. The
 * input crosses as the JSON text it arrived as: a string copies in one piece, where an object is
 * walked on both sides, and the lane's sandboxes take it as text anyway.
 */
export interface ChainRequest extends ChainOptions {
  tenant: string;
  hook: HookName;
  inputJson: string;
  requestId: string;
  /** a chain taken over from a lane that died in this plugin's run: it goes on past that run */
  decided?: DecidedRun;
}

/** A read of the recent runs that no lane could answer: the lane died before it did, or is restarting. */
export class LaneUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LaneUnavailable";
  }
}

/** What the front's registry needs of the lanes: where chains run, and what to tell them when plugins or config change. */
export interface LaneDispatch {
  /** runs the request's chain in the tenant's lane; `input` (parsed) and `plugins` (the chain's names) make the answer if the lane dies */
  run(request: ChainRequest, input: Record<string, unknown>, plugins: string[]): Promise<ChainResult>;
  /** a folder now serves this version (a fresh load, a rollback or a promotion) */
  serve(dir: string, folder: string, plugin: LoadedPlugin): void;
  remove(dir: string): void;
  /** a candidate folder stops running until it is served anew */
  stopTrial(trial: StoppedTrial): void;
  /** the host config changed */
  reconfigure(): void;
  /** runs of this plugin for this tenant fail with `reason` until it is reloaded */
  disable(plugin: string, tenant: string, reason: string): void;
  /** this plugin is called async for this tenant until it is reloaded */
  callAsync(plugin: string, tenant: string, reason: string): void;
  /** the recent runs, each tenant's from its lane; a read rejects with LaneUnavailable when its lane cannot answer */
  readonly runs: RunsReader;
  /** what the shadow runs of a candidate folder's version did, summed over the lanes (as of their last heartbeat) */
  shadowCounts(dir: string, version: string): ShadowCounts;
  readonly sandboxesAlive: number;
  sandboxMemory(): MemoryReading;
}
