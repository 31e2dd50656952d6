// plugins.d.ts against the TypeScript compiler: the shipped plugins compile with it, and plugins
// that get a hook's types wrong do not (each with the error an author would see).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOOK_NAMES, rules } from "../core/hooks.js";
import { ROOT, writePlugins } from "./support.js";

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

describe("plugins.d.ts", function () {
  this.timeout(120_000); // each tsc run typechecks zod's declarations too

  it("the example plugins compile against it (tsc -p examples/plugins/tsconfig.json)", () => {
    const result = typecheck(join(ROOT, "examples", "plugins", "tsconfig.json"), ROOT);
    assert.equal(result.status, 0, result.output);
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
        "tsconfig.json": { extends: join(ROOT, "plugins", "tsconfig.json"), include: [join(ROOT, "plugins.d.ts"), "./**/*.ts"] },
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
