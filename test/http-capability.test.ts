import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { isLoopbackAddress, isPrivateAddress } from "../capabilities/address.js";
import { createHttpCapability, MAX_RESPONSE_BYTES, type FetchResult, type Resolver } from "../capabilities/http.js";
import { CapabilityError, type CapabilityCall } from "../sandbox/capability.js";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface FakeServer {
  port: number;
  origin: string;
  seen: Seen[];
  close: () => Promise<void>;
}

/** A stand-in for a Bitrix24 portal's REST endpoint, plus the misbehaviours a real one might show. */
function bitrixRoutes(origin: () => string) {
  return (req: http.IncomingMessage, body: string, res: http.ServerResponse): void => {
    const url = new URL(req.url!, "http://x");
    const to = url.searchParams.get("to");
    switch (url.pathname) {
      case "/rest/1/hook/profile.json":
        res.setHeader("x-multi", ["a", "b"]);
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(JSON.stringify({ result: { ID: "1", ADMIN: true } }));
        return;
      case "/rest/1/hook/crm.lead.add.json":
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ result: 42, got: JSON.parse(body) }));
        return;
      case "/echo":
        res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
        return;
      case "/plain":
        res.end("not json {");
        return;
      case "/redirect":
        res.writeHead(Number(url.searchParams.get("status") ?? 302), to === null ? {} : { location: to });
        res.end("moved");
        return;
      case "/chain": {
        const n = Number(url.searchParams.get("n"));
        if (n === 0) return void res.end(JSON.stringify({ arrived: true }));
        res.writeHead(302, { location: `${origin()}/chain?n=${n - 1}` });
        res.end();
        return;
      }
      case "/loop":
        res.writeHead(301, { location: "/loop" });
        res.end();
        return;
      case "/sized": {
        streamBytes(res, Number(url.searchParams.get("bytes")));
        return;
      }
      case "/encoded": {
        const encoding = url.searchParams.get("as")!;
        const json = Buffer.from(JSON.stringify({ result: "сжато", encoding }));
        const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: zlib.gzipSync, deflate: zlib.deflateSync, br: zlib.brotliCompressSync };
        res.writeHead(200, { "content-type": "application/json", "content-encoding": encoding });
        res.end(encoders[encoding]!(json));
        return;
      }
      case "/gzip-bomb": // 8 KB on the wire, 8 MiB once decoded
        res.writeHead(200, { "content-encoding": "gzip" });
        res.end(zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024)));
        return;
      case "/gzip-broken":
        res.writeHead(200, { "content-encoding": "gzip" });
        res.end("this is not gzip");
        return;
      case "/zstd":
        res.writeHead(200, { "content-encoding": "zstd" });
        res.end("x");
        return;
      case "/gzip-stall": {
        res.writeHead(200, { "content-encoding": "gzip" });
        const whole = zlib.gzipSync(Buffer.from(JSON.stringify({ result: "x".repeat(1000) })));
        res.write(whole.subarray(0, 20));
        return; // the rest never comes
      }
      case "/declared-big":
        res.writeHead(200, { "content-length": MAX_RESPONSE_BYTES + 1 });
        res.write("x");
        return; // the rest never comes: only the declared length can give it away
      case "/slow":
        return; // never answers
      case "/stall-body":
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"result": ');
        return; // never finishes
      default:
        res.writeHead(404);
        res.end();
    }
  };
}

function streamBytes(res: http.ServerResponse, size: number): void {
  const chunk = Buffer.alloc(64 * 1024, "x");
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const piece = chunk.subarray(0, Math.min(left, chunk.length));
      left -= piece.length;
      if (!res.write(piece)) return void res.once("drain", pump);
    }
    res.end();
  };
  res.on("error", () => {}); // the client hangs up on purpose when the body is too big
  pump();
}

