// The lane's watchdog: a worker thread that sees what the lane's main thread cannot report itself.
// A lane calls its isolates synchronously, on its main thread; a fatal V8 error there (or code V8
// does not stop) parks that thread for good, and isolated-vm's catastrophic-error callback, which
// runs on it, never comes. The main thread writes which tenant × plugin it is running, and until
// when, into shared memory around each sync call; the worker reads it and writes lines to the
// front on a pipe of its own (the IPC channel is the main thread's).
import { Worker } from "node:worker_threads";
import type { SyncWatch } from "../../sandbox/index.js";
import { WATCH_FD, WATCH_TICK_MS } from "./protocol.js";

/**
 * How long a sync call may run past its time limit (where isolated-vm stops it) before its lane is given up: the same grace
 * the sandbox gives a stopped run in async mode (it disables the plugin then, too).
 */
export const STUCK_AFTER_MS = 2000;

// Plain JavaScript, evaluated in the worker (a CommonJS script): the same from source and from dist/.
// state: [sequence number of the sync call, its tenant × plugin id (0: none running), its deadline]
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const { readFileSync, writeSync } = require("node:fs");
const { fd, pid, tickMs, stuckAfterMs } = workerData;
const state = new Float64Array(workerData.state);
const names = new Map();
parentPort.on("message", ([id, tenant, plugin]) => names.set(id, { tenant, plugin }));
// the front gone (EPIPE): the lane exits on its own when IPC disconnects
const tell = (line) => { try { writeSync(fd, JSON.stringify(line) + "\\n"); } catch {} };
// A thread isolated-vm parks sleeps in a loop that never ends (its OOM handler, and its suspend of
// a thread that ignored termination); a thread running plugin code, or waiting on a lock, does not.
const parked = () => { try { return /nanosleep/.test(readFileSync("/proc/self/task/" + pid + "/wchan", "utf8")); } catch { return false; } };
let seen = -1, parkedTicks = 0, told = -1;
setInterval(() => {
  const seq = state[0], id = state[1], deadline = state[2];
  if (id === 0 || state[0] !== seq || state[1] !== id) { seen = -1; parkedTicks = 0; return; }
  // a call shorter than a tick is nobody's business
  if (seq !== seen) { seen = seq; parkedTicks = 0; return; }
  if (told === seq) return;
  const now = Date.now();
  const who = names.get(id) ?? { tenant: "?", plugin: "?" };
  parkedTicks = parked() ? parkedTicks + 1 : 0;
  // parked before its time limit: only V8's fatal out-of-memory path does that
  if (parkedTicks >= 2 && now <= deadline) {
    told = seq;
    tell({ type: "stuck", ...who, reason: "V8 failed fatally in this plugin (Catastrophic out-of-memory error)" });
  } else if (now > deadline + stuckAfterMs) {
    told = seq;
    tell({ type: "stuck", ...who, reason: "V8 did not stop it (still running " + stuckAfterMs + " ms after being stopped)" });
  } else {
    // the main thread cannot beat while it runs a plugin within its time: the watchdog vouches for it
    tell({ type: "busy" });
  }
}, tickMs);
`;

/** Starts the watchdog; `watch(tenant, plugin)` gives what a sandbox of theirs marks its sync calls with. */
export function startWatchdog(): { watch(tenant: string, plugin: string): SyncWatch } {
  const state = new Float64Array(new SharedArrayBuffer(3 * Float64Array.BYTES_PER_ELEMENT));
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { state: state.buffer, fd: WATCH_FD, pid: process.pid, tickMs: WATCH_TICK_MS, stuckAfterMs: STUCK_AFTER_MS },
  });
  // the lane's exit is not held up by its watchdog
  worker.unref();
  const ids = new Map<string, number>();
  return {
    watch(tenant, plugin) {
      const key = JSON.stringify([tenant, plugin]);
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = ids.size + 1));
        worker.postMessage([id, tenant, plugin]);
      }
      const running = id;
      return {
        enter(deadline) {
          // the worker checks the id and sequence number again after reading the deadline
          state[1] = 0;
          state[0]++;
          state[2] = deadline;
          state[1] = running;
        },
        leave() {
          state[1] = 0;
        },
      };
    },
  };
}
