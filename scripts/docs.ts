import { readFileSync, writeFileSync } from "node:fs";
import { withHookTable } from "../core/hook-table.js";

// `npm run docs`: re-renders the README's hook table from the zod schemas.
const file = new URL("../README.md", import.meta.url);
writeFileSync(file, withHookTable(readFileSync(file, "utf8")));
