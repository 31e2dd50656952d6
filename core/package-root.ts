import { fileURLToPath } from "node:url";

/**
 * The folder of hookhost's package.json, where its own files are (plugins.d.ts, package.json,
 * node_modules). This module is core/package-root.ts in the source and dist/core/package-root.js
 * once built (npm run build): one folder deeper.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../" : "../../", import.meta.url));
