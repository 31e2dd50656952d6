import { init as initLexer, parse as parseImports } from "es-module-lexer";
import { transform, type Message } from "esbuild";

/** A problem in a plugin's file, with where it is: the form every load error is reported in. */
export interface SourceProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
}

export class PluginLoadError extends Error {
  constructor(readonly problem: SourceProblem) {
    super(`${problem.file}${problem.line ? `:${problem.line}:${problem.column ?? 1}` : ""}: ${problem.message}`);
    this.name = "PluginLoadError";
  }
}

/**
 * Turns one plugin file into the JavaScript that enters the sandbox, and lists its imports.
 * TypeScript is stripped by esbuild, without type checking (that is `hookhost check`'s job): the
 * TypeScript compiler would cost the host ~140 MB of resident memory for a transpile. JavaScript
 * enters as written; its syntax errors surface when the sandbox compiles it at load.
 */
export async function compileModule(file: string, source: string): Promise<{ code: string; specifiers: string[] }> {
  let code = source;
  if (file.endsWith(".ts")) {
    try {
      // verbatimModuleSyntax: an import is only dropped when it says `type`, so an import of
      // "node:fs" is refused even when unused, and every value import is checked.
      const tsconfigRaw = { compilerOptions: { verbatimModuleSyntax: true } };
      code = (await transform(source, { loader: "ts", format: "esm", target: "es2022", sourcefile: file, tsconfigRaw })).code;
    } catch (e) {
      throw new PluginLoadError(toProblem(file, e));
    }
  }
  await initLexer;
  let imports;
  try {
    [imports] = parseImports(code, file);
  } catch {
    // Only plain JavaScript can get here (esbuild has checked TypeScript): the sandbox compiles it
    // at load and reports the syntax error with its real line and column.
    return { code, specifiers: [] };
  }
  // Static imports and re-exports, and dynamic imports of a string literal; `import.meta` is not one.
  const specifiers = imports.filter((i) => i.d !== -2 && i.n !== undefined).map((i) => i.n!);
  return { code, specifiers };
}

function toProblem(file: string, e: unknown): SourceProblem {
  const first = (e as { errors?: Message[] }).errors?.[0];
  if (!first) return { file, message: e instanceof Error ? e.message : String(e) };
  return { file, line: first.location?.line, column: first.location ? first.location.column + 1 : undefined, message: first.text };
}
