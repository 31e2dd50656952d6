import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRecordsCapability, resetEncoderLookup } from "../capabilities/records.js";
import { FairSemaphore } from "../capabilities/semaphore.js";
import { type CapabilityCall, CapabilityError } from "../sandbox/capability.js";
import { callLikeWav } from "./wav.js";

const TIME_LIMIT = /^conversion did not finish within the hook's time limit$/;

function isMp3Start(file: Buffer): boolean {
  const frameSync = file[0] === 0xff && (file[1]! & 0xe0) === 0xe0;
  return frameSync || file.subarray(0, 3).toString("latin1") === "ID3";
}

async function capabilityError(promise: Promise<unknown>, message: RegExp): Promise<CapabilityError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof CapabilityError, `expected a CapabilityError, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}

/** Runs `body` with PATH set to `dirs` and the encoder looked up afresh; restores both after. */
async function withPath<T>(dirs: string[], body: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = dirs.join(path.delimiter);
  resetEncoderLookup();
  try {
    return await body();
  } finally {
    process.env.PATH = saved;
    resetEncoderLookup();
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

function writeScript(file: string, body: string): void {
  // The fake runs with PATH set to the test dir; give it the usual tools back.
  fs.writeFileSync(file, `#!/bin/sh\nPATH=/usr/bin:/bin\n${body}\n`, { mode: 0o755 });
}

