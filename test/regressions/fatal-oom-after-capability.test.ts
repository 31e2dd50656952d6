import { describeFatalOom } from "./fatal-oom.js";

// The same grind after an awaited capability call. The plugin's code after the await used to run
// outside any isolated-vm timeout: isolated-vm never gave up on it, and V8 ground for a minute and
// kept 1.2 GB of a 16 MB isolate (measured) until its own fatal out-of-memory error.
describeFatalOom("a giant array fill after an awaited ctx.store call", `await ctx.store.get("k"); return { n: new Array(2 ** 30).fill(1).length };`, ["grind", "late"]);
