import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, posix, relative, sep } from "node:path";
import { compileModule, PluginLoadError, type SourceProblem } from "./compile.js";
import { HOOK_NAMES, isHookName, type HookName } from "./hooks.js";
import { manifestSchema, type Manifest } from "./manifest.js";
import { formatIssues, ID_PATTERN, ID_RULE } from "./names.js";
import { FolderReadError, readPluginFolder, type FolderFiles } from "./plugin-files.js";
import { versionId } from "./versions.js";
import { Sandbox, type PluginCode } from "../sandbox/index.js";

/** A plugin folder that loaded: its manifest and the JavaScript that enters its sandboxes. */
export interface LoadedPlugin {
  folder: string;
  manifest: Manifest;
  code: PluginCode;
  hooks: HookName[];
  loadedAt: Date;
  /** the content hash of its files (core/versions.ts) */
  version: string;
}

/**
 * What loading one folder gave: its plugin, or the problem that stopped it, with the tenants its
 * plugin.json names when it got that far (who may see the problem).
 */
export type FolderResult =
  | { dir: string; folder: string; plugin: LoadedPlugin; problem?: undefined; tenants?: undefined }
  | { dir: string; folder: string; plugin?: undefined; problem: SourceProblem; tenants?: Manifest["tenants"] };

export interface LoadLimits {
  /** the heap limit of the sandbox that tries the plugin at load */
  memoryMb(manifest: Manifest): number;
  /** where the plugin's modules are tried (the lanes try them in a lane); in this process unless given */
  probe?(code: PluginCode, memoryMb: number): Promise<SourceProblem | undefined>;
}

const SCRIPT = /^(.+)\.(ts|js|mjs)$/;
/** Budget for evaluating a plugin's modules at load (an endless loop at module level ends here). */
export const LOAD_TIMEOUT_MS = 2000;

/** The plugin folders of the plugins dir, by name (dot-entries skipped; see isPluginFolder). */
export async function listFolders(pluginsDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(pluginsDir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`the plugins folder ${pluginsDir} cannot be read: ${(e as Error).message}`);
  }
  const folders = [];
  for (const e of entries) if (e.isDirectory() ? !e.name.startsWith(".") : e.isSymbolicLink() && (await isPluginFolder(pluginsDir, e.name))) folders.push(e.name);
  return folders.sort();
}

/**
 * Whether `name` in the plugins dir is a plugin folder: a folder, or a symbolic link to one (a
 * ConfigMap volume lays out `acme/plugin.json` as `acme -> ..data/acme`). Dot-entries never are.
 * A link is only loaded when it leads inside the plugins dir (loadFolder says so otherwise).
 */
export async function isPluginFolder(pluginsDir: string, name: string): Promise<boolean> {
  if (name.startsWith(".")) return false;
  const path = join(pluginsDir, name);
  const info = await lstat(path).catch(() => undefined);
  if (!info?.isSymbolicLink()) return info?.isDirectory() ?? false;
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Loads one folder of the plugins dir; never throws: a broken folder is a result too. */
export async function loadFolder(pluginsDir: string, dir: string, limits: LoadLimits): Promise<FolderResult> {
  const folder = join(pluginsDir, dir);
  try {
    await checkLinkedFolder(pluginsDir, folder);
    return { dir, folder, ...(await attemptLoad(folder, limits)) };
  } catch (e) {
    return { dir, folder, problem: toProblem(e), tenants: e instanceof FolderReadError ? audience(e.manifest, dir) : undefined };
  }
}

/** A plugin folder that is a link leads to a folder inside the plugins dir, never elsewhere on the host. */
async function checkLinkedFolder(pluginsDir: string, folder: string): Promise<void> {
  if (!(await lstat(folder).catch(() => undefined))?.isSymbolicLink()) return;
  const leadsTo = await Promise.all([realpath(pluginsDir), realpath(folder)]).catch(() => undefined);
  if (!leadsTo) throw new PluginLoadError({ file: "", message: "the plugin folder is a symbolic link that leads nowhere, or in a circle" });
  const rel = relative(...leadsTo);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new PluginLoadError({ file: "", message: "the plugin folder is a symbolic link that leads outside the plugins folder; it may only lead to a folder inside it" });
  }
}

/** Whom a plugin.json says the folder serves; undefined when it does not parse. */
function audience(manifestText: string | undefined, dir: string): Manifest["tenants"] | undefined {
  try {
    return parseManifest(manifestText, dir).tenants;
  } catch {
    return undefined;
  }
}

