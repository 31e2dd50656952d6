// Type-checks plugin hook scripts against plugins.d.ts with the TypeScript compiler. The host only
// strips types (core/compile.ts), so a hook returning `{ phone: 42 }` loads; this is where it is caught.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import type TS from "typescript";
import type { SourceProblem } from "../core/compile.js";
import { PACKAGE_ROOT } from "../core/package-root.js";

// Required, not imported: as an ES module import, Node first scans this 9 MB CommonJS file for
// its named exports, which nearly doubles the CPU it costs to load (1.5 s against 0.8 s, measured).
const ts: typeof TS = createRequire(import.meta.url)("typescript");

/** The declarations every hook script sees as globals (CONTRACT §3). */
export const PLUGIN_TYPES = join(PACKAGE_ROOT, "plugins.d.ts");

/** Those of plugins/tsconfig.json: ES2022 only, no DOM and no Node, as in the sandbox. */
const DEFAULT_OPTIONS: TS.CompilerOptions = {
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
const FORCED_OPTIONS: TS.CompilerOptions = {
  noEmit: true,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  composite: false,
  incremental: true,
  declaration: false,
};

/**
 * What the compiler learnt about each plugins folder (a .tsbuildinfo file per folder): a file it
 * checked before is not checked again until it, something it uses, plugins.d.ts or the options
 * change. A cache only: when it cannot be read or written, every file is checked.
 */
const CACHE_DIR = join(PACKAGE_ROOT, "node_modules", ".cache", "hookhost");
/** How many plugins folders keep a cache (the last checked); each file is tens of KiB. */
const CACHED_FOLDERS = 16;

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
  // Building a program costs a second or more: not for plain JS.
  if (!files.length) return { byFolder, general };
  const cache = cacheFile(pluginsDir);
  let found: TypecheckResult;
  try {
    found = diagnose(pluginsDir, files, { ...options, tsBuildInfoFile: cache });
  } catch (e) {
    // The compiler trusts a .tsbuildinfo of its own version and throws on a damaged one.
    if (!existsSync(cache)) throw e;
    rmSync(cache, { force: true });
    found = diagnose(pluginsDir, files, { ...options, tsBuildInfoFile: cache });
  }
  for (const [dir, problems] of found.byFolder) byFolder.get(dir)!.push(...problems);
  return { byFolder, general: [...general, ...found.general] };
}

/** The .tsbuildinfo that holds what the compiler learnt about one plugins folder. */
export function cacheFile(pluginsDir: string): string {
  return join(CACHE_DIR, `${createHash("sha256").update(pluginsDir).digest("hex").slice(0, 16)}.tsbuildinfo`);
}

function diagnose(pluginsDir: string, files: { dir: string; file: string }[], options: TS.CompilerOptions): TypecheckResult {
  const byFolder = new Map<string, SourceProblem[]>(files.map(({ dir }) => [dir, []]));
  const general: string[] = [];
  const host = ts.createIncrementalCompilerHost(options);
  // As tsc does: the doc comments of .ts files (the ES library's are most of the text) are not
  // parsed, as no type error depends on them; ~20 % of the program's CPU, measured.
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  const program = ts.createIncrementalProgram({ rootNames: [PLUGIN_TYPES, ...files.map((f) => f.file)], options, host });
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) general.push(`TypeScript: ${message(d)}`);
  // Checks the files that changed since the last run, which is what the .tsbuildinfo records.
  program.getSemanticDiagnostics();
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
  program.emit(undefined, writeCache); // with noEmit, only the .tsbuildinfo
  return { byFolder, general };
}

/** Written whole or not at all, as checks of one folder may run side by side; the oldest beyond CACHED_FOLDERS go. */
function writeCache(path: string, text: string): void {
  const temporary = `${path}.${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temporary, text);
    renameSync(temporary, path);
    const files = readdirSync(CACHE_DIR).map((name) => join(CACHE_DIR, name));
    const byAge = files.map((file) => ({ file, mtime: statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0 })).sort((a, b) => b.mtime - a.mtime);
    for (const { file } of byAge.slice(CACHED_FOLDERS)) rmSync(file, { force: true });
  } catch {
    // a read-only installation: every run checks every file
  }
}

/** The plugins folder's own tsconfig.json when it has one, else the defaults; then the forced options. */
function compilerOptions(pluginsDir: string, general: string[]): TS.CompilerOptions {
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
function message(d: TS.Diagnostic): string {
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