async function startServer(host = "127.0.0.1"): Promise<FakeServer> {
  const seen: Seen[] = [];
  let origin = "";
  const route = bitrixRoutes(() => origin);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      route(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    port,
    origin,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function callFor(allowHosts: string[], over: Partial<CapabilityCall> = {}): CapabilityCall {
  return {
    tenant: "acme",
    plugin: "b24-sync",
    hook: "post_registration",
    allowHosts,
    deadline: Date.now() + 5000,
    signal: new AbortController().signal,
    run: {},
    ...over,
  };
}

function fakeDns(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (host: string) => {
    calls.push(host);
    const found = table[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found;
  };
  return Object.assign(resolve, { calls });
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CapabilityError, `expected a CapabilityError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("address classification", () => {
  const privateOnes = [
    "127.0.0.1", "127.255.255.254", "::1", "0.0.0.0", "0.1.2.3", "::", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "100.64.0.1", "169.254.169.254", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1",
    "2001:db8::1", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1", "192.0.2.10", "198.18.0.1",
    "127.1", "0x7f000001", "not-an-ip", "",
  ];
  const publicOnes = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2001:4860::8888", "2a00:1450:4001::200e"];

  for (const address of privateOnes) {
    it(`refuses ${address || "(empty)"}`, () => assert.equal(isPrivateAddress(address), true));
  }
  for (const address of publicOnes) {
    it(`allows ${address}`, () => assert.equal(isPrivateAddress(address), false));
  }

  it("counts 127.0.0.0/8 (also IPv4-mapped) and ::1 as loopback", () => {
    assert.deepEqual(
      ["127.0.0.1", "127.0.0.2", "::1", "10.0.0.1", "::ffff:127.0.0.1", "localhost", "8.8.8.8"].map(isLoopbackAddress),
      [true, true, true, false, true, false, false],
    );
  });
});

describe("ctx.http.fetch", () => {
  let server: FakeServer;
  const fetch = (call: CapabilityCall, ...args: unknown[]) => createHttpCapability().fetch!(call, args) as Promise<FetchResult>;
  const allowLocal = () => callFor(["127.0.0.1"]);

  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    await server.close();
  });

  describe("requests to a listed host", () => {
    it("GETs Bitrix24 REST and returns status, lower-cased joined headers, text and json", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/rest/1/hook/profile.json`);
      assert.equal(result.status, 200);
      assert.equal(result.headers["content-type"], "application/json; charset=utf-8");
      assert.equal(result.headers["x-multi"], "a, b");
      assert.deepEqual(result.json, { result: { ID: "1", ADMIN: true } });
      assert.equal(result.text, JSON.stringify(result.json));
      assert.equal(server.seen[0]!.method, "GET");
      assert.equal(server.seen[0]!.headers.host, `127.0.0.1:${server.port}`);
    });

    it("POSTs an object as JSON with content-type application/json", async () => {
      const fields = { TITLE: "Missed call", PHONE: [{ VALUE: "+7 900 000-00-00" }] };
      const result = await fetch(allowLocal(), `${server.origin}/rest/1/hook/crm.lead.add.json`, {
        method: "post",
        body: { fields },
      });
      assert.deepEqual(result.json, { result: 42, got: { fields } });
      assert.equal(server.seen[0]!.method, "POST");
      assert.equal(server.seen[0]!.headers["content-type"], "application/json");
    });

    it("sends a string body as given, with the script's own headers", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/echo`, {
        method: "PUT",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Request-Id": "r-1" },
        body: "fields[TITLE]=Call",
      });
      const echo = result.json as { method: string; headers: Record<string, string>; body: string };
      assert.equal(echo.method, "PUT");
      assert.equal(echo.body, "fields[TITLE]=Call");
      assert.equal(echo.headers["content-type"], "application/x-www-form-urlencoded");
      assert.equal(echo.headers["x-request-id"], "r-1");
    });

    it("leaves json out when the body is not JSON", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/plain`);
      assert.equal(result.text, "not json {");
      assert.equal("json" in result, false);
    });

    it("answers HEAD with an empty text", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/plain`, { method: "HEAD" });
      assert.equal(result.status, 200);
      assert.equal(result.text, "");
      assert.equal(server.seen[0]!.method, "HEAD");
    });

    it("returns a redirect without a Location as it is", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/redirect?status=302`);
      assert.equal(result.status, 302);
      assert.equal(result.text, "moved");
    });

    it("reports a refused connection as a failed request", async () => {
      const closed = await startServer();
      await closed.close();
      await rejectsWith(fetch(allowLocal(), `${closed.origin}/`), /^request to 127\.0\.0\.1 failed: .*ECONNREFUSED/);
    });
  });

  describe("which hosts and addresses", () => {
    it("refuses a host that is not listed, before connecting", async () => {
      await rejectsWith(fetch(callFor(["acme.bitrix24.ru"]), `${server.origin}/echo`), /^host 127\.0\.0\.1 is not in allowHosts$/);
      await rejectsWith(fetch(allowLocal(), `http://localhost:${server.port}/echo`), /^host localhost is not in allowHosts$/);
      assert.equal(server.seen.length, 0);
    });

    it("refuses odd spellings of 127.0.0.1 when only a name is listed", async () => {
      for (const host of ["0x7f000001", "2130706433", "127.1", "0177.0.0.1", "[::ffff:127.0.0.1]"]) {
        await rejectsWith(
          fetch(callFor(["example.test"]), `http://${host}:${server.port}/echo`),
          /^host (127\.0\.0\.1|::ffff:7f00:1) is not in allowHosts$/,
        );
      }
      assert.equal(server.seen.length, 0);
    });

    it("refuses schemes other than http: and https:", async () => {
      for (const url of ["file:///etc/passwd", "data:text/plain,hi", `ftp://127.0.0.1:${server.port}/`, "javascript:1"]) {
        await rejectsWith(fetch(allowLocal(), url), /^http\.fetch: url uses [a-z]+: \(only http: and https: are allowed\)$/);
      }
    });

    it("refuses credentials in the URL, even when the host after them is listed", async () => {
      await rejectsWith(fetch(allowLocal(), `http://acme.bitrix24.ru@127.0.0.1:${server.port}/echo`), /credentials before the host/);
      await rejectsWith(fetch(allowLocal(), `http://user:pass@127.0.0.1:${server.port}/echo`), /credentials before the host/);
      assert.equal(server.seen.length, 0);
    });

    it("refuses a URL that does not parse", async () => {
      await rejectsWith(fetch(allowLocal(), "/rest/profile.json"), /^http\.fetch: url "\/rest\/profile\.json" is not a valid absolute URL$/);
    });

    it("matches a listed host case-insensitively and connects to the address it checked, looking it up once", async () => {
      // Only 127.0.0.2 answers; a second, real lookup of "localhost" would give 127.0.0.1 and fail.
      const pinned = await startServer("127.0.0.2");
      try {
        const dns = fakeDns({ localhost: ["127.0.0.2"] });
        const result = await createHttpCapability({ resolve: dns }).fetch!(callFor(["LocalHost"]), [
          `http://LOCALHOST:${pinned.port}/echo`,
        ]);
        assert.equal((result as FetchResult).status, 200);
        assert.equal(pinned.seen[0]!.headers.host, `localhost:${pinned.port}`);
        assert.deepEqual(dns.calls, ["localhost"]);
      } finally {
        await pinned.close();
      }
    });

    it("reaches a listed localhost through the system resolver", async () => {
      const result = await fetch(callFor(["localhost"]), `http://localhost:${server.port}/plain`);
      assert.equal(result.text, "not json {");
    });

    it("refuses a listed localhost that resolves to something other than loopback", async () => {
      const capability = createHttpCapability({ resolve: fakeDns({ localhost: ["10.0.0.1"] }) });
      await rejectsWith(capability.fetch!(callFor(["localhost"]), [`http://localhost:${server.port}/`]), /^localhost resolves to 10\.0\.0\.1/);
    });

    it("refuses a listed name when any of its addresses is private", async () => {
      const capability = createHttpCapability({
        resolve: fakeDns({ "b24.test": ["10.0.0.7"], "mixed.test": ["93.184.216.34", "::1"], "meta.test": ["169.254.169.254"] }),
      });
      for (const [host, address] of [["b24.test", "10.0.0.7"], ["mixed.test", "::1"], ["meta.test", "169.254.169.254"]]) {
        await rejectsWith(
          capability.fetch!(callFor([host!]), [`http://${host}/`]),
          new RegExp(`^${host!.replace(".", "\\.")} resolves to ${address!.replace(/\./g, "\\.")}, a private or loopback address`),
        );
      }
    });

    it("reports a name that does not resolve", async () => {
      const capability = createHttpCapability({ resolve: fakeDns({}) });
      await rejectsWith(capability.fetch!(callFor(["gone.test"]), ["http://gone.test/"]), /^cannot resolve gone\.test: ENOTFOUND$/);
    });

    it("reaches [::1] only when listed, in whatever IPv6 spelling", async () => {
      const v6 = await startServer("::1");
      try {
        await rejectsWith(fetch(callFor(["localhost", "127.0.0.1"]), `${v6.origin}/plain`), /^host ::1 is not in allowHosts$/);
        const result = await fetch(callFor(["0:0:0:0:0:0:0:1"]), `${v6.origin}/plain`);
        assert.equal(result.text, "not json {");
        assert.equal(v6.seen.length, 1);
      } finally {
        await v6.close();
      }
    });
  });

  describe("redirects", () => {
    const redirect = (to: string, status = 302) => `${server.origin}/redirect?status=${status}&to=${encodeURIComponent(to)}`;

    it("follows a redirect within the list", async () => {
      const result = await fetch(allowLocal(), redirect("/rest/1/hook/profile.json"));
      assert.deepEqual(result.json, { result: { ID: "1", ADMIN: true } });
      assert.deepEqual(server.seen.map((s) => s.url), [server.seen[0]!.url, "/rest/1/hook/profile.json"]);
    });

    it("follows exactly 5 redirects and refuses the 6th", async () => {
      const result = await fetch(allowLocal(), `${server.origin}/chain?n=5`);
      assert.deepEqual(result.json, { arrived: true });
      server.seen.length = 0;
      await rejectsWith(fetch(allowLocal(), `${server.origin}/loop`), /^request to 127\.0\.0\.1 made more than 5 redirects$/);
      assert.equal(server.seen.length, 6);
    });

    it("refuses a redirect to a host that is not listed", async () => {
      await rejectsWith(fetch(allowLocal(), redirect("http://evil.test/steal")), /^redirect to evil\.test is not in allowHosts$/);
      await rejectsWith(fetch(allowLocal(), redirect(`http://0x7f000001@evil.test:${server.port}/`)), /credentials before the host/);
    });

    it("refuses a redirect to a listed name that resolves to a private address", async () => {
      const capability = createHttpCapability({ resolve: fakeDns({ "internal.test": ["10.1.2.3"] }) });
      await rejectsWith(
        capability.fetch!(callFor(["127.0.0.1", "internal.test"]), [redirect(`http://internal.test:${server.port}/`)]),
        /^internal\.test resolves to 10\.1\.2\.3, a private or loopback address/,
      );
    });

    it("refuses a redirect to another scheme", async () => {
      await rejectsWith(fetch(allowLocal(), redirect("file:///etc/passwd")), /^http\.fetch: redirect to uses file:/);
    });

    it("follows a redirect to a listed host on another port, dropping credentials but keeping other headers", async () => {
      const other = await startServer();
      try {
        const result = await fetch(allowLocal(), redirect(`${other.origin}/echo`, 307), {
          method: "POST",
          headers: { Authorization: "Bearer secret", Cookie: "s=1", "X-Portal": "acme" },
          body: { a: 1 },
        });
        const echo = result.json as { method: string; headers: Record<string, string>; body: string };
        assert.equal(echo.method, "POST");
        assert.equal(echo.body, '{"a":1}');
        assert.equal(echo.headers["x-portal"], "acme");
        assert.equal(echo.headers.authorization, undefined);
        assert.equal(echo.headers.cookie, undefined);
        assert.equal(server.seen[0]!.headers.authorization, "Bearer secret");
      } finally {
        await other.close();
      }
    });

    it("keeps credentials on a same-origin redirect", async () => {
      const result = await fetch(allowLocal(), redirect("/echo"), { headers: { Authorization: "Bearer secret" } });
      assert.equal((result.json as { headers: Record<string, string> }).headers.authorization, "Bearer secret");
    });

    for (const status of [301, 302, 303]) {
      it(`turns a POST into a GET without body on ${status}`, async () => {
        const result = await fetch(allowLocal(), redirect("/echo", status), { method: "POST", body: { a: 1 } });
        const echo = result.json as { method: string; headers: Record<string, string>; body: string };
        assert.deepEqual([echo.method, echo.body, echo.headers["content-type"]], ["GET", "", undefined]);
      });
    }

    it("turns a PUT into a GET on 303 but keeps it on 302 and 308", async () => {
      const methodAfter = async (status: number) =>
        ((await fetch(allowLocal(), redirect("/echo", status), { method: "PUT", body: "x" })).json as { method: string }).method;
      assert.deepEqual([await methodAfter(303), await methodAfter(302), await methodAfter(308)], ["GET", "PUT", "PUT"]);
    });
  });

  describe("sizes", () => {
    it(`accepts a body of exactly ${MAX_RESPONSE_BYTES} bytes`, async () => {
      const result = await fetch(allowLocal(), `${server.origin}/sized?bytes=${MAX_RESPONSE_BYTES}`);
      assert.equal(result.text.length, MAX_RESPONSE_BYTES);
    });

    it("refuses a larger body declared by content-length without waiting for it", async () => {
      await rejectsWith(
        fetch(allowLocal(), `${server.origin}/declared-big`),
        /^response from 127\.0\.0\.1 is over the 1048576-byte limit$/,
      );
    });

    it("refuses a larger body streamed without content-length", async () => {
      await rejectsWith(
        fetch(allowLocal(), `${server.origin}/sized?bytes=${MAX_RESPONSE_BYTES * 4}`),
        /^response from 127\.0\.0\.1 is over the 1048576-byte limit$/,
      );
    });

    it("refuses a request body over 1 MiB before sending it", async () => {
      const big = "x".repeat(1024 * 1024 + 1);
      await rejectsWith(fetch(allowLocal(), `${server.origin}/echo`, { method: "POST", body: big }), /^http\.fetch: init\.body is 1048577 bytes, over/);
      await rejectsWith(fetch(allowLocal(), `${server.origin}/echo`, { method: "POST", body: { big } }), /^http\.fetch: init\.body is 1048587 bytes, over/);
      assert.equal(server.seen.length, 0);
    });
  });

  describe("time", () => {
    const timeLimit = /^request to 127\.0\.0\.1 did not finish within the hook's time limit$/;

    it("cuts a server that never answers at the deadline", async () => {
      const deadline = Date.now() + 300;
      await rejectsWith(fetch(callFor(["127.0.0.1"], { deadline }), `${server.origin}/slow`), timeLimit);
      assert.ok(Date.now() < deadline + 200, `settled ${Date.now() - deadline} ms after the deadline`);
    });

    it("cuts a body that stalls half-way at the deadline", async () => {
      const deadline = Date.now() + 300;
      await rejectsWith(fetch(callFor(["127.0.0.1"], { deadline }), `${server.origin}/stall-body`), timeLimit);
      assert.ok(Date.now() < deadline + 200, `settled ${Date.now() - deadline} ms after the deadline`);
    });

    it("cuts a DNS lookup that never answers at the deadline", async () => {
      const capability = createHttpCapability({ resolve: () => new Promise(() => {}) });
      const deadline = Date.now() + 300;
      await rejectsWith(
        capability.fetch!(callFor(["b24.test"], { deadline }), ["http://b24.test/"]),
        /^request to b24\.test did not finish within the hook's time limit$/,
      );
      assert.ok(Date.now() < deadline + 200, `settled ${Date.now() - deadline} ms after the deadline`);
    });

    it("stops when the run's signal aborts", async () => {
      const run = new AbortController();
      const started = Date.now();
      setTimeout(() => run.abort(), 50);
      await rejectsWith(fetch(callFor(["127.0.0.1"], { signal: run.signal, deadline: started + 20_000 }), `${server.origin}/slow`), timeLimit);
      assert.ok(Date.now() - started < 2000);
    });

    it("refuses at once when the deadline has already passed", async () => {
      await rejectsWith(fetch(callFor(["127.0.0.1"], { deadline: Date.now() - 1 }), `${server.origin}/echo`), timeLimit);
    });
  });

  describe("compressed responses", () => {
    for (const encoding of ["gzip", "deflate", "br"]) {
      it(`decodes a ${encoding} body`, async () => {
        const result = await fetch(allowLocal(), `${server.origin}/encoded?as=${encoding}`, { headers: { "Accept-Encoding": "gzip, deflate, br" } });
        assert.deepEqual(result.json, { result: "сжато", encoding });
        assert.equal(result.headers["content-encoding"], encoding);
      });
    }

    it("holds the 1 MiB limit for the decoded body: a small gzip bomb is refused", async () => {
      await rejectsWith(fetch(allowLocal(), `${server.origin}/gzip-bomb`), new RegExp(`^response from 127\\.0\\.0\\.1 is over the ${MAX_RESPONSE_BYTES}-byte limit once decoded$`));
    });

    it("names a body that is not what its content-encoding says", async () => {
      await rejectsWith(fetch(allowLocal(), `${server.origin}/gzip-broken`), /^response from 127\.0\.0\.1 could not be decoded as gzip: /);
    });

    it("refuses an encoding it cannot decode, naming it", async () => {
      await rejectsWith(fetch(allowLocal(), `${server.origin}/zstd`), /^response from 127\.0\.0\.1 uses content-encoding "zstd", which http\.fetch cannot decode/);
    });

    it("ends a compressed body that stalls at the hook's deadline", async () => {
      const started = Date.now();
      await rejectsWith(fetch(callFor(["127.0.0.1"], { deadline: Date.now() + 300 }), `${server.origin}/gzip-stall`), /^request to 127\.0\.0\.1 did not finish within the hook's time limit$/);
      assert.ok(Date.now() - started < 2000);
    });
  });

  describe("arguments", () => {
    const refused: Array<[string, unknown[], RegExp]> = [
      ["a url that is not a string", [42], /^http\.fetch: url: must be a string$/],
      ["no arguments", [], /^http\.fetch: arguments: expected fetch\(url, init\?\)$/],
      ["a third argument", ["http://127.0.0.1/", {}, {}], /^http\.fetch: arguments: /],
      ["method TRACE", ["http://127.0.0.1/", { method: "TRACE" }], /^http\.fetch: init\.method: .*"GET"/],
      ["a header value that is not a string", ["http://127.0.0.1/", { headers: { "X-Count": 1 } }], /^http\.fetch: init\.headers\.X-Count: /],
      ["headers that are not an object", ["http://127.0.0.1/", { headers: "x" }], /^http\.fetch: init\.headers: /],
      ["an unknown key", ["http://127.0.0.1/", { timeout: 5 }], /^http\.fetch: init: .*"timeout"/],
      ["init that is not an object", ["http://127.0.0.1/", "POST"], /^http\.fetch: init: /],
      ["a numeric body", ["http://127.0.0.1/", { method: "POST", body: 42 }], /^http\.fetch: init\.body: must be a string or a JSON object or array$/],
      ["a body on GET", ["http://127.0.0.1/", { body: "x" }], /^http\.fetch: init\.body: a GET or HEAD request cannot have a body$/],
      ["a Host header", ["http://127.0.0.1/", { headers: { Host: "evil.test" } }], /^http\.fetch: init\.headers: header "Host" is set by the host/],
      ["a Transfer-Encoding header", ["http://127.0.0.1/", { headers: { "transfer-encoding": "chunked" } }], /header "transfer-encoding" is set by the host/],
      ["a Content-Length header", ["http://127.0.0.1/", { headers: { "Content-Length": "1" } }], /header "Content-Length" is set by the host/],
      ["a Connection header", ["http://127.0.0.1/", { headers: { Connection: "upgrade" } }], /header "Connection" is set by the host/],
      ["a header name with a space", ["http://127.0.0.1/", { headers: { "X A": "1" } }], /header "X A" is not a valid header name/],
      ["a header value with CRLF", ["http://127.0.0.1/", { headers: { "X-A": "1\r\nHost: evil" } }], /header "X-A" has a value with characters not allowed/],
    ];
    for (const [what, args, pattern] of refused) {
      it(`refuses ${what}`, async () => {
        await rejectsWith(createHttpCapability().fetch!(allowLocal(), args), pattern);
      });
    }
  });
});

