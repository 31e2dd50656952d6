import { watch, type FSWatcher } from "chokidar";
import { watch as watchFolder, type FSWatcher as FolderWatcher } from "node:fs";
import { lstat, readdir, readlink, realpath, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, sep } from "node:path";
import { FOLDER_LIMITS } from "./plugin-files.js";

/** Quiet time after the last change in a folder before it is reloaded: a folder copied file by file loads once. */
export const SETTLE_MS = 300;

/** Symbolic links followed on one path before giving up, as the kernel does (ELOOP). */
const MAX_LINKS = 40;

/**
 * Watches the plugins folder and calls `changed(dir)` once per plugin folder after its files have
 * settled (editors that save atomically, and chokidar reporting before a write ends, make bursts).
 * The plugins folder may be reached through symbolic links that are swapped to publish a new
 * version (git-sync's `current`, a Kubernetes volume's `..data`): then every folder of the old
 * version and of the new one is reported changed, and the new version is watched. A plugin folder
 * may itself be such a link (`acme -> ..data/acme`): it is reported changed when the link leads
 * elsewhere or something changes where it leads.
 */
export function watchPlugins(pluginsDir: string, changed: (dir: string) => void): { close(): Promise<void>; ready: Promise<void> } {
  const timers = new Map<string, NodeJS.Timeout>();
  let closed = false;
  let files: FSWatcher | undefined;
  let root = "";
  // The plugin folders of the version watched, so that a swap also reports those it removes.
  let known = new Set<string>();
  // Plugin folders that are links, and where they lead; changes under dot-entries (`..data`) seen since the last look.
  let linked = new Map<string, string>();
  let hidden: string[] = [];
  let hiddenTimer: NodeJS.Timeout | undefined;

  const settle = (dir: string) => {
    clearTimeout(timers.get(dir));
    timers.set(
      dir,
      setTimeout(() => {
        timers.delete(dir);
        changed(dir);
      }, SETTLE_MS),
    );
  };
  const follow = async (real: string) => {
    await files?.close();
    root = real;
    files = watch(real, {
      ignoreInitial: true,
      // A link in a plugin folder may lead anywhere (even to /): discovery refuses it, and the watcher
      // never walks it. The plugin folders are one level below the plugins folder.
      followSymlinks: false,
      depth: FOLDER_LIMITS.maxDepth + 1,
      ignored: (path) => relative(real, path).split(sep).some((part) => part === "node_modules"),
    });
    files.on("all", (_event, path) => {
      const dir = relative(real, path).split(sep)[0];
      if (!dir || dir === "..") return;
      if (dir.startsWith(".")) return hiddenChanged(path);
      known.add(dir);
      settle(dir);
    });
    await new Promise<void>((resolve) => files!.once("ready", () => resolve()));
  };
  // Once the dot-entries are quiet: the linked plugin folders that now lead elsewhere, or under which something changed.
  const hiddenChanged = (path: string) => {
    hidden.push(path);
    clearTimeout(hiddenTimer);
    hiddenTimer = setTimeout(async () => {
      if (closed) return;
      const [paths, before] = [hidden, linked];
      hidden = [];
      linked = await linkedFolders(root);
      for (const [dir, target] of linked) {
        if (before.get(dir) !== target || paths.some((p) => p === target || p.startsWith(target + sep))) changed(dir);
      }
    }, SETTLE_MS);
  };
  // The folder the path leads to, by inode: a folder renamed over it is a new version too.
  let rootId = "";
  const links = watchResolution(pluginsDir, async () => {
    const now = await folderIdentity(pluginsDir).catch(() => undefined);
    if (closed || now === undefined || now.id === rootId) return;
    const { real, id } = now;
    rootId = id;
    const next = await folderNames(real);
    for (const dir of new Set([...known, ...next])) settle(dir);
    known = next;
    await follow(real);
    linked = await linkedFolders(real);
  });
  const ready = (async () => {
    const { real, id } = await folderIdentity(pluginsDir);
    rootId = id;
    known = await folderNames(real);
    await Promise.all([follow(real), links.ready]);
    linked = await linkedFolders(real);
  })();
  return {
    ready,
    async close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      clearTimeout(hiddenTimer);
      links.close();
      await ready.catch(() => {});
      await files?.close();
    },
  };
}

/**
 * Watches one file (the host config) and calls `changed()` after it settles: when its content
 * changes in place, when it is replaced (an editor's atomic save), and when a symbolic link on
 * its path is swapped to another version (a Kubernetes ConfigMap or Secret volume).
 */
