// `ctx.records.convert(path, { format: "mp3", bitrateKbps? })`: converts a call recording inside the
// tenant's recordsDir to mp3 with a real encoder (lame, else ffmpeg) running outside the sandbox.
// The mp3 appears beside the source only when complete; the source is never changed.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { Semaphore } from "./semaphore.js";
import { type Capability, type CapabilityCall, CapabilityError } from "./types.js";

export interface RecordsOptions {
  /** Host-wide limit of encoders running at once; the host passes os.availableParallelism(). */
  maxConcurrent: number;
}

const DEFAULT_KBPS = 32;
const STDERR_TAIL_CHARS = 1024;
/** The encoder is killed this long before the deadline, so reaping it and removing its output fit. */
const CLEANUP_MS = 20;
const TIME_LIMIT = "conversion did not finish within the hook's time limit";

const ConvertArgs = z.tuple([
  z
    .string()
    .min(1, "must be a non-empty string")
    .max(4096, "must be at most 4096 characters")
    .refine((p) => !p.includes("\0"), "must not contain a NUL character"),
  z.strictObject({
    format: z.literal("mp3"),
    bitrateKbps: z.int().min(8).max(320).optional(),
  }),
]);

const ARG_NAMES = ["path", "options"];

function describeArgsError(error: z.ZodError): string {
  const problems = error.issues.map((issue) => {
    const [index, ...rest] = issue.path;
    const where = typeof index === "number" ? [ARG_NAMES[index], ...rest].join(".") : "arguments";
    return `${where}: ${issue.message}`;
  });
  return `records.convert(path, { format: "mp3", bitrateKbps? }): ${problems.join("; ")}`;
}

interface Encoder {
  name: string;
  file: string;
  args(input: string, output: string, kbps: number): string[];
}

const ENCODERS: Omit<Encoder, "file">[] = [
  { name: "lame", args: (input, output, kbps) => ["--quiet", "-b", String(kbps), input, output] },
  {
    name: "ffmpeg",
    // "-f mp3" because the temporary output name has no .mp3 to guess the format from; "file:"
    // so that a colon in a file name is never taken for a protocol.
    args: (input, output, kbps) => [
      "-nostdin", "-loglevel", "error", "-y", "-i", `file:${input}`,
      "-codec:a", "libmp3lame", "-b:a", `${kbps}k`, "-f", "mp3", `file:${output}`,
    ],
  },
];

let encoderLookup: Promise<Encoder | null> | undefined;

/** Forget the encoder found on PATH so the next conversion searches PATH again (tests change PATH). */
export function resetEncoderLookup(): void {
  encoderLookup = undefined;
}

function findEncoder(): Promise<Encoder | null> {
  encoderLookup ??= searchPath(process.env.PATH ?? "");
  return encoderLookup;
}

