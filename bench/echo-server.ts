// The ceiling for the host: Koa with the host's body handling (raw body read with a size cap,
// JSON.parse, JSON object check) answering the parsed body back as JSON, and nothing else.
import Koa from "koa";
import { createServer } from "node:http";

const LIMIT = 1024 * 1024;
const app = new Koa();
app.use(async (ctx) => {
  if (ctx.path === "/healthz") {
    ctx.body = { status: "ok" };
    return;
  }
  if (Number(ctx.get("content-length")) > LIMIT) ctx.throw(413, "body too large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT) ctx.throw(413, "body too large");
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    ctx.throw(400, "body is not JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) ctx.throw(400, "body must be a JSON object");
  ctx.body = value;
});
const server = createServer(app.callback()).listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
