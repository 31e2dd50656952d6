// The compiled host in dist/ (`npm run build`; `npm test` builds first), so that the tests that
// start a host run what `npm start` and `hookhost` run. A dist/ older than its source would test
// old code without a word: it is refused, saying why.
import { join } from "node:path";
import { DIST, staleDist } from "../scripts/dist.js";

let checked = false;

/** The absolute path of `module` (`core/main.js`) in dist/, once dist/ is known to be built from the source as it is. */
export function built(module: string): string {
  if (!checked) {
    const stale = staleDist();
    if (stale) throw new Error(`dist/ is out of date (${stale}): run \`npm run build\` (npm test does it first)`);
    checked = true;
  }
  return join(DIST, module);
}
