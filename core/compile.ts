import ts from "typescript";

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

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: false,
  isolatedModules: true,
  sourceMap: false,
};

/**
 * Turns one plugin file into the JavaScript that enters the sandbox, and lists its imports.
 * TypeScript is transpiled without type checking (that is `hookhost check`'s job); syntax errors
 * in .ts and .js alike are reported with file, line and column.
 */
export function compileModule(file: string, source: string): { code: string; specifiers: string[] } {
  const isTs = file.endsWith(".ts");
  const out = ts.transpileModule(source, { compilerOptions, fileName: file, reportDiagnostics: true });
  const diagnostic = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (diagnostic) throw new PluginLoadError(toProblem(file, diagnostic));
  const specifiers = ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
  return { code: isTs ? out.outputText : source, specifiers };
}

function toProblem(file: string, d: ts.Diagnostic): SourceProblem {
  const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
  if (d.file && d.start !== undefined) {
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return { file, line: line + 1, column: character + 1, message };
  }
  return { file, message };
}
