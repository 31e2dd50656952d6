// dist/ holds the compiled host and CLI: one .js file for each .ts file of the folders
// tsconfig.build.json compiles. It is up to date when every one of them was written after its
// source and after the compiler options, and it holds no module whose source is gone.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DIST = join(ROOT, "dist");
export const BUILD_CONFIG = join(ROOT, "tsconfig.build.json");

/** Why `root`'s dist/ is not what a build of its source as it is now would make; undefined when it is. */
export function staleDist(root = ROOT): string | undefined {
  const optionsTime = Math.max(...["tsconfig.json", "tsconfig.build.json"].map((file) => statSync(join(root, file)).mtimeMs));
  const { include } = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as { include: string[] };
  const expected = new Set<string>();
  for (const folder of include) {
    for (const file of readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
      const source = join(folder, file);
      const output = join("dist", source.replace(/\.ts$/, ".js"));
      expected.add(output);
      const outputTime = statSync(join(root, output), { throwIfNoEntry: false })?.mtimeMs;
      if (outputTime === undefined) return `${output} is missing`;
      if (outputTime < Math.max(optionsTime, statSync(join(root, source)).mtimeMs)) return `${source} or the compiler options changed since ${output} was written`;
    }
  }
  for (const file of readdirSync(join(root, "dist"), { recursive: true, encoding: "utf8" })) {
    const output = join("dist", file);
    if (output.endsWith(".js") && !expected.has(output)) return `${output} has no source any more`;
  }
  return undefined;
}
