import { readFileSync, writeFileSync } from "node:fs";
import { PLUGIN_TYPES_FILE, pluginTypeBlocks, withPluginTypes } from "./plugin-types.js";

// `npm run types`: re-renders plugins.d.ts's generated blocks from core/hooks.ts.
writeFileSync(PLUGIN_TYPES_FILE, withPluginTypes(readFileSync(PLUGIN_TYPES_FILE, "utf8"), pluginTypeBlocks()));
