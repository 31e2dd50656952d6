import { join, relative } from "node:path";
import type { SourceProblem } from "../core/compile.js";

/** A problem as one line, `path:line:column: reason`, the form editors and CI logs link to. */
export function problemLine(folder: string, problem: SourceProblem, cwd = process.cwd()): string {
  const file = problem.file ? join(folder, problem.file) : folder;
  const where = problem.line ? `:${problem.line}:${problem.column ?? 1}` : "";
  return `${relative(cwd, file) || "."}${where}: ${oneLine(problem.message)}`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The warning `run` and `simulate` give for folders that serve nothing. */
export function brokenFolderWarning(pluginsDir: string, dir: string, problem: SourceProblem): string {
  return `warning: plugin folder ${dir} did not load and serves nothing: ${problemLine(join(pluginsDir, dir), problem)}`;
}
