// The messages between the front and its lanes, over child_process IPC with 'advanced'
// serialization (structured clone: objects and Dates cross as they are, no framing code). Measured
// beside JSON IPC and a unix socket with length-prefixed JSON frames: README "Lanes".
import type { ChainResult } from "../chain.js";
import type { HostConfig } from "../config.js";
import type { FolderResult } from "../discovery.js";
import type { SourceProblem } from "../compile.js";
import type { MemoryReading, PluginCode } from "../../sandbox/index.js";
import type { ShadowTally, StoppedTrial } from "../registry.js";
import type { RunsQuery } from "../runs.js";
import type { ChainRequest } from "./dispatch.js";

/** How often a lane tells the front it is alive (and what its sandboxes hold). */
export const BEAT_MS = 100;
/** The lane's descriptor for its watchdog's pipe to the front (after stdin, stdout, stderr and IPC). */
export const WATCH_FD = 4;
/** How often the watchdog looks at the main thread's sync call. */
export const WATCH_TICK_MS = 50;

/**
 * A line the lane's watchdog writes to the front (core/lanes/watchdog.ts), as JSON. `chain` is the
 * id of the run message whose chain made the sync call (0: none given; a shadow run, made after
 * its chain was answered, names that chain).
 */
export type WatchLine =
  /** the main thread is running a plugin synchronously, within its time: it cannot beat meanwhile */
  | { type: "busy" }
  /** V8 failed fatally in a plugin's sync call and parked the main thread for good: the lane must be replaced at once */
  | { type: "fatal"; tenant: string; plugin: string; memoryMb: number; chain: number; message: string }
  /** a plugin's sync call is still running `pastMs` after its `limitMs`: V8 does not stop it, and the lane serves nobody meanwhile */
  | { type: "overdue"; tenant: string; plugin: string; chain: number; limitMs: number; pastMs: number };

/** What a lane is given when it starts: the whole state it serves, as the front has it now. */
export interface LaneInit {
  type: "init";
  lane: number;
  lanes: number;
  config: HostConfig;
  logLevel: string;
  served: FolderResult[];
  /** candidate folders the operator aborted or promoted */
  stopped: StoppedTrial[];
  disabled: { plugin: string; tenant: string; reason: string }[];
  /** plugins called async for a tenant (Registry.callAsync) */
  async: { plugin: string; tenant: string; reason: string }[];
}

export type FrontMessage =
  | LaneInit
  | ({ type: "run"; id: number } & ChainRequest)
  | { type: "serve"; result: FolderResult }
  | { type: "remove"; dir: string }
  | { type: "stopTrial"; trial: StoppedTrial }
  /** a read of the lane's recent runs (its tenants' rings) */
  | { type: "read"; id: number; query: RunsQuery }
  | { type: "config"; config: HostConfig }
  | { type: "disable"; plugin: string; tenant: string; reason: string }
  | { type: "callAsync"; plugin: string; tenant: string; reason: string }
  /** try a plugin's modules in a sandbox (discovery's load check) */
  | { type: "probe"; id: number; code: PluginCode; memoryMb: number }
  /** finish the chains in flight, free everything, exit */
  | { type: "stop" };

export type LaneMessage =
  /** its message handler is listening: the front sends init */
  | { type: "hello" }
  /** the chain's result, and the lane's sandboxes alive after it */
  | { type: "result"; id: number; result: ChainResult; alive: number }
  | { type: "failed"; id: number; error: string }
  /** alive and well, with what its sandboxes hold and what its shadow runs did */
  | { type: "beat"; alive: number; memory: MemoryReading; shadow: ShadowTally[] }
  /** the answer to a read */
  | { type: "answer"; id: number; answer: unknown }
  | { type: "unanswered"; id: number; error: string }
  /** a winston record of the lane's logger, to be written by the front's */
  | { type: "log"; level: string; message: string; fields: Record<string, unknown> }
  /** what the probe found wrong, if anything */
  | { type: "probed"; id: number; problem?: SourceProblem }
  /** a sandbox disabled itself: its thread may be stuck in V8 for good, so this lane must be replaced (no tenant: a probe's) */
  | { type: "fault"; plugin: string; tenant?: string; reason: string };
