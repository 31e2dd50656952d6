// The compiled host in dist/ (`npm run build`; `npm test` builds first), so that the tests that
// start a host run what `npm start` and `hookhost` run. A dist/ older than its source would test
// old code without a word: it is refused, naming the file to rebuild for.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let checked = false;

/** The absolute path of `module` (`core/main.js`) in dist/, once dist/ is known to be built from the source as it is. */
export function built(module: string): string {
  if (!checked) {
    const stale = staleSource();
    if (stale) throw new Error(`dist/ was not built from ${stale} as it is now: run \`npm run build\` (npm test does it first)`);
    checked = true;
  }
  return join(ROOT, "dist", module);
}

/** The first source file (of those tsconfig.build.json compiles) changed since its dist/ file was written, or lacking one. */
function staleSource(): string | undefined {
  const { include } = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")) as { include: string[] };
  for (const folder of include) {
    for (const file of readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
      const source = join(folder, file);
      const output = join(ROOT, "dist", source.replace(/\.ts$/, ".js"));
      const outputTime = statSync(output, { throwIfNoEntry: false })?.mtimeMs;
      if (outputTime === undefined || outputTime < statSync(join(ROOT, source)).mtimeMs) return source;
    }
  }
  return undefined;
}
