// Renders the generated blocks of plugins.d.ts from core/hooks.ts, so that plugins.d.ts needs
// neither core/hooks.ts nor zod: `hookhost check` then type-checks against a few hundred lines of
// plain types instead of deriving every hook's types from zod's declarations (seconds, each run).
// The TypeScript compiler does the deriving here, once: what it prints is exactly z.infer of each
// schema. `npm run types` rewrites plugins.d.ts; test/plugin-types.test.ts fails when it is stale.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { HOOK_NAMES, rules } from "../core/hooks.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const PLUGIN_TYPES_FILE = join(ROOT, "plugins.d.ts");
const HOOKS_FILE = join(ROOT, "core", "hooks.ts");
/** A file that exists only in memory: it names the types to print, through hooks.ts's own aliases. */
const PROBE_FILE = join(ROOT, "core", "plugin-types.probe.ts");
const PROBE = `
import type { HookData, HookInput, HookName, Stage } from "./hooks.js";
export type Inputs = { [H in HookName]: HookInput<H> };
export type Datas = { [H in HookName]: HookData<H> };
// call_stage is any string in the schemas (a new stage must not be refused), so no schema reaches
// Stage; authors compare call_stage with it.
export type Extra = { Stage: Stage };
`;

const START = (block: string) => `// generated:${block} — \`npm run types\` renders this block from core/hooks.ts; edit that, not this`;
const END = (block: string) => `// end generated:${block}`;

/** The generated blocks' content, derived from core/hooks.ts (seconds: the compiler reads zod). */
export interface PluginTypeBlocks {
  /** module scope: the per-hook input and data types, which hook scripts reach through HookInput/HookData */
  hooks: string[];
  /** inside `declare global`: HookName and every named type those reach */
  globals: string[];
}

/** plugins.d.ts's text with its generated blocks replaced by `blocks`. */
export function withPluginTypes(text: string, blocks: PluginTypeBlocks): string {
  return withBlock(withBlock(text, "hooks", blocks.hooks), "globals", blocks.globals);
}

function withBlock(text: string, block: string, body: string[]): string {
  const start = text.indexOf(START(block));
  const end = text.indexOf(END(block));
  if (start < 0 || end < start) throw new Error(`plugins.d.ts has no "${START(block)}" … "${END(block)}" block`);
  const indent = text.slice(text.lastIndexOf("\n", start) + 1, start);
  const lines = body.flatMap((chunk) => chunk.split("\n")).map((line) => (line ? indent + line : line));
  return `${text.slice(0, start)}${START(block)}\n${lines.join("\n")}\n${indent}${text.slice(end)}`;
}

