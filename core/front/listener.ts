import { createServer, type RequestListener, type Server } from "node:http";
import { StartError } from "./errors.js";
import { answerProbeWhileLoading } from "./readiness.js";

/** A server listening on the host's port, whose requests wait until `serve` hands it the app. */
export interface Listener {
  server: Server;
  serve(handle: RequestListener): void;
}

/**
 * Takes the port before anything slow happens (loading modules, compiling plugins), so that a
 * port already taken is reported at once. Requests that arrive before `serve` wait for it.
 */
export function listen(port: number, host: string): Promise<Listener> {
  let handle: RequestListener | undefined;
  let serve: (handle: RequestListener) => void = () => {};
  const ready = new Promise<RequestListener>((resolve) => (serve = resolve));
  const server = createServer((req, res) => {
    if (handle) return handle(req, res);
    if (!answerProbeWhileLoading(req, res)) void ready.then((h) => h(req, res));
  });
  return new Promise((resolve, reject) => {
    const refused = (e: NodeJS.ErrnoException) => {
      const why = e.code === "EADDRINUSE" ? "the port is already in use" : e.code === "EADDRNOTAVAIL" ? "no such address on this machine" : e.code === "EACCES" ? "permission denied" : e.message;
      reject(new StartError(`cannot listen on ${host}:${port}: ${why}`, { cause: e }));
    };
    server.once("error", refused);
    server.listen(port, host, () => {
      server.off("error", refused);
      resolve({
        server,
        serve(h) {
          handle = h;
          serve(h);
        },
      });
    });
  });
}
