import { readdirSync, readFileSync } from "node:fs";

// A host with lanes is a tree of processes: the front and its lane processes. Every figure here
// is the sum over the process and its descendants (RSS summed counts shared pages once per process).

/** Resident memory of a process and its descendants, in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  return tree(pid).reduce((sum, p) => sum + ownRss(p), 0);
}

/** CPU time a process and its live descendants have used so far (all threads, user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  return tree(pid).reduce((sum, p) => sum + ownCpuSeconds(p), 0);
}

function ownRss(pid: number): number {
  const text = readOrEmpty(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  // a descendant that exited between the listing and the read counts as nothing
  if (!match) {
    if (text === "" || /^State:\s+Z/m.test(text)) return 0;
    throw new Error(`no VmRSS in /proc/${pid}/status`);
  }
  return Number(match[1]) * 1024;
}

function ownCpuSeconds(pid: number): number {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  if (stat === "") return 0;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.split(") ")[1].split(" ");
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux this runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** `pid` and its descendants, from each thread's /proc/<pid>/task/<tid>/children. */
function tree(pid: number): number[] {
  if (readOrEmpty(`/proc/${pid}/stat`) === "") throw new Error(`no process ${pid}`);
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const task of tasks) for (const child of readOrEmpty(`/proc/${p}/task/${task}/children`).split(" ").filter(Boolean)) visit(Number(child));
  };
  visit(pid);
  return out;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Samples a process's RSS every 100 ms until stopped; the largest sample is what a run reports. */
export function sampleRss(pid: number): { stop(): { maxBytes: number; lastBytes: number } } {
  let maxBytes = rssBytes(pid);
  let lastBytes = maxBytes;
  const timer = setInterval(() => {
    try {
      lastBytes = rssBytes(pid);
      maxBytes = Math.max(maxBytes, lastBytes);
    } catch {
      // the process is gone; its last sample stands
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return { maxBytes, lastBytes };
    },
  };
}
