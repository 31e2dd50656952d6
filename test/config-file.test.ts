// The host config file is read at start and at every change: a FIFO, a device or a huge file in
// its place is one clear problem, never a blocked host.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadSettings } from "../core/config.js";
import { MAX_JSON_FILE_BYTES } from "../core/json-file.js";

describe("host config file: only a regular file, read to a bound", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "hookhost-config-file-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const problemOf = (file: string): string => {
    try {
      loadSettings({ HOOKHOST_CONFIG: file }, dir);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.problems.length, 1);
      return e.problems[0];
    }
    assert.fail(`${file} was accepted`);
  };

  it("a FIFO, a link to a device, a folder: refused at once as not a regular file", () => {
    execFileSync("mkfifo", [join(dir, "fifo.json")]);
    symlinkSync("/dev/zero", join(dir, "zero.json"));
    for (const file of ["fifo.json", "zero.json", "."]) assert.match(problemOf(file), /^cannot be read: (not a regular file|EISDIR)/, file);
  });

  it(`a file over ${MAX_JSON_FILE_BYTES} bytes is refused without being parsed`, () => {
    writeFileSync(join(dir, "huge.json"), `{"tenants":{},"pad":"${"x".repeat(MAX_JSON_FILE_BYTES)}"}`);
    assert.match(problemOf("huge.json"), new RegExp(`^cannot be read: larger than ${MAX_JSON_FILE_BYTES} bytes$`));
  });

  it("a link to a regular config file is followed, as deployments often do", () => {
    writeFileSync(join(dir, "real.json"), JSON.stringify({ tenants: { acme: { token: "t" } } }));
    symlinkSync("real.json", join(dir, "hookhost.json"));
    assert.deepEqual(Object.keys(loadSettings({}, dir).config.tenants), ["acme"]);
  });
});