export function watchFile(file: string, changed: () => void): { close(): Promise<void>; ready: Promise<void> } {
  let last: Promise<string> = identity(file);
  const links = watchResolution(file, async () => {
    const [before, now] = [await last, identity(file)];
    last = now;
    if ((await now) !== before) changed();
  });
  return {
    ready: Promise.all([last, links.ready]).then(() => {}),
    async close() {
      links.close();
    },
  };
}

/** What the file is now: where its path leads, and that file's inode, size and times. */
async function identity(file: string): Promise<string> {
  try {
    const real = await realpath(file);
    const s = await stat(real);
    return [real, s.dev, s.ino, s.size, s.mtimeMs, s.ctimeMs].join("\0");
  } catch (e) {
    return `unreadable ${(e as NodeJS.ErrnoException).code}`;
  }
}

/** Where a folder's path leads, and that folder's inode. */
async function folderIdentity(path: string): Promise<{ real: string; id: string }> {
  const real = await realpath(path);
  const s = await stat(real);
  return { real, id: [real, s.dev, s.ino].join("\0") };
}

/** The entries of the plugins folder that are links to folders inside it, and the real folder each leads to. */
async function linkedFolders(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isSymbolicLink() || entry.name.startsWith(".")) continue;
    const target = await realpath(join(root, entry.name)).catch(() => undefined);
    if (target?.startsWith(root + sep)) found.set(entry.name, target);
  }
  return found;
}

async function folderNames(folder: string): Promise<Set<string>> {
  const entries = await readdir(folder).catch(() => [] as string[]);
  return new Set(entries.filter((name) => !name.startsWith(".")));
}

/**
 * Calls `check()` (one at a time, after SETTLE_MS of quiet) whenever an entry that decides where
 * `path` leads or what it holds changes: every symbolic link on the way and what the path finally
 * names. After each check they are worked out again, so the watch follows the path to each new
 * version. Inotify does not follow a link that is replaced, so the folders holding the links are
 * watched (for those names only: the folder may be as busy as /tmp), not what the links lead to.
 */
function watchResolution(path: string, check: () => Promise<void>): { ready: Promise<void>; close(): void } {
  const watchers = new Map<string, FolderWatcher>();
  let names = new Map<string, Set<string>>();
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  let closed = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(async () => {
        if (closed) return;
        await check().catch(() => {});
        await rewatch();
      });
    }, SETTLE_MS);
  };
  const rewatch = async () => {
    const folders = await resolutionFolders(path);
    if (closed) return;
    for (const [folder, w] of watchers) {
      if (!folders.has(folder)) {
        w.close();
        watchers.delete(folder);
      }
    }
    names = folders;
    for (const folder of folders.keys()) {
      if (watchers.has(folder)) continue;
      const changedIn = (_event: string, name: string | null) => {
        if (name === null || names.get(folder)?.has(name)) schedule();
      };
      try {
        // A folder that goes away (an old version deleted) ends its watch with an error: look again.
        const w = watchFolder(folder, { persistent: false }, changedIn).on("error", () => {
          w.close();
          watchers.delete(folder);
          schedule();
        });
        watchers.set(folder, w);
      } catch {
        // gone before it could be watched: the next change in the folder holding it shows where the path leads now
      }
    }
  };
  running = rewatch();
  return {
    ready: running,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

/**
 * The entries that decide what `path` leads to, by folder: each symbolic link on the way, and
 * what the path finally names. Where the path leads nowhere, the missing entry (it may appear).
 */
export async function resolutionFolders(path: string): Promise<Map<string, Set<string>>> {
  const folders = new Map<string, Set<string>>();
  const add = (folder: string, name: string) => folders.set(folder, (folders.get(folder) ?? new Set()).add(name));
  const pending = path.split(sep).filter((part) => part !== "");
  let current = isAbsolute(path) ? sep : process.cwd();
  let links = 0;
  while (pending.length) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      current = dirname(current);
      continue;
    }
    const next = join(current, name);
    const info = await lstat(next).catch(() => undefined);
    if (!info) {
      add(current, name);
      return folders;
    }
    if (info.isSymbolicLink() && links++ < MAX_LINKS) {
      add(current, name);
      const target = await readlink(next).catch(() => "");
      if (isAbsolute(target)) current = sep;
      pending.unshift(...target.split(sep).filter((part) => part !== ""));
      continue;
    }
    current = next;
  }
  add(dirname(current), basename(current));
  return folders;
}
