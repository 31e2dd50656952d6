import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createRecordsCapability } from "../capabilities/records.js";
import { type CapabilityCall, CapabilityError } from "../sandbox/capability.js";
import { installGatedLame, until, type Gate } from "./gated-lame.js";
import { fixture, pluginsDir, startTestHost } from "./support.js";
import { callLikeWav } from "./wav.js";

// Records, time of check to time of use (issue 11, item 12): whatever is swapped for a symlink
// (or a FIFO) after the path was checked, the encoder never reads or writes outside recordsDir.
// A gated lame holds each conversion after the check, while the test swaps something.

const CHANGED = /^"[^"]+" or its folder changed while it was being converted$/;
const KBPS = 32;

let root: string;
let recordsDir: string;
let outsideDir: string;
let gate: Gate;

/** Seconds of audio in an mp3 of ours: its size at the constant bitrate. */
const seconds = (file: string) => (fs.statSync(file).size * 8) / (KBPS * 1000);

const listing = (dir: string): string[] => fs.readdirSync(dir, { recursive: true }).map(String).sort();

function call(overrides: Partial<CapabilityCall> = {}): CapabilityCall {
  return {
    tenant: "acme",
    plugin: "mp3",
    hook: "process_record_file_path",
    recordsDir,
    allowHosts: [],
    deadline: Date.now() + 20_000,
    signal: new AbortController().signal,
    run: {},
    ...overrides,
  };
}

