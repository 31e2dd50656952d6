import { describeFatalOom } from "./fatal-oom.js";

// One array of 2^30 elements filled: a fatal out-of-memory error in 0.4 s on Node 20; on Node 24
// V8 grinds for 9-20 s of CPU in a loop that ignores termination.
describeFatalOom("new Array(2 ** 30).fill()", `return { n: new Array(2 ** 30).fill(1).length };`, ["grind", "late"]);
