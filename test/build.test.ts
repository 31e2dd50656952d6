// When `npm run build` (and so `npm install`, `npm pack`, `npm test`) compiles again, and when the
// tests refuse dist/ as out of date: scripts/dist.ts, on a small tree of its own.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { staleDist } from "../scripts/dist.js";

describe("is dist/ up to date", () => {
  let root: string;
  const BEFORE = new Date("2026-11-01T00:00:00Z");
  const AFTER = new Date("2026-11-02T00:00:00Z");

  /** Writes `path` under the tree with its modification time set to `at`. */
  const file = (path: string, at: Date): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), "");
    utimesSync(join(root, path), at, at);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "hookhost-dist-"));
    file("tsconfig.json", BEFORE);
    writeFileSync(join(root, "tsconfig.build.json"), JSON.stringify({ include: ["core"] }));
    utimesSync(join(root, "tsconfig.build.json"), BEFORE, BEFORE);
    file("core/a.ts", BEFORE);
    file("core/front/b.ts", BEFORE);
    file("core/types.d.ts", AFTER);
    file("core/notes.md", AFTER);
    file("dist/core/a.js", AFTER);
    file("dist/core/front/b.js", AFTER);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("is, when every .ts file's .js was written after it and after the compiler options (declarations and other files aside)", () => {
    assert.equal(staleDist(root), undefined);
  });

  it("is not when a source file changed since, naming it", () => {
    utimesSync(join(root, "core/front/b.ts"), AFTER, new Date("2026-11-03T00:00:00Z"));
    assert.equal(staleDist(root), "core/front/b.ts or the compiler options changed since dist/core/front/b.js was written");
  });

  it("is not when the compiler options changed since", () => {
    utimesSync(join(root, "tsconfig.json"), AFTER, new Date("2026-11-03T00:00:00Z"));
    assert.match(staleDist(root) ?? "", /or the compiler options changed since/);
  });

  it("is not when a source file has no output (a new file, a build cut short)", () => {
    file("core/c.ts", BEFORE);
    assert.equal(staleDist(root), "dist/core/c.js is missing");
  });

  it("is not when it holds a module whose source is gone", () => {
    file("dist/core/removed.js", AFTER);
    assert.equal(staleDist(root), "dist/core/removed.js has no source any more");
  });
});
