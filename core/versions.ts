import { createHash } from "node:crypto";
import type { LoadedPlugin } from "./discovery.js";

/**
 * A plugin version's id: the first 12 hex characters of SHA-256 over its files (plugin.json and the
 * scripts, by sorted relative path, each path and length before its text so no two folders collide
 * by concatenation).
 */
export function versionId(manifestText: string, sources: ReadonlyMap<string, string>): string {
  const hash = createHash("sha256");
  const files = [["plugin.json", manifestText], ...[...sources].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
  for (const [path, text] of files) hash.update(`${path}\0${Buffer.byteLength(text)}\0`).update(text);
  return hash.digest("hex").slice(0, 12);
}

/** Why a plugin serves the version it serves. */
export type ServedReason = "latest" | "rollback" | "promoted";

/** A request the operator made that cannot be done; the admin API answers it with `status`. */
export class RolloutRefusal extends Error {
  constructor(
    readonly status: 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RolloutRefusal";
  }
}

/**
 * The last good versions of one plugin folder, newest first, and which of them is served. A good
 * load is served at once ("latest"); a rollback or a promotion serves another version until the
 * folder's next good load.
 */
export class VersionHistory {
  private kept: LoadedPlugin[] = [];
  private current?: LoadedPlugin;
  private why: ServedReason = "latest";

  get served(): LoadedPlugin | undefined {
    return this.current;
  }

  get reason(): ServedReason {
    return this.why;
  }

  /** The folder loaded: this version is served and kept, with at most `keep` versions in all. */
  loaded(plugin: LoadedPlugin, keep: number): void {
    this.keep(plugin, keep, "latest");
  }

  /** A candidate's code now answers as this plugin (`plugin` is the candidate as this plugin's version). */
  promoted(plugin: LoadedPlugin, keep: number): void {
    this.keep(plugin, keep, "promoted");
  }

  /**
   * Serves the named kept version, or the one kept just before the served one; returns the version
   * served until now. Throws a RolloutRefusal when there is no such version.
   */
  rollback(name: string, version?: string): { served: LoadedPlugin; previous: string } {
    const previous = this.current!;
    const at = this.kept.indexOf(previous);
    const target = version === undefined ? this.kept[at + 1] : this.kept.find((v) => v.version === version);
    if (!target) {
      if (version !== undefined) throw new RolloutRefusal(404, "unknown_version", `plugin ${name} keeps no version ${version}; kept: ${this.kept.map((v) => v.version).join(", ")}`);
      throw new RolloutRefusal(409, "no_older_version", `plugin ${name} keeps no good version older than the served ${previous.version}`);
    }
    if (target !== previous) [this.current, this.why] = [target, "rollback"];
    return { served: target, previous: previous.version };
  }

  list(): { version: string; loadedAt: string }[] {
    return this.kept.map((v) => ({ version: v.version, loadedAt: v.loadedAt.toISOString() }));
  }

  private keep(plugin: LoadedPlugin, keep: number, why: ServedReason): void {
    // Another name is another plugin: its predecessor's versions are not its own to go back to.
    const same = this.kept.filter((v) => v.manifest.name === plugin.manifest.name && v.version !== plugin.version);
    this.kept = [plugin, ...same].slice(0, keep);
    [this.current, this.why] = [plugin, why];
  }
}