/** The blocks as core/hooks.ts defines them now, printed by the compiler from the types it infers. */
export function pluginTypeBlocks(): PluginTypeBlocks {
  const program = probeProgram();
  const checker = program.getTypeChecker();
  const probe = program.getSourceFile(PROBE_FILE)!;
  const hooksFile = program.getSourceFile(HOOKS_FILE)!;
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length) throw new Error(`core/hooks.ts does not compile:\n${ts.formatDiagnostics(problems, formatHost)}`);

  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const flags =
    ts.NodeBuilderFlags.NoTruncation |
    ts.NodeBuilderFlags.MultilineObjectLiterals |
    ts.NodeBuilderFlags.UseAliasDefinedOutsideCurrentScope |
    ts.NodeBuilderFlags.IgnoreErrors;
  const named = new Map<string, ts.Symbol>(); // the aliases the printed types refer to, by name
  const print = (type: ts.Type, expandAlias = false): string => {
    const node = checker.typeToTypeNode(type, hooksFile, flags | (expandAlias ? ts.NodeBuilderFlags.InTypeAlias : 0));
    if (!node) throw new Error(`cannot print ${checker.typeToString(type)}`);
    collectNames(node);
    if (ts.isTypeLiteralNode(node)) documentFields(node, type);
    // the printer indents by four spaces; the rest of plugins.d.ts by two
    return printer.printNode(ts.EmitHint.Unspecified, node, hooksFile).replace(/^( {4})+/gm, (spaces) => spaces.slice(spaces.length / 2));
  };
  // A field's doc comment in core/hooks.ts (on a schema's key or a shape's field) goes with it;
  // the compiler itself keeps those of a field it points at the source for (its comment range).
  const documentFields = (node: ts.TypeLiteralNode, type: ts.Type): void => {
    for (const member of node.members) {
      if (ts.getCommentRange(member).pos >= 0 || !ts.isPropertySignature(member) || !(ts.isIdentifier(member.name) || ts.isStringLiteral(member.name))) continue;
      const property = checker.getPropertyOfType(type, member.name.text);
      const text = property && doc(checker, property).trimEnd();
      if (text) ts.addSyntheticLeadingComment(member, ts.SyntaxKind.MultiLineCommentTrivia, text.slice(2, -2), true);
    }
  };
  const collectNames = (node: ts.Node): void => {
    if (ts.isImportTypeNode(node)) throw new Error(`${printer.printNode(ts.EmitHint.Unspecified, node, hooksFile)} cannot be flattened into plugins.d.ts`);
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const name = node.typeName.text;
      let symbol = checker.getSymbolsInScope(hooksFile, ts.SymbolFlags.Type | ts.SymbolFlags.Alias).find((s) => s.name === name);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol); // imported into hooks.ts
      const file = symbol?.declarations?.[0]?.getSourceFile();
      if (!symbol || !file) throw new Error(`type ${name} cannot be resolved from core/hooks.ts`);
      if (!program.isSourceFileDefaultLibrary(file)) {
        if (file.isDeclarationFile) throw new Error(`type ${name} comes from ${file.fileName}: plugins.d.ts can only hold the project's own types`);
        named.set(name, checker.getExportSymbolOfSymbol(symbol));
      }
    }
    ts.forEachChild(node, collectNames);
  };
  const printMembers = (type: ts.Type): string => {
    const lines = [
      ...checker.getIndexInfosOfType(type).map((info) => `[key: ${print(info.keyType)}]: ${print(info.type)};`),
      ...checker.getPropertiesOfType(type).map((property) => {
        const optional = property.flags & ts.SymbolFlags.Optional ? "?" : "";
        return `${doc(checker, property)}${property.name}${optional}: ${print(checker.getTypeOfSymbol(property))};`;
      }),
    ];
    return `{\n${lines.map(indent).join("\n")}\n}`;
  };
  const probeType = (name: string): ts.Type => {
    const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(probe)!).find((s) => s.name === name)!;
    return checker.getDeclaredTypeOfSymbol(symbol);
  };
  const member = (type: ts.Type, key: string): ts.Type => checker.getTypeOfSymbol(checker.getPropertyOfType(type, key)!);

  const inputs = probeType("Inputs");
  const datas = probeType("Datas");
  const perHook = (type: ts.Type) => HOOK_NAMES.map((hook) => `${hook}: ${print(member(type, hook))};`);
  const hooks = [
    "/**",
    " * The hooks whose `cancel()` stops the CRM request that follows them (spec/hooks.md §6, the",
    " * `cancel()` column; the host's `rules[hook].cancellable`). Elsewhere a cancel is traced `invalid`.",
    " */",
    `type CancellableHookName =${union(HOOK_NAMES.filter((hook) => rules[hook].cancellable))};`,
    "/** Each hook's input: z.infer of its schema in `inputSchemas`. */",
    "interface Inputs {",
    ...perHook(inputs).map(indent),
    "}",
    "/** What one plugin may return for each hook: z.infer of its schema in `dataSchemas`. */",
    "interface Datas {",
    ...perHook(datas).map(indent),
    "}",
  ];
  const extra = probeType("Extra");
  for (const property of checker.getPropertiesOfType(extra)) print(member(extra, property.name));

  const hookName = checker.getSymbolsInScope(hooksFile, ts.SymbolFlags.TypeAlias).find((s) => s.name === "HookName");
  const globals = [`${doc(checker, hookName && checker.getExportSymbolOfSymbol(hookName))}type HookName =${union(HOOK_NAMES)};`];
  // Printing a type can reach further names: print until none is new.
  const printed = new Map<string, string>();
  for (let pending = [...named.keys()]; pending.length; pending = [...named.keys()].filter((n) => !printed.has(n))) {
    for (const name of pending) {
      const symbol = named.get(name)!;
      const type = checker.getDeclaredTypeOfSymbol(symbol);
      // an interface prints as its name, however it is asked: it is printed member by member
      const body = symbol.flags & ts.SymbolFlags.Interface ? printMembers(type) : print(type, true);
      printed.set(name, `${doc(checker, symbol)}type ${name} = ${body};`);
    }
  }
  // in the order of their source, which builds up from the small types to CallFull
  const position = (name: string) => {
    const declaration = named.get(name)!.declarations![0]!;
    return [declaration.getSourceFile().fileName, declaration.getStart()] as const;
  };
  const order = (a: string, b: string) => {
    const [fa, pa] = position(a);
    const [fb, pb] = position(b);
    return fa === fb ? pa - pb : fa < fb ? -1 : 1;
  };
  globals.push(...[...printed.keys()].sort(order).map((name) => printed.get(name)!));
  return { hooks, globals };
}

/** A program of core/hooks.ts and the probe, with the repository's compiler options. */
function probeProgram(): ts.Program {
  const configPath = join(ROOT, "tsconfig.json");
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT, { types: [] }, configPath);
  const host = ts.createCompilerHost(parsed.options);
  const probeSource = ts.createSourceFile(PROBE_FILE, PROBE, ts.ScriptTarget.Latest);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (file, ...rest) => (file === PROBE_FILE ? probeSource : getSourceFile(file, ...rest));
  host.fileExists = (file) => file === PROBE_FILE || fileExists(file);
  return ts.createProgram({ rootNames: [PROBE_FILE], options: parsed.options, host });
}

function doc(checker: ts.TypeChecker, symbol: ts.Symbol | undefined): string {
  const text = symbol ? ts.displayPartsToString(symbol.getDocumentationComment(checker)) : "";
  if (!text) return "";
  const lines = text.split("\n");
  return lines.length === 1 ? `/** ${text} */\n` : `/**\n${lines.map((l) => ` * ${l}`.trimEnd()).join("\n")}\n */\n`;
}

/** One name a line, as a long union reads best. */
function union(names: readonly string[]): string {
  return names.map((n) => `\n  | ${JSON.stringify(n)}`).join("");
}

function indent(line: string): string {
  return line
    .split("\n")
    .map((l) => "  " + l)
    .join("\n");
}

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => ROOT,
  getNewLine: () => "\n",
};
