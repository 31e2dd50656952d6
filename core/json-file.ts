import { readFileSync } from "node:fs";

/** A JSON file's value; a file that cannot be read or parsed is reported as one problem through `fail`. */
export function readJsonFile(file: string, fail: (problems: string[]) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw fail([`cannot be read: ${(e as Error).message}`]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail([`is not JSON: ${(e as Error).message}`]);
  }
}
