// plugins.d.ts against the TypeScript compiler and core/hooks.ts: it is what `npm run types` renders
// from the schemas and holds exactly their types, the shipped plugins compile with it, and plugins
// that get a hook's types wrong do not (each with the error an author would see).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { typecheckFolders } from "../cli/typecheck.js";
import { listFolders } from "../core/discovery.js";
import { HOOK_NAMES, rules } from "../core/hooks.js";
import { pluginTypeBlocks, withPluginTypes, type PluginTypeBlocks } from "../scripts/plugin-types.js";
import { ROOT, writePlugins } from "./support.js";

const PLUGIN_TYPES = join(ROOT, "plugins.d.ts");

const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

interface Diagnostic {
  file: string;
  line: number;
  code: string;
  message: string;
}

/** Runs tsc on a project; its diagnostics, with file paths relative to the project's folder. */
function typecheck(tsconfig: string, projectDir: string): { status: number | null; output: string; diagnostics: Diagnostic[] } {
  const run = spawnSync(process.execPath, [TSC, "--noEmit", "--pretty", "false", "-p", tsconfig], { cwd: projectDir, encoding: "utf8" });
  const output = run.stdout + run.stderr;
  const diagnostics: Diagnostic[] = [];
  for (const line of output.split(/\r?\n/)) {
    const match = /^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/.exec(line);
    if (match) diagnostics.push({ file: match[1]!.replaceAll("\\", "/"), line: Number(match[2]), code: match[3]!, message: match[4]! });
    else if (/^\s/.test(line) && diagnostics.length > 0) diagnostics[diagnostics.length - 1]!.message += `\n${line.trim()}`; // the chain of reasons
  }
  return { status: run.status, output, diagnostics };
}

/**
 * The tsconfig.json of every plugins folder the repository ships (wherever it lies): those that
 * type-check hook scripts against plugins.d.ts.
 */
function shippedPluginConfigs(dir = ROOT): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...shippedPluginConfigs(path));
    else if (entry.name === "tsconfig.json" && dir !== ROOT) {
      const include: unknown = ts.readConfigFile(path, ts.sys.readFile).config?.include;
      if (Array.isArray(include) && include.some((p) => String(p).endsWith("plugins.d.ts"))) found.push(path);
    }
  }
  return found;
}

