// A Kubernetes ConfigMap/Secret volume as the kubelet writes it, for the tests of reload through links.
import { existsSync, lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * A folder updated the way the kubelet updates a ConfigMap or Secret volume (its AtomicWriter). The
 * kubelet removes the old version right after the swap; `removeOld: false` leaves it for later, so
 * that only the swap itself tells that something changed.
 */
export class KubeVolume {
  private version = 0;
  constructor(
    readonly dir: string,
    private readonly removeOld = true,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Publishes `files` (paths may have folders) as the volume's whole new content. */
  publish(files: Record<string, string | object>): void {
    const stamp = `..2026_11_28_10_00_${String(++this.version).padStart(2, "0")}.${process.pid}`;
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, stamp, path)), { recursive: true });
      writeFileSync(join(this.dir, stamp, path), typeof content === "string" ? content : JSON.stringify(content));
    }
    const data = join(this.dir, "..data");
    const old = existsSync(data) ? readlinkSync(data) : undefined;
    symlinkSync(stamp, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), data);
    const tops = new Set(Object.keys(files).map((path) => path.split("/")[0]!));
    for (const top of tops) if (!exists(join(this.dir, top))) symlinkSync(`..data/${top}`, join(this.dir, top));
    if (old) {
      for (const top of Object.keys(this.previous)) if (!tops.has(top)) rmSync(join(this.dir, top));
      if (this.removeOld) rmSync(join(this.dir, old), { recursive: true });
    }
    this.previous = Object.fromEntries([...tops].map((t) => [t, true]));
  }
  private previous: Record<string, true> = {};
}

/** Whether anything (a dangling link included) is at `path`. */
export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