/** Lower priority first, ties by name (CONTRACT §3). */
export function sortByPriority(plugins: LoadedPlugin[]): LoadedPlugin[] {
  return [...plugins].sort((a, b) => a.manifest.priority - b.manifest.priority || (a.manifest.name < b.manifest.name ? -1 : a.manifest.name > b.manifest.name ? 1 : 0));
}

export function toProblem(e: unknown): SourceProblem {
  if (e instanceof PluginLoadError) return e.problem;
  return { file: "", message: e instanceof Error ? e.message : String(e) };
}

/** Reads of a folder that is being written can mix two versions; a load is retried this often. */
const CONSISTENT_READ_ATTEMPTS = 5;

/** Loads one plugin folder completely, or throws a PluginLoadError naming file and line. */
export async function loadPlugin(folder: string, limits: LoadLimits): Promise<LoadedPlugin> {
  const loaded = await attemptLoad(folder, limits);
  if (loaded.problem) throw new PluginLoadError(loaded.problem);
  return loaded.plugin;
}

type Attempt = { plugin: LoadedPlugin; problem?: undefined; tenants?: undefined } | { plugin?: undefined; problem: SourceProblem; tenants?: Manifest["tenants"] };

/**
 * The files are read again after loading: when they changed meanwhile (a copy or an editor still
 * writing), the load starts over, so a plugin is never built from, or failed on, two versions of
 * its files.
 */
async function attemptLoad(folder: string, limits: LoadLimits): Promise<Attempt> {
  for (let attempt = 1; ; attempt++) {
    const files = await readPluginFolder(folder);
    const built = await buildPlugin(folder, files, limits);
    if (attempt >= CONSISTENT_READ_ATTEMPTS || sameFiles(files, await readPluginFolder(folder))) return built;
  }
}

function sameFiles(a: FolderFiles, b: FolderFiles): boolean {
  return a.manifest === b.manifest && a.sources.size === b.sources.size && [...a.sources].every(([path, text]) => b.sources.get(path) === text);
}

async function buildPlugin(folder: string, { manifest: manifestText, sources }: FolderFiles, limits: LoadLimits): Promise<Attempt> {
  let manifest: Manifest;
  try {
    manifest = parseManifest(manifestText, folder.split(sep).pop() ?? folder);
  } catch (e) {
    return { problem: toProblem(e) };
  }
  // plugin.json's own name is checked by its schema; a name taken from the folder is checked here
  if (!ID_PATTERN.test(manifest.name)) {
    const message = `the folder name "${folder.split(sep).pop()}" is not a valid plugin name (${ID_RULE}): rename the folder, or set "name" in plugin.json`;
    return { problem: { file: "plugin.json", message }, tenants: manifest.tenants };
  }
  try {
    return { plugin: { ...(await buildCode(folder, manifest, sources, limits)), version: versionId(manifestText!, sources) } };
  } catch (e) {
    return { problem: toProblem(e), tenants: manifest.tenants };
  }
}

async function buildCode(folder: string, manifest: Manifest, sources: Map<string, string>, limits: LoadLimits): Promise<Omit<LoadedPlugin, "version">> {
  const hooks: Partial<Record<HookName, string>> = {};
  for (const file of sources.keys()) {
    if (file.includes("/")) continue;
    const match = SCRIPT.exec(file);
    if (!match || file.endsWith(".d.ts")) continue;
    const hook = match[1];
    if (!isHookName(hook)) {
      throw new PluginLoadError({ file, message: `"${hook}" is not a hook name${suggest(hook)}; helpers belong in a subfolder such as lib/` });
    }
    if (hooks[hook]) throw new PluginLoadError({ file, message: `hook ${hook} is defined twice (${hooks[hook]} and ${file})` });
    hooks[hook] = file;
  }
  const code: PluginCode = { name: manifest.name, modules: {}, hooks };
  const pending = Object.values(hooks);
  while (pending.length) {
    const file = pending.pop()!;
    if (code.modules[file]) continue;
    const source = sources.get(file)!;
    const { code: js, specifiers } = await compileModule(file, source);
    const imports: Record<string, string> = {};
    for (const specifier of specifiers) {
      const target = resolveImport(file, specifier, source, sources);
      imports[specifier] = target;
      pending.push(target);
    }
    code.modules[file] = { code: js, imports };
  }
  const hookNames = Object.keys(hooks) as HookName[];
  if (hookNames.length) {
    const problem = await (limits.probe ?? probePlugin)(code, limits.memoryMb(manifest));
    if (problem) throw new PluginLoadError(problem);
  }
  return { folder, manifest, code, hooks: hookNames, loadedAt: new Date() };
}

