import { readFileSync } from "node:fs";

/** Resident memory of a process, in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** CPU time a process has used so far (all its threads, user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux this runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
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
