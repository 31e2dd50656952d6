import { serve } from "./serve.js";

// `npm start`: the environment is the whole configuration (README "Settings"). The exit is
// explicit: watchers, sandboxes and Redis clients would otherwise keep a stopped host alive.
process.exit(await serve(process.env));
