import { constants, type Stats } from "node:fs";
import { lstat, open, opendir, readlink, realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { PluginLoadError } from "./compile.js";

/**
 * What reading one plugin folder may cost. A folder is written by whoever deploys a plugin, so it
 * may hold links to anywhere, FIFOs, devices, link cycles or a million files: each is refused by
 * name before it can block the host, walk it for good, or show another file's content.
 */
export const FOLDER_LIMITS = {
  /** folders below the plugin folder (lib/a/b is 2 deep) */
  maxDepth: 8,
  /** files and folders looked at, of any kind */
  maxEntries: 2000,
  maxScripts: 500,
  /** all script files together */
  maxScriptBytes: 5 * 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
};

const SCRIPT = /\.(ts|js|mjs)$/;

export interface FolderFiles {
  /** plugin.json's text; undefined when there is none */
  manifest: string | undefined;
  /** every script file, keyed by its posix path inside the folder */
  sources: Map<string, string>;
}

/** A file of the folder that cannot be read, with plugin.json's text when that was read (whom the folder serves). */
export class FolderReadError extends PluginLoadError {
  constructor(cause: PluginLoadError, readonly manifest: string | undefined) {
    super(cause.problem);
  }
}

/** Reads a plugin folder's plugin.json and scripts, or throws a PluginLoadError naming the file. */
export async function readPluginFolder(folder: string): Promise<FolderFiles> {
  const fail = (e: NodeJS.ErrnoException) => Promise.reject(new PluginLoadError({ file: "", message: `the plugin folder cannot be read (${e.code ?? "error"})` }));
  // followed: the plugins folder may link a plugin folder (discovery checks where the link leads)
  if (!(await stat(folder).catch(fail)).isDirectory()) throw new PluginLoadError({ file: "", message: "the plugin folder is not a folder" });
  const root = await realpath(folder).catch(fail);
  const manifest = await readManifest(root);
  const sources = await readSources(root).catch((e: unknown) => Promise.reject(e instanceof PluginLoadError ? new FolderReadError(e, manifest) : e));
  return { manifest, sources };
}

async function readManifest(root: string): Promise<string | undefined> {
  const found = await follow(root, join(root, "plugin.json"), "plugin.json");
  if (!found) return undefined;
  if (!found.info.isFile()) throw notRegular("plugin.json", found.info);
  return readRegular(root, found.real, "plugin.json", FOLDER_LIMITS.maxManifestBytes, `plugin.json is larger than ${FOLDER_LIMITS.maxManifestBytes} bytes`);
}

async function readSources(root: string): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  let entries = 0;
  let bytes = 0;
  const walk = async (dir: string, shownDir: string, ancestors: string[]): Promise<void> => {
    // opendir, not readdir: a folder with a million names is refused at the bound, not listed whole.
    const listing = await opendir(dir).catch((e: NodeJS.ErrnoException) => Promise.reject(unreadable(shownDir || ".", e)));
    for await (const entry of listing) {
      const shown = shownDir ? `${shownDir}/${entry.name}` : entry.name;
      // Counted before skipped: a million dot-files cost as much to list as any other names.
      if (++entries > FOLDER_LIMITS.maxEntries) throw new PluginLoadError({ file: shown, message: `the plugin folder holds more than ${FOLDER_LIMITS.maxEntries} files and folders` });
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const found = await follow(root, join(dir, entry.name), shown);
      if (!found) continue;
      const { real, info } = found;
      if (info.isDirectory()) {
        if (ancestors.includes(real)) throw new PluginLoadError({ file: shown, message: "a symbolic link back to a folder that contains it (a loop)" });
        if (ancestors.length > FOLDER_LIMITS.maxDepth) throw new PluginLoadError({ file: shown, message: `folders nest more than ${FOLDER_LIMITS.maxDepth} deep in the plugin folder` });
        await walk(real, shown, [...ancestors, real]);
      } else if (SCRIPT.test(entry.name)) {
        if (!info.isFile()) throw notRegular(shown, info);
        if (sources.size >= FOLDER_LIMITS.maxScripts) throw new PluginLoadError({ file: shown, message: `more than ${FOLDER_LIMITS.maxScripts} script files in the plugin folder` });
        const tooLarge = `the plugin's scripts exceed ${FOLDER_LIMITS.maxScriptBytes} bytes`;
        const text = await readRegular(root, real, shown, FOLDER_LIMITS.maxScriptBytes - bytes, tooLarge);
        bytes += Buffer.byteLength(text);
        sources.set(shown, text);
      }
    }
  };
  await walk(root, "", [root]);
  return sources;
}

/**
 * The entry itself, or where its symbolic link leads when that is inside the plugin folder;
 * undefined when there is no such entry. A link out of the folder, to nothing, or in a circle is
 * refused without saying where it leads.
 */
async function follow(root: string, path: string, shown: string): Promise<{ real: string; info: Stats } | undefined> {
  const info = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw unreadable(shown, e);
  });
  if (!info?.isSymbolicLink()) return info && { real: path, info };
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) throw new PluginLoadError({ file: shown, message: "a symbolic link that leads nowhere, or in a circle" });
  if (real !== root && !isInside(root, real)) throw new PluginLoadError({ file: shown, message: "a symbolic link that leads outside the plugin folder; links may only point inside it" });
  return { real, info: await lstat(real).catch((e: NodeJS.ErrnoException) => Promise.reject(unreadable(shown, e))) };
}

/**
 * A regular file's text, at most `cap` bytes. Opened without following a link and without waiting
 * (a FIFO put in its place since it was looked at does not block), then checked again by handle.
 */
async function readRegular(root: string, real: string, shown: string, cap: number, tooLarge: string): Promise<string> {
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => Promise.reject(unreadable(shown, e)));
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(shown, info);
    // Where the handle really is: a folder on the way swapped for a link since it was resolved.
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real);
    if (!isInside(root, opened)) throw new PluginLoadError({ file: shown, message: "a symbolic link that leads outside the plugin folder; links may only point inside it" });
    if (info.size > cap) throw new PluginLoadError({ file: shown, message: tooLarge });
    // Read to the cap and one byte more, whatever the size said: the file may be growing.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, cap + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > cap) throw new PluginLoadError({ file: shown, message: tooLarge });
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    await handle.close();
  }
}

function notRegular(shown: string, info: Stats): PluginLoadError {
  const kind = info.isFIFO() ? "a FIFO" : info.isSocket() ? "a socket" : info.isCharacterDevice() ? "a character device" : info.isBlockDevice() ? "a block device" : info.isDirectory() ? "a folder" : "not a file";
  return new PluginLoadError({ file: shown, message: `is not a regular file (${kind})` });
}

/** The error's code only: the message would name the host's path. */
function unreadable(shown: string, e: NodeJS.ErrnoException): PluginLoadError {
  return new PluginLoadError({ file: shown, message: `cannot be read (${e.code ?? "error"})` });
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep);
}
