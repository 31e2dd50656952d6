import { describeFatalOom } from "./fatal-oom.js";

// Doubling a string and reading from it flattens the rope: one allocation past the heap limit. On
// Node 24 it fails fast in some runs, grinds in others, and in others still isolated-vm's memory
// limit stops it like any allocation, or V8 stops it soon after its deadline (measured: each of
// these within a few runs).
describeFatalOom("string doubling, flattened", `let s = "xy"; for (;;) { s = s + s; s.charCodeAt(s.length - 1); }`, ["fast", "limit", "grind", "late"]);
