import { describeFatalOom } from "./fatal-oom.js";

// Spreading 50 million elements into call arguments: failed fast on Node 20, grinds on Node 24.
describeFatalOom("spread into arguments", `return { n: Math.max(...new Array(50_000_000).fill(0)) };`, ["grind", "late"]);
