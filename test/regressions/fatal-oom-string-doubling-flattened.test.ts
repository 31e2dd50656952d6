import { describeFatalOom } from "./fatal-oom.js";

// Doubling a string and reading from it flattens the rope: one allocation past the heap limit.
describeFatalOom("string doubling, flattened", `let s = "xy"; for (;;) { s = s + s; s.charCodeAt(s.length - 1); }`);
