import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRecordsCapability, MAX_PER_RUN, MAX_PER_TENANT } from "../capabilities/records.js";
import { type CapabilityCall, CapabilityError } from "../sandbox/capability.js";
import { installGatedLame, until, type Gate } from "./gated-lame.js";
import { fixture, pluginsDir, startTestHost } from "./support.js";
import { callLikeWav } from "./wav.js";

// Encoder slots were first come, first served: one tenant firing 40 conversions per request kept
// another tenant's recordings waiting past the record chain's budget (issue 11, item 11). Now a
// run and a tenant may each have only a few conversions in progress, a tenant runs at most half
// the encoders, and waiting tenants take turns.

const mp3 = { format: "mp3" };
let root: string;

function makeRecordsDir(name: string, files: Record<string, Buffer>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const [file, wav] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), wav);
  return dir;
}

describe("records: conversions in progress per run and per tenant", function () {
  let gate: Gate;
  let recordsDir: string;

  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-fair-"));
    const wav = callLikeWav(2);
    recordsDir = makeRecordsDir("records", Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`r${i}.wav`, wav])));
    gate = installGatedLame(root);
  });

  afterEach(function () {
    gate.remove();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function call(tenant: string, signal = new AbortController().signal): CapabilityCall {
    return { tenant, plugin: "mp3", hook: "process_record_file_path", recordsDir, allowHosts: [], deadline: Date.now() + 20_000, signal, run: signal };
  }

  async function refusedAtOnce(promise: Promise<unknown>, message: RegExp): Promise<void> {
    const started = Date.now();
    await assert.rejects(promise, (error: unknown) => error instanceof CapabilityError && message.test(error.message));
    assert.ok(Date.now() - started < 500, `refused after ${Date.now() - started} ms`);
  }

  it(`a run may have ${MAX_PER_RUN} conversions in progress; more are refused at once, naming the limit`, async function () {
    assert.equal(MAX_PER_RUN, 2);
    const records = createRecordsCapability({ maxConcurrent: 4 });
    const run = new AbortController().signal;
    const admitted = [0, 1].map((i) => records.convert(call("acme", run), [`r${i}.wav`, mp3]));
    for (const i of [2, 3, 4]) {
      await refusedAtOnce(records.convert(call("acme", run), [`r${i}.wav`, mp3]), /^too many conversions at once: this hook run already has 2 in progress, the limit per run$/);
    }
    // Another run of the same tenant is not held to this run's count.
    const other = records.convert(call("acme"), ["r5.wav", mp3]);
    gate.open();
    assert.equal((await Promise.all([...admitted, other])).length, 3);
    // Finished conversions no longer count.
    await records.convert(call("acme", run), ["r6.wav", mp3]);
  });

  it(`a tenant may have ${MAX_PER_TENANT} conversions in progress over all its runs; other tenants are not held to it`, async function () {
    assert.equal(MAX_PER_TENANT, 8);
    const records = createRecordsCapability({ maxConcurrent: 2 });
    const admitted = Array.from({ length: 8 }, (_, i) => records.convert(call("acme"), [`r${i}.wav`, mp3]));
    await until("acme's first encoder started", () => gate.started() === 1);
    await refusedAtOnce(records.convert(call("acme"), ["r8.wav", mp3]), /^too many conversions at once: tenant acme already has 8 in progress, the limit per tenant$/);
    const globex = records.convert(call("globex"), ["r9.wav", mp3]);
    await until("globex's encoder started beside acme's", () => gate.started() === 2);
    gate.open();
    await Promise.all([...admitted, globex]);
    await records.convert(call("acme"), ["r10.wav", mp3]);
  });

  it("a refused or failed conversion does not keep counting", async function () {
    const records = createRecordsCapability({ maxConcurrent: 2 });
    const run = new AbortController().signal;
    for (let i = 0; i < 20; i++) {
      await assert.rejects(records.convert(call("acme", run), ["missing.wav", mp3]), /no such file/);
      await assert.rejects(records.convert(call("acme", run), ["../outside.wav", mp3]), /outside the tenant's recordsDir/);
    }
    gate.open();
    await Promise.all([records.convert(call("acme", run), ["r0.wav", mp3]), records.convert(call("acme", run), ["r1.wav", mp3])]);
  });
});

describe("records: one tenant's flood of conversions, through the host", function () {
  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-fair-"));
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("another tenant's recordings are all converted, promptly, while one tenant fires 40 conversions per request", async function () {
    this.timeout(60_000);
    const long = callLikeWav(300);
    const hogDir = makeRecordsDir("hog", { "long.wav": long });
    // 80 names for one long recording: hard links, so the disk holds it once.
    for (const batch of ["a", "b"]) for (let i = 0; i < 40; i++) fs.linkSync(path.join(hogDir, "long.wav"), path.join(hogDir, `${batch}${i}.wav`));
    const short = callLikeWav(5);
    const victimDir = makeRecordsDir("victim", { "v0.wav": short, "v1.wav": short, "v2.wav": short });

    const host = await startTestHost(
      pluginsDir({
        "flood/plugin.json": { records: true, tenants: ["hog"] },
        "flood/process_record_file_path.js": `export default async (input, ctx) => {
          const results = await Promise.allSettled(
            Array.from({ length: 40 }, (_, i) => ctx.records.convert(input.batch + i + ".wav", { format: "mp3" })),
          );
          const refused = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
          return { converted: String(results.length - refused.length), refused: String(refused.length), first_refusal: refused[0] ?? "" };
        };`,
        "mp3/plugin.json": { records: true, tenants: ["victim"] },
        "mp3/process_record_file_path.js": `export default async (input, ctx) => {
          try { return { file_path: await ctx.records.convert(input.file_path, { format: "mp3" }) }; }
          catch (e) { return { error: e.message }; }
        };`,
      }),
      { tenants: { hog: { recordsDir: hogDir }, victim: { recordsDir: victimDir } } },
    );
    try {
      const input = fixture("process_record_file_path");
      const hog = ["a", "b"].map((batch) => host.post("hog", "process_record_file_path", { ...input, batch }));
      await until("the hog's conversions are under way", () => fs.readdirSync(hogDir).some((name) => name.endsWith(".tmp")));
      const victim = await Promise.all(
        ["v0", "v1", "v2"].map(async (name) => {
          const started = Date.now();
          const answer = await host.post("victim", "process_record_file_path", { ...input, file_path: `${name}.wav` });
          return { answer, ms: Date.now() - started };
        }),
      );
      for (const [i, { answer, ms }] of victim.entries()) {
        assert.equal(answer.status, 200);
        assert.deepEqual(answer.body.data.file_path, path.join(victimDir, `v${i}.mp3`), JSON.stringify(answer.body.data));
        // Each takes 0.1–0.3 s of encoding (0.6–1.6 s measured here, one after another); behind the
        // hog's queue they waited out the record chain's 9 s and were never converted.
        assert.ok(ms < 5000, `victim's v${i} took ${ms} ms`);
      }
      for (const answer of await Promise.all(hog)) {
        assert.equal(answer.status, 200);
        const data = answer.body.data;
        assert.equal(data.refused, "38", JSON.stringify(data));
        assert.match(data.first_refusal, /^ctx\.records\.convert: too many conversions at once: this hook run already has 2 in progress, the limit per run$/);
      }
    } finally {
      await host.close();
    }
  });
});
