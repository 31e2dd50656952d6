// `ctx.records.convert(path, { format: "mp3", bitrateKbps? })`: converts a call recording inside the
// tenant's recordsDir to mp3 with a real encoder (lame, else ffmpeg) running outside the sandbox.
// The mp3 appears beside the source only when complete; the source is never changed.
//
// The path is checked, then opened one component at a time without following links, and the
// encoder is handed the open files (stdin, stdout), never a path: a folder or file swapped for a
// symlink after the check can make the conversion fail, never read or write outside recordsDir.
// Encoders are shared fairly between tenants (semaphore.ts), and a run and a tenant may each have
// only a few conversions in progress.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import fs, { type FileHandle } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { FairSemaphore } from "./semaphore.js";
import { type Capability, type CapabilityCall, CapabilityError } from "../sandbox/capability.js";

export interface RecordsOptions {
  /** Host-wide limit of encoders running at once; the host passes os.availableParallelism(). */
  maxConcurrent: number;
}

/** Conversions one hook run may have in progress (waiting or encoding); a record hook converts one or two files. */
export const MAX_PER_RUN = 2;
/** Conversions one tenant may have in progress (waiting or encoding), over all its runs. */
export const MAX_PER_TENANT = 8;
/** Encoders one tenant may run at once: half the host's (at least one), so the rest stay free for others. */
export function encodersPerTenant(maxConcurrent: number): number {
  return Math.ceil(maxConcurrent / 2);
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
  /** The encoder reads the recording from stdin and writes the mp3 to stdout: it never sees a path. */
  args(kbps: number): string[];
}

