// The type-check of `hookhost check` (cli/typecheck.ts) keeps what the compiler learnt about a
// plugins folder between runs: each test checks a folder more than once and wants, every time, the
// verdict a fresh compiler gives.
import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheFile, typecheckFolders } from "../cli/typecheck.js";
import { listFolders } from "../core/discovery.js";
import { pluginsDir, writePlugins } from "./support.js";

/** Every problem the type-check reports for the folder, one line each. */
async function check(dir: string): Promise<string[]> {
  const result = typecheckFolders(dir, await listFolders(dir));
  const lines = [...result.byFolder].flatMap(([folder, problems]) => problems.map((p) => `${folder}/${p.file}:${p.line}:${p.column} ${p.message}`));
  return [...lines, ...result.general];
}

const PHONE = 'import { digits } from "./lib/digits.js";\nexport default defineHook("process_client_phone", (input) => ({ phone: "+" + digits(input.phone) }));\n';
const DIGITS = 'export function digits(phone: string): string {\n  return phone.replace(/\\D/g, "");\n}\n';

describe("hookhost check's type-check between runs", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const folder = (files: Record<string, string | object>): string => {
    const dir = pluginsDir(files);
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("reports every error again when nothing changed", async () => {
    const dir = folder({
      "typed/process_client_phone.ts": 'export default defineHook("process_client_phone", () => ({ phone: 42 }));\n',
      "misspelt/need_registration.ts": 'export default defineHook("need_registration", (input) => ({ result: input.call_full.is_ivrr }));\n',
      "unresolved/customize_entity.ts": 'import { x } from "./nowhere.js";\nexport default defineHook("customize_entity", () => x);\n',
      "syntax/post_registration.ts": "export default defineHook(\"post_registration\", () => {\n  return {;\n});\n",
      "good/process_client_phone.ts": PHONE,
      "good/lib/digits.ts": DIGITS,
    });
    const first = await check(dir);
    assert.equal(first.length, 4, first.join("\n"));
    for (const where of [/^typed\/process_client_phone\.ts:1:\d+ .*'number' is not assignable to type 'string'/, /^misspelt\/need_registration\.ts:1:\d+ .*'is_ivrr' does not exist/, /^unresolved\/customize_entity\.ts:1:\d+ Cannot find module '\.\/nowhere\.js'/, /^syntax\/post_registration\.ts:2:\d+ /]) {
      assert.ok(first.some((line) => where.test(line)), `${where}\n${first.join("\n")}`);
    }
    assert.ok(existsSync(cacheFile(dir)), "no cache was written");
    assert.deepEqual(await check(dir), first);
    assert.deepEqual(await check(dir), first);
  });

  it("sees each kind of change made since the last run", async () => {
    const dir = folder({ "phones/plugin.json": {}, "phones/process_client_phone.ts": PHONE, "phones/lib/digits.ts": DIGITS });
    const expect = async (step: string, wanted: RegExp[]) => {
      const found = await check(dir);
      assert.equal(found.length, wanted.length, `${step}:\n${found.join("\n")}`);
      wanted.forEach((w, i) => assert.match(found[i]!, w, step));
    };
    const write = (file: string, text: string | object) => writePlugins(dir, { [file]: text });

    await expect("as written", []);
    write("phones/process_client_phone.ts", 'export default defineHook("process_client_phone", () => ({ phone: 42 }));\n');
    await expect("a file broken", [/^phones\/process_client_phone\.ts:1:\d+ .*'number' is not assignable to type 'string'/]);
    write("phones/process_client_phone.ts", PHONE);
    await expect("the file fixed", []);
    write("phones/lib/digits.ts", "export function digits(phone: number): string {\n  return String(phone);\n}\n");
    await expect("a file it imports changed", [/^phones\/process_client_phone\.ts:2:\d+ .*'string' is not assignable to parameter of type 'number'/]);
    write("phones/lib/digits.ts", DIGITS);
    write("phones/lib/unused.ts", "export function unused(): void {\n  const nothing = 1;\n}\n");
    await expect("a new file", []);
    write("tsconfig.json", { compilerOptions: { target: "ES2022", lib: ["ES2022"], types: [], strict: true, noUnusedLocals: true } });
    await expect("an option that finds more", [/^phones\/lib\/unused\.ts:2:9 'nothing' is declared but its value is never read/]);
    rmSync(join(dir, "tsconfig.json"));
    await expect("the option gone", []);
    write("phones/process_client_phone.ts", PHONE.replace("./lib/digits.js", "./lib/extra.js"));
    await expect("an import of a missing file", [/^phones\/process_client_phone\.ts:1:\d+ Cannot find module '\.\/lib\/extra\.js'/]);
    write("phones/lib/extra.ts", DIGITS);
    await expect("the missing file added", []);
    write("typed/process_user_phone.ts", 'export default defineHook("process_user_phone", () => ({ phone: null }));\n');
    await expect("a new plugin folder", [/^typed\/process_user_phone\.ts:1:\d+ .*'null' is not assignable to type 'string'/]);
  });

  it("sets a damaged cache aside and checks every file", async () => {
    const dir = folder({ "typed/process_client_phone.ts": 'export default defineHook("process_client_phone", () => ({ phone: 42 }));\n' });
    const first = await check(dir);
    assert.equal(first.length, 1, first.join("\n"));
    // Each a way a .tsbuildinfo can be damaged: the compiler throws on some, ignores others.
    const damaged = [
      '{"version":"garbage',
      "",
      JSON.stringify({ version: "5.9.3", fileNames: 7 }),
      JSON.stringify({ version: "5.9.3", fileNames: ["a"], fileInfos: [1, 2, 3], root: [[1, 9]], options: {}, semanticDiagnosticsPerFile: [[5, [{ start: 1 }]]] }),
    ];
    for (const text of damaged) {
      writeFileSync(cacheFile(dir), text);
      assert.deepEqual(await check(dir), first, text);
    }
  });
});