function parseManifest(text: string | undefined, dirName: string): Manifest {
  if (text === undefined) throw new PluginLoadError({ file: "plugin.json", message: "plugin.json is missing" });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PluginLoadError({ file: "plugin.json", ...jsonErrorPosition(text, e as Error) });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new PluginLoadError({ file: "plugin.json", message: formatIssues(parsed.error).join("; ") });
  const name = parsed.data.name ?? dirName.toLowerCase();
  if (parsed.data.candidateOf === name) throw new PluginLoadError({ file: "plugin.json", message: `candidateOf: "${name}" is this plugin itself; name the plugin this folder is a candidate of` });
  return { ...parsed.data, name };
}

function jsonErrorPosition(text: string, e: Error): { line?: number; column?: number; message: string } {
  const before = text.slice(0, jsonErrorOffset(text, e.message)).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1, message: `not valid JSON: ${e.message}` };
}

/**
 * Where JSON.parse gave up. Node names the position for some errors only; otherwise find it as the
 * longest prefix that is merely unfinished rather than wrong (binary search: that is monotone).
 */
function jsonErrorOffset(text: string, message: string): number {
  const at = /position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  const unfinished = (prefix: string): boolean => {
    try {
      JSON.parse(prefix);
      return true;
    } catch (e) {
      const m = (e as Error).message;
      const position = /position (\d+)/.exec(m);
      return /Unexpected end|Unterminated/.test(m) || (position !== null && Number(position[1]) >= prefix.length);
    }
  };
  let [lo, hi] = [0, text.length];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (unfinished(text.slice(0, mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Relative imports of files inside the folder only; `.js` may name a `.ts` file, as tsc expects. */
function resolveImport(from: string, specifier: string, source: string, sources: Map<string, string>): string {
  const where = locate(source, specifier);
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
    throw new PluginLoadError({ file: from, ...where, message: `import "${specifier}": only relative imports of files inside the plugin folder are allowed (no packages, no node: modules)` });
  }
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  if (base.startsWith("../") || base === "..") {
    throw new PluginLoadError({ file: from, ...where, message: `import "${specifier}" resolves outside the plugin folder` });
  }
  const stem = base.replace(/\.(js|mjs)$/, "");
  const candidates = [base, `${stem}.ts`, `${base}.ts`, `${base}.js`, `${base}.mjs`, `${base}/index.ts`, `${base}/index.js`];
  const found = candidates.find((c) => sources.has(c));
  if (!found) throw new PluginLoadError({ file: from, ...where, message: `import "${specifier}": no such file in the plugin folder` });
  return found;
}

function locate(source: string, specifier: string): { line?: number; column?: number } {
  const index = source.search(new RegExp(`["'\`]${specifier.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["'\`]`));
  if (index < 0) return {};
  const before = source.slice(0, index).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Evaluates the plugin once in a throw-away sandbox: syntax errors, load-time throws and missing exports surface now, not on a call. */
/**
 * Builds a sandbox of the plugin and evaluates every module: what is wrong with it, or nothing.
 * `onDisabled` hears of a thread V8 left stuck (a module that makes it fail fatally).
 */
export async function probePlugin(code: PluginCode, memoryMb: number, onDisabled?: (reason: string) => void): Promise<SourceProblem | undefined> {
  const sandbox = new Sandbox(code, {
    tenant: "",
    memoryMb,
    loadTimeoutMs: LOAD_TIMEOUT_MS,
    capabilities: {},
    allowHosts: [],
    onDisabled,
    onLog: () => {},
  });
  try {
    await sandbox.load();
    return undefined;
  } catch (e) {
    return problemFromSandbox(e as Error);
  } finally {
    sandbox.dispose();
  }
}

/** Sandbox errors name the module as `<path>: message` and may carry `hookhost://plugin/path:line:col`. */
function problemFromSandbox(e: Error): SourceProblem {
  const cause = e.cause instanceof Error ? e.cause : undefined;
  const at = /hookhost:\/\/[^/]+\/([^:\s]+):(\d+)(?::(\d+))?/.exec(`${e.message}\n${e.stack ?? ""}\n${cause?.stack ?? ""}`);
  const file = /^([^\s:]+\.(?:ts|js|mjs)): /.exec(e.message)?.[1] ?? at?.[1] ?? "";
  return { file, line: at ? Number(at[2]) : undefined, column: at?.[3] ? Number(at[3]) : undefined, message: e.message.replace(/^[^\s:]+\.(?:ts|js|mjs): /, "") };
}

function suggest(name: string): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const hook of HOOK_NAMES) {
    const d = distance(name, hook);
    if (d < bestDistance) [best, bestDistance] = [hook, d];
  }
  return best && bestDistance <= Math.max(3, Math.floor(name.length / 3)) ? ` (did you mean ${best}?)` : "";
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length];
}
