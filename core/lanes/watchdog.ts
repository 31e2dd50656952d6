// The lane's watchdog: a worker thread that sees what the lane's main thread cannot report itself.
// A lane calls its isolates synchronously, on its main thread; a fatal V8 error there parks that
// thread for good (isolated-vm's catastrophic-error callback, which runs on it, never comes), and
// code V8 does not stop holds it past its time limit. The main thread writes which tenant ×
// plugin it is running, for which chain, and until when, into shared memory around each sync
// call; the worker reads it and writes lines to the front on a pipe of its own (the IPC channel
// is the main thread's). The front then replaces the lane and takes the chain over.
import { Worker } from "node:worker_threads";
import type { RunMeta, SyncWatch } from "../../sandbox/index.js";
import { WATCH_FD, WATCH_TICK_MS } from "./protocol.js";

/**
 * How long a sync call may run past its time limit before its lane is given up. isolated-vm stops
 * a run at its limit within a millisecond; one still running this much later is in a V8 loop that
 * ignores termination (V8 13.6: a giant array fill under memory pressure), and its lane serves
 * nobody until it ends. Long enough that a lane descheduled on a loaded machine is not mistaken.
 */
export const OVERDUE_MS = 500;

// Plain JavaScript, evaluated in the worker (a CommonJS script): the same from source and from dist/.
// state: [sequence number of the sync call, its tenant × plugin id (0: none running), its deadline,
// its chain (0: none), the ms it was given]
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const { readFileSync, writeSync } = require("node:fs");
const { fd, pid, tickMs, overdueMs } = workerData;
const state = new Float64Array(workerData.state);
const names = new Map();
parentPort.on("message", ([id, tenant, plugin, memoryMb]) => names.set(id, { tenant, plugin, memoryMb }));
// the front gone (EPIPE): the lane exits on its own when IPC disconnects
const tell = (line) => { try { writeSync(fd, JSON.stringify(line) + "\\n"); } catch {} };
// A thread isolated-vm parks sleeps in a loop that never ends (its OOM handler, and its suspend of
// a thread that ignored termination); a thread running plugin code, or waiting on a lock, does not.
const parked = () => { try { return /nanosleep/.test(readFileSync("/proc/self/task/" + pid + "/wchan", "utf8")); } catch { return false; } };
let seen = -1, parkedTicks = 0, told = -1;
setInterval(() => {
  const seq = state[0], id = state[1], deadline = state[2], chain = state[3], limitMs = state[4];
  if (id === 0 || state[0] !== seq || state[1] !== id) { seen = -1; parkedTicks = 0; return; }
  // a call shorter than a tick is nobody's business
  if (seq !== seen) { seen = seq; parkedTicks = 0; return; }
  if (told === seq) return;
  const now = Date.now();
  const who = names.get(id) ?? { tenant: "?", plugin: "?", memoryMb: 0 };
  parkedTicks = parked() ? parkedTicks + 1 : 0;
  // parked before its time limit: only V8's fatal out-of-memory path does that
  if (parkedTicks >= 2 && now <= deadline) {
    told = seq;
    tell({ type: "fatal", ...who, chain, message: "Catastrophic out-of-memory error" });
  } else if (now > deadline + overdueMs) {
    told = seq;
    tell({ type: "overdue", tenant: who.tenant, plugin: who.plugin, chain, limitMs, pastMs: now - deadline });
  } else {
    // the main thread cannot beat while it runs a plugin within its time: the watchdog vouches for it
    tell({ type: "busy" });
  }
}, tickMs);
`;

/** Starts the watchdog; `watch(tenant, plugin, memoryMb)` gives what a sandbox of theirs marks its sync calls with. */
export function startWatchdog(): { watch(tenant: string, plugin: string, memoryMb: number): SyncWatch } {
  const state = new Float64Array(new SharedArrayBuffer(5 * Float64Array.BYTES_PER_ELEMENT));
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { state: state.buffer, fd: WATCH_FD, pid: process.pid, tickMs: WATCH_TICK_MS, overdueMs: OVERDUE_MS },
  });
  // the lane's exit is not held up by its watchdog
  worker.unref();
  const ids = new Map<string, number>();
  return {
    watch(tenant, plugin, memoryMb) {
      const key = JSON.stringify([tenant, plugin, memoryMb]);
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = ids.size + 1));
        worker.postMessage([id, tenant, plugin, memoryMb]);
      }
      const running = id;
      return {
        enter(deadline: number, limitMs: number, meta: RunMeta) {
          // the worker checks the id and sequence number again after reading the rest
          state[1] = 0;
          state[0]++;
          state[2] = deadline;
          state[3] = meta.chain ?? 0;
          state[4] = limitMs;
          state[1] = running;
        },
        leave() {
          state[1] = 0;
        },
      };
    },
  };
}
