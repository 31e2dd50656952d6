// Type-checks plugin hook scripts against plugins.d.ts with the TypeScript compiler. The host only
// strips types (core/compile.ts), so a hook returning `{ phone: 42 }` loads; this is where it is caught.
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type { SourceProblem } from "../compile.js";

/** The declarations every hook script sees as globals (CONTRACT §3). */
export const PLUGIN_TYPES = fileURLToPath(new URL("../../plugins.d.ts", import.meta.url));

/** Those of plugins/tsconfig.json: ES2022 only, no DOM and no Node, as in the sandbox. */
const DEFAULT_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts"],
  types: [],
  strict: true,
  noUncheckedIndexedAccess: true,
  isolatedModules: true,
  skipLibCheck: true,
};

/**
 * What holds whatever a tsconfig.json says: the sandbox runs every file as an ES module with
 * relative imports only, whether or not a package.json with "type": "module" is near.
 */
const FORCED_OPTIONS: ts.CompilerOptions = {
  noEmit: true,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  composite: false,
  incremental: false,
  declaration: false,
};

/** "No inputs were found in config file": the files come from the folders, not from `include`. */
const NO_INPUTS = 18003;

export interface TypecheckResult {
  /** type errors by plugin folder name; `file` relative to the folder */
  byFolder: Map<string, SourceProblem[]>;
  /** problems in no plugin's file: the tsconfig.json, the compiler options, plugins.d.ts */
  general: string[];
}

/** One program for every folder (each file is its own module): the declarations are parsed once. */
export function typecheckFolders(pluginsDir: string, dirs: string[]): TypecheckResult {
  const byFolder = new Map<string, SourceProblem[]>(dirs.map((d) => [d, []]));
  const general: string[] = [];
  if (!existsSync(PLUGIN_TYPES)) return { byFolder, general: [`${PLUGIN_TYPES} is missing: hookhost's installation is incomplete`] };
  const options = compilerOptions(pluginsDir, general);
  const files = dirs.flatMap((dir) => tsFiles(join(pluginsDir, dir)).map((file) => ({ dir, file })));
  // Building a program costs seconds (plugins.d.ts draws its types from zod): not for plain JS.
  if (!files.length) return { byFolder, general };
  const program = ts.createProgram({ rootNames: [PLUGIN_TYPES, ...files.map((f) => f.file)], options });
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) general.push(`TypeScript: ${message(d)}`);
  for (const { dir, file } of files) {
    const source = program.getSourceFile(file);
    if (!source) continue;
    // After a syntax error the type errors of the file are noise, as tsc itself reports.
    const syntactic = program.getSyntacticDiagnostics(source);
    const diagnostics = syntactic.length ? syntactic : program.getSemanticDiagnostics(source);
    for (const d of diagnostics) {
      if (d.category !== ts.DiagnosticCategory.Error) continue;
      if (!d.file || d.start === undefined) {
        general.push(`TypeScript: ${message(d)}`);
        continue;
      }
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const rel = relative(join(pluginsDir, dir), file).split(sep).join("/");
      byFolder.get(dir)!.push({ file: rel, line: line + 1, column: character + 1, message: message(d) });
    }
  }
  return { byFolder, general };
}

/** The plugins folder's own tsconfig.json when it has one, else the defaults; then the forced options. */
function compilerOptions(pluginsDir: string, general: string[]): ts.CompilerOptions {
  const path = join(pluginsDir, "tsconfig.json");
  if (!existsSync(path)) return { ...DEFAULT_OPTIONS, ...FORCED_OPTIONS };
  const read = ts.readConfigFile(path, ts.sys.readFile);
  if (read.error) {
    general.push(`${path}: ${message(read.error)}`);
    return { ...DEFAULT_OPTIONS, ...FORCED_OPTIONS };
  }
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, pluginsDir, undefined, path);
  for (const d of parsed.errors) if (d.code !== NO_INPUTS) general.push(`${path}: ${message(d)}`);
  return { ...parsed.options, ...FORCED_OPTIONS };
}

/**
 * One line per error: a long chain ("Argument of type … is not assignable … Types of property
 * 'phone' are incompatible. Type 'number' is not assignable to type 'string'.") is cut to its last
 * two links, which name the field and the types; the position already says where.
 */
function message(d: ts.Diagnostic): string {
  const chain = ts.flattenDiagnosticMessageText(d.messageText, "\n").split("\n").map((l) => l.trim()).filter(Boolean);
  return `${chain.slice(-2).join(" ")} (TS${d.code})`;
}

/** The folder's .ts files as the loader reads them: no dot entries, no node_modules, nothing linked from outside. */
function tsFiles(root: string): string[] {
  const out: string[] = [];
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return out;
  }
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const full = join(dir, entry.name);
      let target = full;
      if (entry.isSymbolicLink()) {
        try {
          target = realpathSync(full);
        } catch {
          continue;
        }
        if (!target.startsWith(realRoot + sep)) continue;
      }
      const info = statSync(target);
      if (info.isDirectory()) walk(full);
      else if (info.isFile() && entry.name.endsWith(".ts")) out.push(full);
    }
  };
  walk(root);
  return out.sort();
}