async function refused(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CapabilityError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

describe("records: a path swapped between the check and the encoder", function () {
  const wav20 = callLikeWav(20);
  const secret60 = callLikeWav(60);
  const mp3 = { format: "mp3", bitrateKbps: KBPS };

  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-swap-"));
    recordsDir = path.join(root, "records");
    outsideDir = path.join(root, "outside");
    for (const dir of [recordsDir, outsideDir, path.join(recordsDir, "sub")]) fs.mkdirSync(dir);
    fs.writeFileSync(path.join(recordsDir, "sub", "call.wav"), wav20);
    fs.writeFileSync(path.join(outsideDir, "call.wav"), secret60);
    fs.writeFileSync(path.join(outsideDir, "target.mp3"), "do not touch");
    gate = installGatedLame(root);
  });

  afterEach(function () {
    gate.remove();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const outsideUntouched = () => assert.deepEqual(listing(outsideDir), ["call.wav", "target.mp3"]);

  /** Starts a conversion of sub/call.wav, waits until its encoder is held at the gate, swaps, opens the gate. */
  async function convertWhileSwapping(swap: () => void): Promise<{ answer: Promise<unknown> }> {
    const records = createRecordsCapability({ maxConcurrent: 2 });
    const converting = records.convert(call(), ["sub/call.wav", mp3]);
    converting.catch(() => {});
    await until("the encoder started", () => gate.started() === 1);
    swap();
    gate.open();
    // Wrapped, so that awaiting this function does not await the conversion itself.
    return { answer: converting };
  }

  it("the file swapped for a symlink out: the encoder still reads the file that was checked", async function () {
    const { answer } = await convertWhileSwapping(() => {
      fs.rmSync(path.join(recordsDir, "sub", "call.wav"));
      fs.symlinkSync(path.join(outsideDir, "call.wav"), path.join(recordsDir, "sub", "call.wav"));
    });
    const mp3File = await answer;
    assert.equal(mp3File, path.join(recordsDir, "sub", "call.mp3"));
    const length = seconds(mp3File as string);
    assert.ok(Math.abs(length - 20) < 2, `the mp3 holds ${length.toFixed(1)} s: the 60 s secret was read, not the 20 s recording`);
    outsideUntouched();
  });

  it("the parent folder swapped for a symlink out: refused, nothing read or written outside, nothing left inside", async function () {
    const { answer } = await convertWhileSwapping(() => {
      fs.renameSync(path.join(recordsDir, "sub"), path.join(recordsDir, "moved"));
      fs.symlinkSync(outsideDir, path.join(recordsDir, "sub"));
    });
    await refused(answer, CHANGED);
    outsideUntouched();
    assert.deepEqual(listing(path.join(recordsDir, "moved")), ["call.wav"]);
  });

  it("the parent folder swapped before the source is opened (while waiting for an encoder): refused", async function () {
    const records = createRecordsCapability({ maxConcurrent: 1 });
    fs.writeFileSync(path.join(recordsDir, "first.wav"), wav20);
    const first = records.convert(call({ tenant: "globex" }), ["first.wav", mp3]);
    await until("the first encoder started", () => gate.started() === 1);
    const queued = records.convert(call(), ["sub/call.wav", mp3]);
    queued.catch(() => {});
    // The check takes a few ms; then the conversion waits for the only encoder. (On a machine so
    // busy that the swap comes first, the check itself refuses: just as safe.)
    await sleep(300);
    fs.renameSync(path.join(recordsDir, "sub"), path.join(recordsDir, "moved"));
    fs.symlinkSync(outsideDir, path.join(recordsDir, "sub"));
    gate.open();
    await first;
    await refused(queued, new RegExp(`${CHANGED.source}|^"sub/call\\.wav" is outside the tenant's recordsDir$`));
    outsideUntouched();
    assert.equal(gate.started(), 1, "no encoder ran for the swapped path");
  });

  it("the file swapped for a FIFO: refused at once, nothing hangs", async function () {
    const records = createRecordsCapability({ maxConcurrent: 1 });
    fs.writeFileSync(path.join(recordsDir, "first.wav"), wav20);
    const first = records.convert(call({ tenant: "globex" }), ["first.wav", mp3]);
    await until("the first encoder started", () => gate.started() === 1);
    const started = Date.now();
    const queued = records.convert(call({ deadline: started + 5000 }), ["sub/call.wav", mp3]);
    queued.catch(() => {});
    await sleep(300); // as above
    fs.rmSync(path.join(recordsDir, "sub", "call.wav"));
    execFileSync("mkfifo", [path.join(recordsDir, "sub", "call.wav")]);
    gate.open();
    await first;
    await refused(queued, new RegExp(`${CHANGED.source}|^"sub/call\\.wav" is not a regular file$`));
    assert.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);
  });

  it("the output swapped for a symlink out before it is put in place: refused, the link is removed, its target untouched", async function () {
    const { answer } = await convertWhileSwapping(() => {
      const sub = path.join(recordsDir, "sub");
      const temp = fs.readdirSync(sub).find((name) => name.endsWith(".tmp"));
      assert.ok(temp, "the output is created, empty, before the encoder starts");
      fs.rmSync(path.join(sub, temp));
      fs.symlinkSync(path.join(outsideDir, "target.mp3"), path.join(sub, temp));
    });
    await refused(answer, CHANGED);
    outsideUntouched();
    assert.equal(fs.readFileSync(path.join(outsideDir, "target.mp3"), "utf8"), "do not touch");
    assert.deepEqual(listing(path.join(recordsDir, "sub")), ["call.wav"]);
  });

  it("an mp3 name that is a symlink out is replaced, never written through", async function () {
    fs.symlinkSync(path.join(outsideDir, "target.mp3"), path.join(recordsDir, "sub", "call.mp3"));
    gate.open();
    const answer = await createRecordsCapability({ maxConcurrent: 1 }).convert(call(), ["sub/call.wav", mp3]);
    assert.equal(answer, path.join(recordsDir, "sub", "call.mp3"));
    assert.ok(fs.lstatSync(answer as string).isFile());
    assert.equal(fs.readFileSync(path.join(outsideDir, "target.mp3"), "utf8"), "do not touch");
  });

  it("through the host: a folder swapped while the encoder waits is refused and nothing outside is touched", async function () {
    const host = await startTestHost(
      pluginsDir({
        "mp3/plugin.json": { records: true },
        "mp3/process_record_file_path.js": `export default async (input, ctx) => {
          try { return { file_path: await ctx.records.convert(input.file_path, { format: "mp3", bitrateKbps: ${KBPS} }) }; }
          catch (e) { return { error: e.message }; }
        };`,
      }),
      { tenants: { acme: { recordsDir } } },
    );
    try {
      const answer = host.post("acme", "process_record_file_path", { ...fixture("process_record_file_path"), file_path: "sub/call.wav" });
      await until("the encoder started", () => gate.started() === 1);
      fs.renameSync(path.join(recordsDir, "sub"), path.join(recordsDir, "moved"));
      fs.symlinkSync(outsideDir, path.join(recordsDir, "sub"));
      gate.open();
      const { status, body } = await answer;
      assert.equal(status, 200);
      assert.match(body.data.error, /^ctx\.records\.convert: "sub\/call\.wav" or its folder changed while it was being converted$/);
      outsideUntouched();
    } finally {
      await host.close();
    }
  });
});
