import { watch } from "chokidar";
import { relative, sep } from "node:path";
import { FOLDER_LIMITS } from "./plugin-files.js";

/** Quiet time after the last change in a folder before it is reloaded: a folder copied file by file loads once. */
export const SETTLE_MS = 300;

/**
 * Watches the plugins folder and calls `changed(dir)` once per plugin folder after its files have
 * settled (editors that save atomically, and chokidar reporting before a write ends, make bursts).
 */
export function watchPlugins(pluginsDir: string, changed: (dir: string) => void): { close(): Promise<void>; ready: Promise<void> } {
  const timers = new Map<string, NodeJS.Timeout>();
  const watcher = watch(pluginsDir, {
    ignoreInitial: true,
    // A link in a plugin folder may lead anywhere (even to /): discovery refuses it, and the watcher
    // never walks it. The plugin folders are one level below the plugins folder.
    followSymlinks: false,
    depth: FOLDER_LIMITS.maxDepth + 1,
    ignored: (path) => relative(pluginsDir, path).split(sep).some((part) => part === "node_modules"),
  });
  watcher.on("all", (_event, path) => {
    const dir = relative(pluginsDir, path).split(sep)[0];
    if (!dir || dir.startsWith(".") || dir.startsWith("..")) return;
    clearTimeout(timers.get(dir));
    timers.set(
      dir,
      setTimeout(() => {
        timers.delete(dir);
        changed(dir);
      }, SETTLE_MS),
    );
  });
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    async close() {
      for (const t of timers.values()) clearTimeout(t);
      await watcher.close();
    },
  };
}

/** Watches one file (the host config) and calls `changed()` after it settles. */
export function watchFile(file: string, changed: () => void): { close(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(file, { ignoreInitial: true });
  watcher.on("all", () => {
    clearTimeout(timer);
    timer = setTimeout(changed, SETTLE_MS);
  });
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
