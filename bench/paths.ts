import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BENCH = join(ROOT, "bench");
export const FIXTURES = join(ROOT, "examples", "inputs");
