import { describeFatalOom } from "./fatal-oom.js";

// JSON.parse of millions of objects in a 16 MB isolate: isolated-vm disposes the isolate for its
// memory, but the call into it did not settle until V8 gave up its collections, seconds later. The
// 500 ms run answered after 5-20 s; its request, and every call queued behind it, waited as long.
// On Node 24 V8 never gives up on its own: isolated-vm parks the thread 5 s after the deadline.
describeFatalOom("a run under memory pressure outlived its deadline", `return { n: JSON.parse("[" + '{"a":1},'.repeat(3_000_000) + "{}]").length };`, ["grind", "late"], 500);
