// `hookhost check [PLUGINS_DIR]`: loads every plugin folder exactly as the host does, type-checks
// its TypeScript against plugins.d.ts, and says what is wrong where (file:line:column).
import { join, resolve } from "node:path";
import type { SourceProblem } from "../core/compile.js";
import { hostConfigSchema } from "../core/config.js";
import { listFolders, loadFolder, type FolderResult } from "../core/discovery.js";
import { loadLimits } from "../core/limits.js";
import type { HookName } from "../core/hooks.js";
import type { Io } from "./io.js";
import { oneLine, problemLine } from "./problems.js";
import { typecheckFolders } from "./typecheck.js";
import { InputError } from "./usage.js";

export interface CheckedProblem {
  file: string;
  line: number | null;
  column: number | null;
  message: string;
}

/** One folder's verdict; the shape `--json` prints. */
export interface CheckedPlugin {
  folder: string;
  name: string;
  state: "ok" | "error";
  priority: number | null;
  tenants: "*" | string[] | null;
  hooks: HookName[];
  enabled: boolean | null;
  errors: CheckedProblem[];
}

export interface CheckOptions {
  pluginsDir: string;
  json: boolean;
}

/** Exit code 0 when every folder loads and type-checks, 1 otherwise. */
export async function checkCommand(options: CheckOptions, io: Io): Promise<number> {
  const pluginsDir = resolve(options.pluginsDir);
  let dirs: string[];
  try {
    dirs = await listFolders(pluginsDir);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  // The host's default ceilings: a plugin's own memoryMb applies within them.
  const limits = loadLimits(hostConfigSchema.parse({}));
  const results: FolderResult[] = [];
  for (const dir of dirs) results.push(await loadFolder(pluginsDir, dir, limits));
  const types = typecheckFolders(pluginsDir, dirs);
  const checked = results.map((r, i) => verdict(r, results.slice(0, i), types.byFolder.get(r.dir) ?? []));

  if (options.json) io.out(JSON.stringify(checked, null, 2));
  else io.out(render(pluginsDir, checked));
  for (const problem of types.general) io.err(`error: ${oneLine(problem)}`);
  return checked.some((c) => c.state === "error") || types.general.length ? 1 : 0;
}

function verdict(result: FolderResult, earlier: FolderResult[], typeErrors: SourceProblem[]): CheckedPlugin {
  const problems: SourceProblem[] = result.problem ? [result.problem] : [];
  const m = result.plugin?.manifest;
  // Two folders with one name: the host serves the first (registry.ts), so the later one is broken.
  const clash = m && earlier.find((e) => e.plugin?.manifest.name === m.name);
  if (clash) problems.push({ file: "plugin.json", message: `name "${m.name}" is already used by folder ${clash.dir}` });
  // A syntax error is found by both the loader and the compiler: report it once.
  const seen = new Set(problems.map(key));
  for (const p of typeErrors) if (!seen.has(key(p))) problems.push(p);
  return {
    folder: result.dir,
    name: m?.name ?? result.dir,
    state: problems.length ? "error" : "ok",
    priority: m?.priority ?? null,
    tenants: m?.tenants ?? null,
    hooks: result.plugin?.hooks ?? [],
    enabled: m?.enabled ?? null,
    errors: problems.map((p) => ({ file: p.file, line: p.line ?? null, column: p.column ?? null, message: oneLine(p.message) })),
  };
}

function key(p: SourceProblem): string {
  return `${p.file}:${p.line ?? ""}:${p.column ?? ""}`;
}

function render(pluginsDir: string, checked: CheckedPlugin[]): string {
  if (!checked.length) return `no plugin folders in ${pluginsDir}`;
  const lines: string[] = [];
  for (const c of checked) {
    const facts = [
      c.priority !== null ? `priority ${c.priority}` : "",
      c.tenants !== null ? `tenants ${c.tenants === "*" ? "*" : c.tenants.join(",")}` : "",
      `hooks ${c.hooks.length ? [...c.hooks].sort().join(", ") : "none"}`,
      c.enabled === false ? "disabled" : "",
    ].filter(Boolean);
    const named = c.name === c.folder ? c.name : `${c.name} (folder ${c.folder})`;
    lines.push(`${c.state.padEnd(5)}  ${named}: ${facts.join("; ")}`);
    for (const e of c.errors) {
      const problem = { file: e.file, line: e.line ?? undefined, column: e.column ?? undefined, message: e.message };
      lines.push(`       ${problemLine(join(pluginsDir, c.folder), problem)}`);
    }
  }
  const broken = checked.filter((c) => c.state === "error").length;
  lines.push(`${checked.length} plugin folder${checked.length === 1 ? "" : "s"}: ${checked.length - broken} ok, ${broken} with errors`);
  return lines.join("\n");
}