const ENCODERS: Omit<Encoder, "file">[] = [
  { name: "lame", args: (kbps) => ["--quiet", "-b", String(kbps), "-", "-"] },
  {
    name: "ffmpeg",
    args: (kbps) => ["-loglevel", "error", "-i", "pipe:0", "-codec:a", "libmp3lame", "-b:a", `${kbps}k`, "-f", "mp3", "pipe:1"],
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

/** Runs the encoder from the open `input` into the open `output`; rejects with a CapabilityError unless it exits 0. */
async function runEncoder(
  encoder: Encoder,
  input: FileHandle,
  output: FileHandle,
  kbps: number,
  killAt: number,
  signal: AbortSignal,
): Promise<void> {
  const child = spawn(encoder.file, encoder.args(kbps), { stdio: [input.fd, output.fd, "pipe"] });
  let stderrTail = "";
  const stderr = child.stderr!;
  stderr.setEncoding("utf8");
  stderr.on("data", (chunk: string) => {
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
    const detail = stderrTail.trim();
    throw new CapabilityError(`${encoder.name} ${how}${detail ? `: ${detail}` : ""}`);
  }
}

// Node has no openat(): "/proc/self/fd/<dir>/<name>" resolves <name> inside the directory that is
// open, wherever its path now leads, and O_NOFOLLOW refuses <name> if it is a symlink.
const inside = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`;

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** What was checked, opened without following any link: the source's folder and the source. */
interface Opened {
  dir: FileHandle;
  input: FileHandle;
}

async function openChecked(source: Source, changed: () => CapabilityError): Promise<Opened> {
  const parts = path.relative(source.realRoot, source.file).split(path.sep);
  const name = parts.pop()!;
  let dir = await fs.open(source.realRoot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(() => {
    throw changed();
  });
  try {
    for (const part of parts) {
      const next = await fs.open(inside(dir, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      await dir.close();
      dir = next;
    }
    // O_NONBLOCK: a FIFO put in the file's place must not hang the open; it is refused just below.
    const input = await fs.open(inside(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!(await input.stat()).isFile()) {
      await input.close();
      throw changed();
    }
    return { dir, input };
  } catch (error) {
    await dir.close();
    throw error instanceof CapabilityError ? error : changed();
  }
}

/** The same file or folder: device and inode agree. */
const same = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

export function createRecordsCapability(opts: RecordsOptions): Capability {
  const slots = new FairSemaphore(opts.maxConcurrent, encodersPerTenant(opts.maxConcurrent));
  const perTenant = new Map<string, number>();
  const perRun = new WeakMap<object, number>();

  /** Counts the conversion in for its run and tenant, or refuses it; the answer counts it out. */
  function admit(call: CapabilityCall): () => void {
    const run = perRun.get(call.run) ?? 0;
    const tenant = perTenant.get(call.tenant) ?? 0;
    if (run >= MAX_PER_RUN) {
      throw new CapabilityError(`too many conversions at once: this hook run already has ${run} in progress, the limit per run`);
    }
    if (tenant >= MAX_PER_TENANT) {
      throw new CapabilityError(`too many conversions at once: tenant ${call.tenant} already has ${tenant} in progress, the limit per tenant`);
    }
    perRun.set(call.run, run + 1);
    perTenant.set(call.tenant, tenant + 1);
    return () => {
      perRun.set(call.run, perRun.get(call.run)! - 1);
      const left = perTenant.get(call.tenant)! - 1;
      if (left === 0) perTenant.delete(call.tenant);
      else perTenant.set(call.tenant, left);
    };
  }

  async function convert(call: CapabilityCall, args: unknown[]): Promise<string> {
    const parsed = ConvertArgs.safeParse(args);
    if (!parsed.success) throw new CapabilityError(describeArgsError(parsed.error));
    const [requested, { bitrateKbps = DEFAULT_KBPS }] = parsed.data;

    const done = admit(call);
    try {
      return await convertAdmitted(call, requested, bitrateKbps);
    } finally {
      done();
    }
  }

  async function convertAdmitted(call: CapabilityCall, requested: string, bitrateKbps: number): Promise<string> {
    const source = await resolveSource(call, requested);
    const encoder = await findEncoder();
    if (!encoder) throw new CapabilityError("no mp3 encoder on this host: neither lame nor ffmpeg is on PATH");

    const killAt = call.deadline - CLEANUP_MS;
    if (call.signal.aborted || Date.now() >= killAt) throw new CapabilityError(TIME_LIMIT);
    const release = await slots.acquire(call.tenant, killAt, call.signal);
    if (!release) {
      throw new CapabilityError(
        call.signal.aborted
          ? "conversion was cancelled while waiting for an encoder: the hook run ended"
          : "conversion could not start within the hook's time limit: all of the host's encoders are busy",
      );
    }

    const folder = path.dirname(source.file);
    const name = `${path.parse(source.file).name}.mp3`;
    const temp = `.${name}.${randomBytes(6).toString("hex")}.tmp`;
    // Answers and messages name paths as the plugin knows them, never the resolved host path.
    const shown = (file: string) => path.join(source.shownRoot, path.relative(source.realRoot, file));
    const changed = () => new CapabilityError(`"${requested}" or its folder changed while it was being converted`);
    let opened: Opened | undefined;
    let output: FileHandle | undefined;
    let placed = false;
    try {
      opened = await openChecked(source, changed);
      const { dir, input } = opened;
      output = await fs.open(inside(dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644).catch((error: NodeJS.ErrnoException) => {
        throw new CapabilityError(`cannot write beside "${requested}" (${error.code ?? "unknown error"})`);
      });
      await runEncoder(encoder, input, output, bitrateKbps, killAt, call.signal);
      const written = await output.stat();
      if (!written.size) throw new CapabilityError(`${encoder.name} exited without writing any mp3 data`);
      await fs.rename(inside(dir, temp), inside(dir, name)).catch((error: NodeJS.ErrnoException) => {
        throw new CapabilityError(`cannot put "${shown(path.join(folder, name))}" in place (${error.code ?? "unknown error"})`);
      });
      placed = true;
      // Re-checked under the open handles: what now bears the name is what the encoder wrote, and
      // the folder's path still leads to the folder that was checked, through no symlink.
      const [atName, dirStat] = await Promise.all([fs.lstat(inside(dir, name)), dir.stat()]);
      const folderNow = await fs.realpath(folder).then((real) => (real === folder ? fs.stat(real) : null), () => null);
      if (!same(atName, written) || folderNow === null || !same(folderNow, dirStat)) throw changed();
    } catch (error) {
      if (opened) await fs.rm(inside(opened.dir, placed ? name : temp), { force: true });
      throw error;
    } finally {
      release();
      await Promise.all([output?.close(), opened?.input.close(), opened?.dir.close()]);
    }
    return shown(path.join(folder, name));
  }

  return { convert };
}