describe("records.convert", function () {
  let wav60: Buffer;
  let wav180: Buffer;
  let wav600: Buffer;
  let root: string;
  let recordsDir: string;
  let outsideDir: string;
  let binDir: string;
  const records = createRecordsCapability({ maxConcurrent: 4 });

  before(function () {
    wav60 = callLikeWav(60);
    wav180 = callLikeWav(180);
    wav600 = callLikeWav(600);
  });

  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-records-"));
    recordsDir = path.join(root, "records");
    outsideDir = path.join(root, "outside");
    binDir = path.join(root, "bin");
    for (const dir of [recordsDir, outsideDir, binDir]) fs.mkdirSync(dir);
    fs.writeFileSync(path.join(recordsDir, "call.wav"), wav60);
    resetEncoderLookup();
  });

  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

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

  const mp3 = { format: "mp3" };
  const tempFiles = (dir = recordsDir) => fs.readdirSync(dir).filter((name) => name.endsWith(".tmp"));

  describe("converting", function () {
    it("writes an mp3 beside the wav with lame, leaving the wav byte-identical and no temp file", async function () {
      const answer = await records.convert(call(), ["call.wav", mp3]);
      assert.equal(answer, path.join(recordsDir, "call.mp3"));
      const out = fs.readFileSync(answer as string);
      assert.ok(isMp3Start(out), `not an mp3 start: ${out.subarray(0, 4).toString("hex")}`);
      assert.ok(out.includes("LAME"), "expected lame's tag");
      assert.ok(out.length < wav60.length / 2, `mp3 is ${out.length} bytes`);
      assert.ok(fs.readFileSync(path.join(recordsDir, "call.wav")).equals(wav60), "the wav changed");
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.mp3", "call.wav"]);
    });

    it("encodes at 32 kbps by default", async function () {
      const answer = await records.convert(call(), ["call.wav", mp3]);
      const size = fs.statSync(answer as string).size;
      const expected = (60 * 32_000) / 8;
      assert.ok(Math.abs(size - expected) < expected * 0.05, `${size} bytes for 60 s at 32 kbps`);
    });

    it("honours bitrateKbps: a higher bitrate gives a bigger file", async function () {
      fs.copyFileSync(path.join(recordsDir, "call.wav"), path.join(recordsDir, "high.wav"));
      const low = await records.convert(call(), ["call.wav", { format: "mp3", bitrateKbps: 16 }]);
      const high = await records.convert(call(), ["high.wav", { format: "mp3", bitrateKbps: 64 }]);
      const lowSize = fs.statSync(low as string).size;
      const highSize = fs.statSync(high as string).size;
      assert.ok(highSize > lowSize * 3, `16 kbps: ${lowSize} bytes, 64 kbps: ${highSize} bytes`);
    });

    it("accepts absolute paths and subdirectories, answering an absolute path", async function () {
      fs.mkdirSync(path.join(recordsDir, "2024", "05"), { recursive: true });
      const source = path.join(recordsDir, "2024", "05", "in.call.wav");
      fs.writeFileSync(source, wav60);
      assert.equal(await records.convert(call(), [source, mp3]), path.join(recordsDir, "2024", "05", "in.call.mp3"));
      fs.rmSync(path.join(recordsDir, "2024", "05", "in.call.mp3"));
      assert.equal(
        await records.convert(call(), ["2024/../2024/05/in.call.wav", mp3]),
        path.join(recordsDir, "2024", "05", "in.call.mp3"),
      );
    });

    it("answers in the recordsDir's own spelling when it is a symlink", async function () {
      const link = path.join(root, "records-link");
      fs.symlinkSync(recordsDir, link);
      const answer = await records.convert(call({ recordsDir: link }), ["call.wav", mp3]);
      assert.equal(answer, path.join(link, "call.mp3"));
      assert.ok(fs.existsSync(path.join(recordsDir, "call.mp3")));
    });

    it("replaces an mp3 left by an earlier conversion", async function () {
      fs.writeFileSync(path.join(recordsDir, "call.mp3"), "stale");
      await records.convert(call(), ["call.wav", mp3]);
      assert.ok(isMp3Start(fs.readFileSync(path.join(recordsDir, "call.mp3"))));
    });
  });

  describe("finding the encoder on PATH", function () {
    it("uses ffmpeg when lame is not on PATH", async function () {
      fs.symlinkSync("/usr/bin/ffmpeg", path.join(binDir, "ffmpeg"));
      const answer = await withPath([binDir], () => records.convert(call(), ["call.wav", mp3]));
      const out = fs.readFileSync(answer as string);
      assert.equal(out.subarray(0, 3).toString("latin1"), "ID3", "ffmpeg writes an ID3 tag first");
      assert.ok(out.includes("Lavf"), "expected ffmpeg's encoder tag");
      assert.ok(out.length < wav60.length / 2);
      assert.ok(fs.readFileSync(path.join(recordsDir, "call.wav")).equals(wav60));
      assert.deepEqual(tempFiles(), []);
    });

    it("prefers lame when both are on PATH, and skips a lame that is not executable", async function () {
      const both = path.join(root, "both");
      fs.mkdirSync(both);
      fs.symlinkSync("/usr/bin/ffmpeg", path.join(both, "ffmpeg"));
      fs.symlinkSync("/usr/bin/lame", path.join(both, "lame"));
      const lame = await withPath([both], () => records.convert(call(), ["call.wav", mp3]));
      assert.ok(fs.readFileSync(lame as string).includes("LAME"));

      fs.writeFileSync(path.join(binDir, "lame"), "not a program", { mode: 0o644 });
      fs.symlinkSync("/usr/bin/ffmpeg", path.join(binDir, "ffmpeg"));
      const ffmpeg = await withPath([binDir], () => records.convert(call(), ["call.wav", mp3]));
      assert.equal(fs.readFileSync(ffmpeg as string).subarray(0, 3).toString("latin1"), "ID3");
    });

    it("refuses when neither lame nor ffmpeg is on PATH", async function () {
      await withPath([binDir, "relative/bin"], () =>
        capabilityError(records.convert(call(), ["call.wav", mp3]), /neither lame nor ffmpeg is on PATH/),
      );
      assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
    });

    it("searches PATH once and keeps the answer", async function () {
      await records.convert(call(), ["call.wav", mp3]);
      fs.rmSync(path.join(recordsDir, "call.mp3"));
      const saved = process.env.PATH;
      process.env.PATH = binDir;
      try {
        await records.convert(call(), ["call.wav", mp3]);
      } finally {
        process.env.PATH = saved;
      }
      assert.ok(fs.existsSync(path.join(recordsDir, "call.mp3")));
    });
  });

  describe("time limit", function () {
    it("refuses a deadline too short to finish, leaving nothing behind", async function () {
      fs.writeFileSync(path.join(recordsDir, "long.wav"), wav600);
      const started = Date.now();
      await capabilityError(records.convert(call({ deadline: started + 5 }), ["long.wav", mp3]), TIME_LIMIT);
      assert.ok(Date.now() - started < 500, `took ${Date.now() - started} ms`);
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.wav", "long.wav"]);
      assert.ok(fs.readFileSync(path.join(recordsDir, "long.wav")).equals(wav600));
    });

    it("kills an encoder still running at the deadline and removes its partial output", async function () {
      fs.writeFileSync(path.join(recordsDir, "long.wav"), wav600);
      let sawTemp = false;
      const watch = setInterval(() => (sawTemp ||= tempFiles().length > 0), 5);
      const started = Date.now();
      const deadline = started + 300;
      try {
        await capabilityError(records.convert(call({ deadline }), ["long.wav", mp3]), TIME_LIMIT);
      } finally {
        clearInterval(watch);
      }
      const settled = Date.now();
      assert.ok(sawTemp, "the encoder never started writing");
      assert.ok(settled - started >= 150, `gave up after ${settled - started} ms`);
      assert.ok(settled < deadline + 500, `settled ${settled - deadline} ms after the deadline`);
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.wav", "long.wav"]);
      assert.ok(fs.readFileSync(path.join(recordsDir, "long.wav")).equals(wav600));
    });

    it("kills the encoder when the run's signal aborts", async function () {
      fs.writeFileSync(path.join(recordsDir, "long.wav"), wav600);
      const run = new AbortController();
      const started = Date.now();
      setTimeout(() => run.abort(), 150);
      await capabilityError(records.convert(call({ signal: run.signal }), ["long.wav", mp3]), TIME_LIMIT);
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.wav", "long.wav"]);
    });

    it("refuses at once when the run has already ended", async function () {
      const run = new AbortController();
      run.abort();
      await capabilityError(records.convert(call({ signal: run.signal }), ["call.wav", mp3]), TIME_LIMIT);
      assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
    });
  });

  describe("which files", function () {
    beforeEach(function () {
      fs.writeFileSync(path.join(outsideDir, "secret.wav"), wav60);
    });

    const outside = /is outside the tenant's recordsDir$/;

    it("refuses ../ escapes", async function () {
      await capabilityError(records.convert(call(), ["../outside/secret.wav", mp3]), outside);
      await capabilityError(records.convert(call(), ["2024/../../outside/secret.wav", mp3]), outside);
    });

    it("refuses absolute paths elsewhere without saying whether they exist", async function () {
      await capabilityError(records.convert(call(), [path.join(outsideDir, "secret.wav"), mp3]), outside);
      await capabilityError(records.convert(call(), ["/no/such/dir/x.wav", mp3]), outside);
    });

    it("refuses a symlink inside recordsDir that points outside, to a file or a directory", async function () {
      fs.symlinkSync(path.join(outsideDir, "secret.wav"), path.join(recordsDir, "link.wav"));
      fs.symlinkSync(outsideDir, path.join(recordsDir, "linkdir"));
      await capabilityError(records.convert(call(), ["link.wav", mp3]), /^"link\.wav" is outside/);
      await capabilityError(records.convert(call(), ["linkdir/secret.wav", mp3]), outside);
      assert.deepEqual(fs.readdirSync(outsideDir), ["secret.wav"]);
    });

    it("follows a symlink that stays inside recordsDir, writing beside the real file", async function () {
      fs.mkdirSync(path.join(recordsDir, "real"));
      fs.writeFileSync(path.join(recordsDir, "real", "a.wav"), wav60);
      fs.symlinkSync(path.join(recordsDir, "real", "a.wav"), path.join(recordsDir, "alias.wav"));
      assert.equal(await records.convert(call(), ["alias.wav", mp3]), path.join(recordsDir, "real", "a.mp3"));
    });

    it("refuses a NUL in the path", async function () {
      await capabilityError(records.convert(call(), ["call.wav\0.txt", mp3]), /path: must not contain a NUL character/);
    });

    it("refuses directories, missing files and mp3 sources", async function () {
      fs.mkdirSync(path.join(recordsDir, "sub"));
      fs.writeFileSync(path.join(recordsDir, "done.MP3"), "x");
      await capabilityError(records.convert(call(), ["sub", mp3]), /^"sub" is not a regular file$/);
      await capabilityError(records.convert(call(), [".", mp3]), /^"\." is not a regular file$/);
      await capabilityError(records.convert(call(), ["nope.wav", mp3]), /^no such file: "nope\.wav"$/);
      await capabilityError(records.convert(call(), ["call.wav/x", mp3]), /^no such file: "call\.wav\/x"$/);
      await capabilityError(records.convert(call(), ["done.MP3", mp3]), /^"done\.MP3" is already an mp3$/);
    });

    it("refuses a tenant without a recordsDir, or with one that does not exist", async function () {
      await capabilityError(
        records.convert(call({ recordsDir: undefined }), ["call.wav", mp3]),
        /^tenant acme has no recordsDir configured$/,
      );
      const error = await capabilityError(
        records.convert(call({ recordsDir: path.join(root, "gone") }), ["call.wav", mp3]),
        /^the recordsDir of tenant acme is not accessible$/,
      );
      assert.ok(!error.message.includes(root));
    });
  });

  describe("arguments", function () {
    const cases: [string, unknown[], RegExp][] = [
      ["format ogg", ["call.wav", { format: "ogg" }], /options\.format: Invalid input: expected "mp3"/],
      ["bitrate 5000", ["call.wav", { format: "mp3", bitrateKbps: 5000 }], /options\.bitrateKbps: Too big/],
      ["bitrate 7", ["call.wav", { format: "mp3", bitrateKbps: 7 }], /options\.bitrateKbps: Too small/],
      ["bitrate 32.5", ["call.wav", { format: "mp3", bitrateKbps: 32.5 }], /options\.bitrateKbps: .*expected int/],
      ["bitrate as a string", ["call.wav", { format: "mp3", bitrateKbps: "32" }], /options\.bitrateKbps/],
      ["an unknown option", ["call.wav", { format: "mp3", extra: 1 }], /options: Unrecognized key: "extra"/],
      ["no options", ["call.wav"], /arguments: Too small/],
      ["null options", ["call.wav", null], /options: .*expected object/],
      ["a third argument", ["call.wav", mp3, 1], /arguments: Too big/],
      ["an empty path", ["", mp3], /path: must be a non-empty string/],
      ["a numeric path", [42, mp3], /path: .*expected string/],
      ["an overlong path", ["a".repeat(5000), mp3], /path: must be at most 4096 characters/],
    ];
    for (const [what, args, message] of cases) {
      it(`refuses ${what}`, async function () {
        await capabilityError(records.convert(call(), args), message);
        assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
      });
    }
  });

  describe("encoder failures", function () {
    it("reports ffmpeg's error on a file that is not audio, never naming a host path (the encoder is given none)", async function () {
      fs.writeFileSync(path.join(recordsDir, "junk.wav"), "this is not audio");
      fs.symlinkSync("/usr/bin/ffmpeg", path.join(binDir, "ffmpeg"));
      const link = path.join(root, "records-link");
      fs.symlinkSync(recordsDir, link);
      const error = await withPath([binDir], () =>
        capabilityError(
          records.convert(call({ recordsDir: link }), ["junk.wav", mp3]),
          /^ffmpeg failed with exit code \d+: .*Invalid data/,
        ),
      );
      assert.ok(!error.message.includes(root), error.message);
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.wav", "junk.wav"]);
    });

    it("removes the partial output of an encoder that fails, with a capped stderr in the message", async function () {
      // Like lame given "- -": the recording on stdin, the mp3 to stdout.
      writeScript(path.join(binDir, "lame"), 'echo partial\nhead -c 100000 /dev/zero | tr "\\0" x >&2\nexit 3');
      const error = await withPath([binDir], () =>
        capabilityError(records.convert(call(), ["call.wav", mp3]), /^lame failed with exit code 3: x+$/),
      );
      assert.ok(error.message.length < 1100, `message is ${error.message.length} characters`);
      assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
    });

    it("does not put an empty output in place", async function () {
      writeScript(path.join(binDir, "lame"), "cat > /dev/null");
      await withPath([binDir], () =>
        capabilityError(records.convert(call(), ["call.wav", mp3]), /^lame exited without writing any mp3 data$/),
      );
      assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
    });

    it("reports an encoder killed by a signal", async function () {
      writeScript(path.join(binDir, "lame"), "echo partial\nkill -SEGV $$");
      await withPath([binDir], () =>
        capabilityError(records.convert(call(), ["call.wav", mp3]), /^lame was killed by SIGSEGV$/),
      );
      assert.deepEqual(fs.readdirSync(recordsDir), ["call.wav"]);
    });

    it("reports an encoder that vanished after it was found", async function () {
      writeScript(path.join(binDir, "lame"), "echo data");
      await withPath([binDir], async () => {
        await records.convert(call(), ["call.wav", mp3]);
        fs.rmSync(path.join(binDir, "lame"));
        await capabilityError(records.convert(call(), ["call.wav", mp3]), /^lame could not be started \(ENOENT\)$/);
      });
      assert.deepEqual(tempFiles(), []);
    });

    it("removes the output when something is in the way of the final name", async function () {
      fs.mkdirSync(path.join(recordsDir, "call.mp3"));
      fs.writeFileSync(path.join(recordsDir, "call.mp3", "keep"), "");
      await capabilityError(
        records.convert(call(), ["call.wav", mp3]),
        new RegExp(`^cannot put "${path.join(recordsDir, "call.mp3")}" in place \\(E[A-Z]+\\)$`),
      );
      assert.deepEqual(fs.readdirSync(recordsDir).sort(), ["call.mp3", "call.wav"]);
      assert.ok(fs.readFileSync(path.join(recordsDir, "call.wav")).equals(wav60));
    });
  });

  describe("concurrency", function () {
    /** Converts a.wav and b.wav at once, for `tenants`, and reports the most encoders seen writing at the same time. */
    async function mostAtOnce(maxConcurrent: number, tenants: [string, string]): Promise<number> {
      const limited = createRecordsCapability({ maxConcurrent });
      fs.writeFileSync(path.join(recordsDir, "a.wav"), wav180);
      fs.writeFileSync(path.join(recordsDir, "b.wav"), wav180);
      let most = 0;
      // a temp file may be renamed into place between the listing and its stat
      const writing = (name: string) => (fs.statSync(path.join(recordsDir, name), { throwIfNoEntry: false })?.size ?? 0) > 0;
      const watch = setInterval(() => (most = Math.max(most, tempFiles().filter(writing).length)), 2);
      try {
        await Promise.all(["a.wav", "b.wav"].map((name, i) => limited.convert(call({ tenant: tenants[i] }), [name, mp3])));
      } finally {
        clearInterval(watch);
      }
      assert.ok(fs.existsSync(path.join(recordsDir, "a.mp3")) && fs.existsSync(path.join(recordsDir, "b.mp3")));
      return most;
    }

    it("runs no more than maxConcurrent encoders at once; the second waits", async function () {
      assert.equal(await mostAtOnce(1, ["acme", "globex"]), 1);
    });

    it("runs them side by side when the limit allows", async function () {
      assert.equal(await mostAtOnce(2, ["acme", "globex"]), 2);
    });

    it("gives one tenant at most half the encoders, so the rest stay free for others", async function () {
      assert.equal(await mostAtOnce(2, ["acme", "acme"]), 1);
      for (const name of ["a.mp3", "b.mp3"]) fs.rmSync(path.join(recordsDir, name));
      assert.equal(await mostAtOnce(4, ["acme", "acme"]), 2);
    });

    it("refuses a conversion whose deadline passes while queued; the others still run", async function () {
      const limited = createRecordsCapability({ maxConcurrent: 1 });
      for (const name of ["first", "queued", "later"]) {
        fs.writeFileSync(path.join(recordsDir, `${name}.wav`), name === "first" ? wav600 : wav60);
      }
      const first = limited.convert(call(), ["first.wav", mp3]);
      await until(() => tempFiles().length > 0);
      const started = Date.now();
      const queued = limited.convert(call({ deadline: started + 150 }), ["queued.wav", mp3]);
      const later = limited.convert(call(), ["later.wav", mp3]);
      await capabilityError(queued, /^conversion could not start within the hook's time limit: all of the host's encoders are busy$/);
      assert.ok(Date.now() - started < 1000, `refused after ${Date.now() - started} ms`);
      assert.equal(await first, path.join(recordsDir, "first.mp3"));
      assert.equal(await later, path.join(recordsDir, "later.mp3"));
      assert.ok(!fs.existsSync(path.join(recordsDir, "queued.mp3")));
      assert.deepEqual(tempFiles(), []);
    });

    it("refuses a queued conversion whose run ends while it waits", async function () {
      const limited = createRecordsCapability({ maxConcurrent: 1 });
      fs.writeFileSync(path.join(recordsDir, "first.wav"), wav600);
      const first = limited.convert(call(), ["first.wav", mp3]);
      await until(() => tempFiles().length > 0);
      const run = new AbortController();
      const queued = limited.convert(call({ signal: run.signal }), ["call.wav", mp3]);
      setTimeout(() => run.abort(), 50);
      await capabilityError(queued, /^conversion was cancelled while waiting for an encoder: the hook run ended$/);
      await first;
      assert.ok(!fs.existsSync(path.join(recordsDir, "call.mp3")));
    });

    /** Grants `slots` to the waiters named, in the order given, and answers the order the slots were handed out. */
    async function grantOrder(slots: FairSemaphore, waiters: Array<[owner: string, name: string, signal?: AbortSignal]>, abort?: AbortController) {
      const forever = Date.now() + 60_000;
      const blocker = await slots.acquire("blocker", forever, new AbortController().signal);
      assert.ok(blocker);
      const order: string[] = [];
      const done = waiters.map(([owner, name, signal]) =>
        slots.acquire(owner, forever, signal ?? new AbortController().signal).then(async (release) => {
          order.push(release ? name : `${name} gave up`);
          await new Promise((resolve) => setImmediate(resolve));
          release?.();
        }),
      );
      abort?.abort();
      await new Promise((resolve) => setImmediate(resolve));
      blocker();
      await Promise.all(done);
      return order;
    }

    it("within one owner, hands out slots first come, first served, skipping waiters that gave up", async function () {
      const quitter = new AbortController();
      const order = await grantOrder(new FairSemaphore(1, 1), [["acme", "b"], ["acme", "quitter", quitter.signal], ["acme", "c"], ["acme", "d"]], quitter);
      assert.deepEqual(order, ["quitter gave up", "b", "c", "d"]);
    });

    it("between owners, takes turns, however many one of them queued first", async function () {
      const waiters: Array<[string, string]> = [];
      for (let i = 1; i <= 6; i++) waiters.push(["hog", `hog${i}`]);
      waiters.push(["acme", "acme1"], ["globex", "globex1"], ["acme", "acme2"]);
      const order = await grantOrder(new FairSemaphore(1, 1), waiters);
      assert.deepEqual(order, ["hog1", "acme1", "globex1", "hog2", "acme2", "hog3", "hog4", "hog5", "hog6"]);
    });

    it("gives an owner no more than perOwner slots, even with slots free", async function () {
      const slots = new FairSemaphore(4, 2);
      const forever = Date.now() + 60_000;
      const signal = new AbortController().signal;
      const held = await Promise.all([slots.acquire("hog", forever, signal), slots.acquire("hog", forever, signal)]);
      const third = new AbortController();
      const waiting = slots.acquire("hog", forever, third.signal);
      const other = await slots.acquire("acme", Date.now() + 1000, signal);
      assert.ok(other, "another owner gets a free slot at once");
      setTimeout(() => third.abort(), 50);
      assert.equal(await waiting, null, "the hog's third waits for one of its own");
      for (const release of held) release!();
      other();
      assert.ok(await slots.acquire("hog", Date.now() + 1000, signal));
    });

    it("rejects a limit that is not a positive integer", function () {
      for (const maxConcurrent of [0, -1, 1.5, Number.NaN]) {
        assert.throws(() => createRecordsCapability({ maxConcurrent }), /must be a positive integer/);
        assert.throws(() => new FairSemaphore(2, maxConcurrent), /semaphore perOwner must be a positive integer/);
      }
    });
  });
});
