// `npm run build` (npm install and npm pack run it too, as prepare; so does pretest): compiles the
// host and the CLI to dist/ with tsc, from nothing, unless dist/ is already what that would make.
// The check matters because prepare runs often: `npx hookhost` in a clone installs the clone into
// npx's cache, which runs prepare again, and a build takes 8 s here.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { BUILD_CONFIG, DIST, staleDist } from "./dist.js";

const stale = staleDist();
if (stale === undefined) {
  console.log("dist/ is up to date");
} else {
  console.log(`building dist/: ${stale}`);
  rmSync(DIST, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  process.exitCode = spawnSync(process.execPath, [tsc, "-p", BUILD_CONFIG], { stdio: "inherit" }).status ?? 1;
}
