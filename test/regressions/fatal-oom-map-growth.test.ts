import { describeFatalOom } from "./fatal-oom.js";

// A growing Map rehashes into one ever larger backing store: still a fast fatal error on Node 24.
describeFatalOom("Map growth", `const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });`, ["fast"]);