describe("plugins.d.ts", function () {
  this.timeout(120_000); // a tsc run on core/hooks.ts typechecks zod's declarations too

  describe("is generated from core/hooks.ts (npm run types)", () => {
    let current: string;
    let blocks: PluginTypeBlocks;
    before(() => {
      current = readFileSync(PLUGIN_TYPES, "utf8");
      blocks = pluginTypeBlocks();
    });

    it("matches what the schemas render now (run `npm run types` after changing core/hooks.ts)", () => {
      assert.equal(withPluginTypes(current, blocks), current);
    });

    // Each a way plugins.d.ts can drift: the comparison above must see it, and a render repairs it.
    const drifts: Record<string, (text: string) => string> = {
      "a field's type": (t) => t.replace(/(\n\s+phone: )string;/, "$1number;"),
      "a required field made optional": (t) => t.replace(/(\n\s+DURATION): number;/, "$1?: number;"),
      "a hook left out": (t) => t.replace(/\n\s+customize_entity: \{\n[^}]*\};/, ""),
      "a named type left out": (t) => t.replace(/\n\s+type Conversation = \{\n[^}]*\};/, ""),
      "a hook that can no longer be cancelled": (t) => t.replace(/\n\s+\| "customize_attach_record_url";/, ";"),
    };
    for (const [drift, edit] of Object.entries(drifts)) {
      it(`sees ${drift} and renders it back`, () => {
        const drifted = edit(current);
        assert.notEqual(drifted, current, "the edit did not apply: update this test");
        assert.equal(withPluginTypes(drifted, blocks), current);
      });
    }

    it("refuses a plugins.d.ts without its generated blocks, naming the missing one", () => {
      for (const block of ["hooks", "globals"]) {
        const cut = current.replace(`// end generated:${block}`, "");
        assert.throws(() => withPluginTypes(cut, blocks), new RegExp(`plugins\\.d\\.ts has no .*generated:${block}`));
      }
    });
  });

  it("imports nothing, so a type-check reads it alone (not core/hooks.ts and zod's declarations)", () => {
    const source = ts.createSourceFile(PLUGIN_TYPES, readFileSync(PLUGIN_TYPES, "utf8"), ts.ScriptTarget.Latest, true);
    const imports: string[] = [...source.referencedFiles, ...source.typeReferenceDirectives, ...source.libReferenceDirectives].map((r) => `/// ${r.fileName}`);
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) || ts.isImportEqualsDeclaration(node) || ts.isImportTypeNode(node) || (ts.isExportDeclaration(node) && node.moduleSpecifier)) {
        imports.push(node.getText(source));
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    assert.deepEqual(imports, []);
  });

  it("holds exactly core/hooks.ts's types: each hook's input and data, CallFull and Stage", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookhost-plugin-types-"));
    try {
      // Mutual assignability: a field added, dropped, retyped or made optional on either side fails.
      const pairs: [label: string, flat: string, core: string][] = [
        ...HOOK_NAMES.flatMap((hook): [string, string, string][] => [
          [`${hook} input`, `Flat.HookInput<"${hook}">`, `Core.HookInput<"${hook}">`],
          [`${hook} data`, `Flat.HookData<"${hook}">`, `unknown extends Core.HookData<"${hook}"> ? Record<string, unknown> : Core.HookData<"${hook}">`],
        ]),
        ["CallFull", "Flat.CallFull", "Core.CallFull"],
        ["Stage", "Stage", "Core.Stage"],
      ];
      const header = [
        `import type * as Core from "${join(ROOT, "core", "hooks.js")}";`,
        `import type * as Flat from "${join(ROOT, "plugins.js")}";`,
        "type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;",
        "type Holds<T extends true> = T;",
      ];
      writePlugins(dir, {
        "package.json": { type: "module" },
        "tsconfig.json": {
          compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] },
          files: ["same.ts"],
        },
        "same.ts": [...header, ...pairs.map(([, flat, core], i) => `export type Check${i} = Holds<Same<${flat}, ${core}>>;`), ""].join("\n"),
      });
      const result = typecheck(join(dir, "tsconfig.json"), dir);
      const differ = result.diagnostics.map((d) => pairs[d.line - header.length - 1]?.[0] ?? `${d.file}:${d.line}: ${d.message}`);
      assert.deepEqual(differ, [], result.output);
      assert.equal(result.status, 0, result.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the shipped plugins compile against it (tsc -p <their tsconfig.json>)", () => {
    const configs = shippedPluginConfigs();
    assert.ok(configs.length > 0, "no tsconfig.json in the repository includes plugins.d.ts");
    for (const config of configs) {
      const result = typecheck(config, ROOT);
      assert.equal(result.status, 0, `${relative(ROOT, config)}:\n${result.output}`);
    }
  });

  it("hookhost check type-checks the shipped plugins against it in a fraction of the former CPU time", async () => {
    // A copy: a folder never checked before, so the compiler's cache has nothing for it.
    const dir = mkdtempSync(join(tmpdir(), "hookhost-plugin-types-"));
    try {
      cpSync(dirname(shippedPluginConfigs()[0]!), dir, { recursive: true });
      const folders = await listFolders(dir);
      const seconds = (): number => {
        const start = process.threadCpuUsage();
        const result = typecheckFolders(dir, folders);
        const used = process.threadCpuUsage(start);
        assert.deepEqual([[...result.byFolder.values()].flat(), result.general], [[], []]);
        return (used.user + used.system) / 1e6;
      };
      // This thread's CPU, measured: 1.9–2.0 s, then 1.1 s again, when plugins.d.ts imported
      // core/hooks.ts (zod's declarations each time); now 0.7 s, then 0.15 s with the cache.
      const first = seconds();
      const again = seconds();
      assert.ok(first < 1.2, `the first check took ${first.toFixed(2)} s of CPU`);
      assert.ok(again < 0.6, `the second check took ${again.toFixed(2)} s of CPU`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("a plugin folder that gets the types wrong does not compile", () => {
    let dir: string;
    let diagnostics: Diagnostic[];
    let output: string;

    // One project, one tsc run: every file holds one mistake, on its last line, except good.ts.
    const mistakes: Record<string, { source: string; code: string; message: RegExp }> = {
      "wrong-data/process_client_phone.ts": {
        source: `export default defineHook("process_client_phone", () => ({ phone: 42 }));`,
        code: "TS2322",
        message: /Type 'number' is not assignable to type 'string'/,
      },
      "wrong-field/process_client_phone.ts": {
        source: `export default defineHook("process_client_phone", (input) => ({ phone: input.phoen.trim() }));`,
        code: "TS18046",
        message: /'input\.phoen' is of type 'unknown'/,
      },
      "wrong-call-full/need_registration.ts": {
        source: `export default defineHook("need_registration", (input) => ({ result: input.call_full.channel.trunk.numbr === "" }));`,
        code: "TS2551",
        message: /Property 'numbr' does not exist on type 'NumberInfo'/,
      },
      "missing-key/need_registration.ts": {
        source: `export default defineHook("need_registration", () => ({ register: false }));`,
        code: "TS2322",
        message: /'result' is missing/,
      },
      "ungranted/post_registration.ts": {
        source: `export default defineHook("post_registration", async (_input, ctx) => { await ctx.store.set("k", 1); });`,
        code: "TS18048",
        message: /'ctx\.store' is possibly 'undefined'/,
      },
      "no-console/customize_entity.ts": {
        source: `export default defineHook("customize_entity", () => { console.log("no console in the sandbox"); });`,
        code: "TS2584",
        message: /Cannot find name 'console'/,
      },
      "wrong-hook/process_user_phone.ts": {
        source: `export default defineHook("process_user_phone", (() => ({ result: true })) as Hook<"need_registration">);`,
        code: "TS2345",
        message: /not assignable to parameter of type 'Hook<"process_user_phone">'/,
      },
    };
    // Every hook returning cancel(): only those whose rule allows it may compile.
    const cancels = Object.fromEntries(
      HOOK_NAMES.map((hook) => [`cancels/${hook}.ts`, `export default defineHook("${hook}", () => cancel("no CRM request"));`]),
    );
    // Uses every part of the API correctly: proves the errors above come from the mistakes alone.
    const good = `
      const hook: Hook<"process_record_file_path"> = async (input, ctx) => {
        const wav = input.file_path;
        if (wav === undefined || ctx.records === undefined) return undefined;
        ctx.log.info("converting", { wav, tenant: ctx.tenant, plugin: ctx.plugin, hook: ctx.hook });
        const seen = input.call_full && (await ctx.store?.get(input.call_full.channel.id));
        if (seen !== undefined) ctx.log.debug("again", { seen });
        const reply = await ctx.http?.fetch("https://acme.bitrix24.ru/rest/", { method: "POST", body: { wav } });
        if (reply !== undefined && reply.status !== 200) ctx.log.warn(reply.text);
        return { file_path: await ctx.records.convert(wav, { format: "mp3", bitrateKbps: 32 }) };
      };
      export default hook;
      export const task = defineHook("process_task_creation_params", async (input, ctx) =>
        input.fields.UF_CRM_TASK?.length === 0 ? cancel("no CRM binding") : { fields: { TITLE: String(ctx.config["title"] ?? ctx.data.fields.TITLE) } });
      export const card = defineHook("customize_show_call_card", (input) => {
        const entity: Entity | null = input.call_full.entity;
        return entity === null ? null : { USER_ID: [Number(input.USER_ID), entity.responsible.id] };
      });
      export const route = defineHook("customize_autodistribution", (input) => ({ name: input.entity?.name ?? input.name }));
    `;

    before(() => {
      dir = mkdtempSync(join(tmpdir(), "hookhost-plugin-types-"));
      writePlugins(dir, {
        "package.json": { type: "module" },
        "tsconfig.json": { extends: shippedPluginConfigs()[0], include: [PLUGIN_TYPES, "./**/*.ts"] },
        ...Object.fromEntries(Object.entries(mistakes).map(([file, m]) => [file, `// ${m.code}\n${m.source}\n`])),
        ...cancels,
        "good/process_record_file_path.ts": good,
      });
      ({ diagnostics, output } = typecheck(join(dir, "tsconfig.json"), dir));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("the correct plugin compiles", () => {
      assert.deepEqual(diagnostics.filter((d) => d.file.startsWith("good/")), [], output);
    });

    for (const [file, mistake] of Object.entries(mistakes)) {
      it(`${file}: ${mistake.code} ${mistake.message.source.replaceAll("\\", "")}`, () => {
        const found = diagnostics.filter((d) => d.file === file);
        assert.equal(found.length, 1, output);
        assert.equal(found[0]!.line, 2);
        assert.equal(found[0]!.code, mistake.code);
        assert.match(found[0]!.message, mistake.message);
      });
    }

    it("cancel() compiles exactly for the hooks whose chain rule allows it (docs/hooks.md)", () => {
      const refused = new Set(diagnostics.filter((d) => d.file.startsWith("cancels/")).map((d) => d.file.slice("cancels/".length, -".ts".length)));
      for (const hook of HOOK_NAMES) {
        assert.equal(refused.has(hook), !rules[hook].cancellable, `${hook}: cancellable is ${rules[hook].cancellable}\n${output}`);
      }
    });

    it("reports nothing else", () => {
      const expected = new Set([...Object.keys(mistakes), ...Object.keys(cancels)]);
      assert.deepEqual(diagnostics.filter((d) => !expected.has(d.file)), [], output);
    });
  });
});
