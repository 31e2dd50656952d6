import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { hookTable, typeOf, withHookTable } from "../core/hook-table.js";
import { HOOK_NAMES } from "../core/hooks.js";
import { ROOT } from "./support.js";

describe("README hook table", () => {
  it("matches the zod schemas (run `npm run docs` after changing core/hooks.ts)", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    assert.equal(withHookTable(readme), readme);
  });

  it("has one row per hook", () => {
    const table = hookTable();
    for (const hook of HOOK_NAMES) assert.match(table, new RegExp(`^\\| \`${hook}\` \\|`, "m"));
  });

  it("renders required, optional, unions, arrays, records and pass-through", () => {
    const schema = z.looseObject({ a: z.string(), b: z.number().optional(), c: z.union([z.literal(0), z.boolean()]), d: z.array(z.number()), e: z.record(z.string(), z.string()) });
    assert.equal(typeOf(schema), "{ a: string; b?: number; c: 0 \\| boolean; d: number[]; e: { [string]: string }; … }");
    assert.equal(typeOf(z.strictObject({ a: z.string() })), "{ a: string }");
  });
});