// Bitrix24 portals are https only. A process trusts extra CAs only from NODE_EXTRA_CA_CERTS at its
// start, so each fetch runs in a child process that trusts (or not) a certificate made here.
describe("ctx.http.fetch over https", () => {
  const ROOT = fileURLToPath(new URL("..", import.meta.url));
  let tmp: string;
  const certFor = (name: string) => {
    const key = path.join(tmp, `${name}.key`);
    const cert = path.join(tmp, `${name}.pem`);
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${name}`, "-addext", `subjectAltName=DNS:${name}`], { stdio: "ignore" });
    return { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8"), certFile: cert };
  };
  /** An https server on 127.0.0.2 that answers which name the client asked for in TLS (SNI). */
  const serve = async (tls: { key: string; cert: string }) => {
    const server = https.createServer(tls, (req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ secure: true, servername: (req.socket as TLSSocket).servername, host: req.headers.host }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  };
  /** ctx.http.fetch("https://localhost:<port>/") in a child trusting `caFile`, with localhost looked up as 127.0.0.2. */
  const fetchInChild = (port: number, caFile: string | undefined) => {
    const script = `
      import { createHttpCapability } from "./capabilities/http.ts";
      const call = { tenant: "acme", plugin: "b24", hook: "post_registration", allowHosts: ["localhost"], deadline: Date.now() + 5000, signal: new AbortController().signal, run: {} };
      const capability = createHttpCapability({ resolve: async () => ["127.0.0.2"] });
      capability.fetch(call, ["https://localhost:${port}/rest/1/hook/profile.json"]).then(
        (r) => console.log(JSON.stringify({ status: r.status, json: r.json })),
        (e) => console.log(JSON.stringify({ error: e.message })),
      );`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    if (caFile) env.NODE_EXTRA_CA_CERTS = caFile;
    return new Promise<any>((resolve, reject) => {
      execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, env, timeout: 20_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      });
    });
  };

  before(function () {
    this.timeout(20_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hookhost-https-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("connects to the checked address and verifies the certificate against the name in the URL (SNI and Host too)", async function () {
    this.timeout(30_000);
    const tls = certFor("localhost");
    const server = await serve(tls);
    try {
      const answer = await fetchInChild(server.port, tls.certFile);
      assert.deepEqual(answer, { status: 200, json: { secure: true, servername: "localhost", host: `localhost:${server.port}` } });
    } finally {
      await server.close();
    }
  });

  it("refuses a certificate for another name, and one nobody trusts", async function () {
    this.timeout(30_000);
    const other = certFor("other.example");
    const server = await serve(other);
    try {
      const wrongName = await fetchInChild(server.port, other.certFile);
      assert.match(wrongName.error, /^request to localhost failed: .*(altnames|does not match)/);
      const untrusted = await fetchInChild(server.port, undefined);
      assert.match(untrusted.error, /^request to localhost failed: .*self.signed certificate/);
    } finally {
      await server.close();
    }
  });
});
