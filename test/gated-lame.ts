// A lame that waits at a gate before it runs the real one with the same arguments, so a test can
// hold conversions in flight (and act between the host's check and the encoder's start).
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import * as source from "../capabilities/records.js";
import { built } from "./dist.js";

// A host started in this process runs the compiled modules (dist/), whose encoder lookup is not the
// source's: both are reset, or an in-process host keeps the lame it found before the gate.
const compiled = (await import(pathToFileURL(built("capabilities/records.js")).href)) as typeof source;
function resetEncoderLookup(): void {
  source.resetEncoderLookup();
  compiled.resetEncoderLookup();
}

export interface Gate {
  /** Encoders that have started (and waited at the gate, while it was shut). */
  started(): number;
  open(): void;
  /** Puts PATH back and opens the gate, so nothing stays waiting. */
  remove(): void;
}

/** Installs the gated lame first on PATH (the encoder lookup is reset); `dir` holds its files. */
export function installGatedLame(dir: string): Gate {
  const bin = path.join(dir, "gated-bin");
  const marks = path.join(dir, "gated-marks");
  const opened = path.join(dir, "gate-open");
  fs.mkdirSync(bin);
  fs.mkdirSync(marks);
  fs.writeFileSync(
    path.join(bin, "lame"),
    `#!/bin/sh\ntouch "${marks}/$$"\nwhile [ ! -e "${opened}" ]; do sleep 0.02; done\nexec /usr/bin/lame "$@"\n`,
    { mode: 0o755 },
  );
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}/usr/bin${path.delimiter}/bin`;
  resetEncoderLookup();
  const open = () => fs.writeFileSync(opened, "");
  return {
    started: () => fs.readdirSync(marks).length,
    open,
    remove() {
      open();
      process.env.PATH = saved;
      resetEncoderLookup();
    },
  };
}

/** Polls `condition` every 10 ms; throws naming `what` after `ms`. */
export async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}