async function searchPath(searchPath: string): Promise<Encoder | null> {
  // Relative PATH entries would make the choice depend on the host's working directory.
  const dirs = searchPath.split(path.delimiter).filter((dir) => path.isAbsolute(dir));
  for (const encoder of ENCODERS) {
    for (const dir of dirs) {
      const file = path.join(dir, encoder.name);
      if (await isExecutableFile(file)) return { ...encoder, file };
    }
  }
  return null;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await fs.access(file, constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** `p` is `dir` or below it. */
function isWithin(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

interface Source {
  /** The source file with every symlink resolved. */
  file: string;
  /** The recordsDir with every symlink resolved. */
  realRoot: string;
  /** The recordsDir as the plugin spelled it: answers and messages are expressed against it. */
  shownRoot: string;
}

async function resolveSource(call: CapabilityCall, requested: string): Promise<Source> {
  if (!call.recordsDir) throw new CapabilityError(`tenant ${call.tenant} has no recordsDir configured`);
  const root = path.resolve(call.recordsDir);
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    throw new CapabilityError(`the recordsDir of tenant ${call.tenant} is not accessible`);
  }
  const outside = new CapabilityError(`"${requested}" is outside the tenant's recordsDir`);
  const wanted = path.resolve(root, requested);
  // Refused by its spelling before the file system is asked, so the answer never tells whether
  // some other host file exists.
  const shownRoot = isWithin(wanted, root) ? root : isWithin(wanted, realRoot) ? realRoot : null;
  if (shownRoot === null) throw outside;

  let file: string;
  try {
    file = await fs.realpath(wanted);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new CapabilityError(`no such file: "${requested}"`);
    throw new CapabilityError(`cannot access "${requested}" (${code ?? "unknown error"})`);
  }
  if (!isWithin(file, realRoot)) throw outside;
  if (!(await fs.stat(file)).isFile()) throw new CapabilityError(`"${requested}" is not a regular file`);
  if (path.extname(file).toLowerCase() === ".mp3") throw new CapabilityError(`"${requested}" is already an mp3`);
  return { file, realRoot, shownRoot };
}

/** Runs the encoder from `input` into `output`; rejects with a CapabilityError unless it exits 0. */
async function runEncoder(
  encoder: Encoder,
  input: string,
  output: string,
  kbps: number,
  killAt: number,
  signal: AbortSignal,
  showPaths: (text: string) => string,
): Promise<void> {
  const child = spawn(encoder.file, encoder.args(input, output, kbps), { stdio: ["ignore", "ignore", "pipe"] });
  let stderrTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  let stopped = false;
  const stop = () => {
    stopped = true;
    child.kill("SIGKILL");
  };
  const timer = setTimeout(stop, killAt - Date.now());
  signal.addEventListener("abort", stop, { once: true });
  let ended: { code: number | null; signal: NodeJS.Signals | null } | Error;
  try {
    ended = await new Promise((resolve) => {
      child.once("error", resolve);
      child.once("close", (code, exitSignal) => resolve({ code, signal: exitSignal }));
    });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }

  if (stopped) throw new CapabilityError(TIME_LIMIT);
  if (ended instanceof Error) {
    const code = (ended as NodeJS.ErrnoException).code ?? "unknown error";
    throw new CapabilityError(`${encoder.name} could not be started (${code})`);
  }
  if (ended.code !== 0) {
    const how = ended.code === null ? `was killed by ${ended.signal}` : `failed with exit code ${ended.code}`;
    const detail = showPaths(stderrTail.trim());
    throw new CapabilityError(`${encoder.name} ${how}${detail ? `: ${detail}` : ""}`);
  }
}

export function createRecordsCapability(opts: RecordsOptions): Capability {
  const slots = new Semaphore(opts.maxConcurrent);

  async function convert(call: CapabilityCall, args: unknown[]): Promise<string> {
    const parsed = ConvertArgs.safeParse(args);
    if (!parsed.success) throw new CapabilityError(describeArgsError(parsed.error));
    const [requested, { bitrateKbps = DEFAULT_KBPS }] = parsed.data;

    const source = await resolveSource(call, requested);
    const encoder = await findEncoder();
    if (!encoder) throw new CapabilityError("no mp3 encoder on this host: neither lame nor ffmpeg is on PATH");

    const killAt = call.deadline - CLEANUP_MS;
    if (call.signal.aborted || Date.now() >= killAt) throw new CapabilityError(TIME_LIMIT);
    const release = await slots.acquire(killAt, call.signal);
    if (!release) {
      throw new CapabilityError(
        call.signal.aborted
          ? "conversion was cancelled while waiting for an encoder: the hook run ended"
          : "conversion could not start within the hook's time limit: all of the host's encoders are busy",
      );
    }

    const dir = path.dirname(source.file);
    const name = `${path.parse(source.file).name}.mp3`;
    const output = path.join(dir, name);
    const temp = path.join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    // Answers and messages name paths as the plugin knows them, never the resolved host path.
    const shown = (file: string) => path.join(source.shownRoot, path.relative(source.realRoot, file));
    const showPaths = (text: string) => text.replaceAll(source.realRoot, source.shownRoot);
    try {
      await runEncoder(encoder, source.file, temp, bitrateKbps, killAt, call.signal, showPaths);
      const written = await fs.stat(temp).catch(() => null);
      if (!written?.size) throw new CapabilityError(`${encoder.name} exited without writing any mp3 data`);
      await fs.rename(temp, output).catch((error: NodeJS.ErrnoException) => {
        throw new CapabilityError(`cannot put "${shown(output)}" in place (${error.code ?? "unknown error"})`);
      });
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    } finally {
      release();
    }
    return shown(output);
  }

  return { convert };
}
