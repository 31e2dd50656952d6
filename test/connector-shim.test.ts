import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fixture as hostFixture, pluginsDir, startTestHost } from "./support.js";

const SHIM = fileURLToPath(new URL("../bin/connector-shim", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../examples/inputs/", import.meta.url));
const CANNED = '{"state":"success","data":{"phone":"+79213451807"},"note":"exactly as sent"}';

type Json = { [key: string]: unknown };

function fixtureText(hook: string): string {
  return fs.readFileSync(path.join(FIXTURES, `${hook}.input.json`), "utf8");
}
function fixture(hook: string): Json {
  return JSON.parse(fixtureText(hook)) as Json;
}

type Recorded = { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string };
type Responder = (res: http.ServerResponse) => void;

// A stand-in for hookhost that records each request and answers what the test asks for.
class FakeHost {
  readonly requests: Recorded[] = [];
  private readonly server: http.Server | https.Server;

  constructor(respond: Responder, tls?: { key: string; cert: string }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        this.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        respond(res);
      });
    };
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const answerCanned: Responder = (res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(CANNED);
};
const answerError =
  (status: number, code: string): Responder =>
  (res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ state: "error", error: { code, message: "from the fake host" } }));
  };

type Run = { code: number | null; stdout: string; stderr: string; ms: number };

// Runs the shim as the connector would: a child process with only the environment given here.
function runShim(script: string, args: string[], opts: { env?: Record<string, string>; stdin?: string; direct?: boolean } = {}): Promise<Run> {
  const env = { PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}`, ...opts.env };
  const started = Date.now();
  const child = opts.direct ? spawn(script, args, { env }) : spawn(process.execPath, [script, ...args], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdin.end(opts.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

async function deadPort(): Promise<number> {
  const host = new FakeHost(answerCanned);
  const port = await host.start();
  await host.stop();
  return port;
}

function assertDefault(run: Run, data: unknown, reason: RegExp): void {
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { state: "success", data });
  assert.match(run.stderr, reason);
  assert.equal(run.stderr.trim().split("\n").length, 1, `one log line expected, got: ${run.stderr}`);
}

describe("bin/connector-shim", function () {
  let tmp: string;
  let host: FakeHost | undefined;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "connector-shim-"));
  });
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function startHost(respond: Responder): Promise<string> {
    host = new FakeHost(respond);
    return `http://127.0.0.1:${await host.start()}`;
  }
  function install(name: string, how: "copy" | "symlink"): string {
    const target = path.join(tmp, name);
    if (how === "copy") fs.copyFileSync(SHIM, target);
    else fs.symlinkSync(SHIM, target);
    return target;
  }

  describe("forwarding to the host", function () {
    it("posts the stdin input for the hook named in the first argument and prints the answer unchanged", async function () {
      const url = await startHost(answerCanned);
      const input = fixtureText("process_client_phone");
      const run = await runShim(SHIM, ["process_client_phone"], { env: { HOOKHOST_URL: url }, stdin: input });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, CANNED);
      assert.equal(run.stderr, "");
      assert.equal(host!.requests.length, 1);
      const [req] = host!.requests;
      assert.equal(req.method, "POST");
      assert.equal(req.url, "/v1/tenants/default/hooks/process_client_phone");
      assert.equal(req.headers["content-type"], "application/json");
      assert.equal(req.headers.authorization, undefined);
      assert.equal(req.body, input);
    });

    it("reads the input from the file given after the hook name", async function () {
      const url = await startHost(answerCanned);
      const file = path.join(FIXTURES, "process_final_params.input.json");
      const run = await runShim(SHIM, ["process_final_params", file], { env: { HOOKHOST_URL: url }, stdin: "not used" });
      assert.equal(run.stdout, CANNED);
      assert.equal(host!.requests[0].url, "/v1/tenants/default/hooks/process_final_params");
      assert.equal(host!.requests[0].body, fixtureText("process_final_params"));
    });

    it("sends the tenant and the bearer token from the environment, under the URL's path prefix", async function () {
      const url = await startHost(answerCanned);
      const run = await runShim(SHIM, ["need_registration"], {
        env: { HOOKHOST_URL: `${url}/hookhost/`, HOOKHOST_TENANT: "acme", HOOKHOST_TOKEN: "plain-secret" },
        stdin: fixtureText("need_registration"),
      });
      assert.equal(run.stdout, CANNED);
      assert.equal(host!.requests[0].url, "/hookhost/v1/tenants/acme/hooks/need_registration");
      assert.equal(host!.requests[0].headers.authorization, "Bearer plain-secret");
    });

    it("speaks https when the URL says so", async function () {
      const key = path.join(tmp, "key.pem");
      const cert = path.join(tmp, "cert.pem");
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
      host = new FakeHost(answerCanned, { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") });
      const port = await host.start();
      const run = await runShim(SHIM, ["process_user_phone"], {
        env: { HOOKHOST_URL: `https://127.0.0.1:${port}`, NODE_EXTRA_CA_CERTS: cert },
        stdin: fixtureText("process_user_phone"),
      });
      assert.equal(run.stdout, CANNED, run.stderr);
      assert.equal(host.requests[0].url, "/v1/tenants/default/hooks/process_user_phone");
    });
  });

  describe("installed under a hook's name outside the repository", function () {
    for (const how of ["copy", "symlink"] as const) {
      it(`takes the hook from its file name (${how}), input from a file argument or stdin`, async function () {
        const url = await startHost(answerCanned);
        // Outside the "type": "module" package, Node loads an extensionless copy as CommonJS.
        assert.ok(path.relative(path.dirname(path.dirname(SHIM)), tmp).startsWith(".."), `${tmp} must lie outside the repository`);
        const script = install("customize_show_call_card", how);
        const file = path.join(FIXTURES, "customize_show_call_card.input.json");
        const fromFile = await runShim(script, [file], { env: { HOOKHOST_URL: url }, direct: true });
        const fromStdin = await runShim(script, [], { env: { HOOKHOST_URL: url }, stdin: fixtureText("customize_show_call_card") });
        for (const run of [fromFile, fromStdin]) assert.equal(run.stdout, CANNED, run.stderr);
        assert.deepEqual(
          host!.requests.map((r) => [r.url, r.body]),
          [0, 1].map(() => ["/v1/tenants/default/hooks/customize_show_call_card", fixtureText("customize_show_call_card")]),
        );
      });
    }

    it("drops the extension of its file name", async function () {
      const url = await startHost(answerCanned);
      const script = install("post_registration.js", "copy");
      const run = await runShim(script, [], { env: { HOOKHOST_URL: url }, stdin: fixtureText("post_registration") });
      assert.equal(run.stdout, CANNED, run.stderr);
      assert.equal(host!.requests[0].url, "/v1/tenants/default/hooks/post_registration");
    });

    it("lets a hook name in the first argument win over its file name", async function () {
      const url = await startHost(answerCanned);
      const script = install("need_registration", "copy");
      await runShim(script, ["customize_entity"], { env: { HOOKHOST_URL: url }, stdin: fixtureText("customize_entity") });
      assert.equal(host!.requests[0].url, "/v1/tenants/default/hooks/customize_entity");
    });
  });

  describe("connector-shim.json beside the script", function () {
    it("supplies url, tenant, token and timeout", async function () {
      const url = await startHost(answerCanned);
      const script = install("connector-shim", "copy");
      fs.writeFileSync(path.join(tmp, "connector-shim.json"), JSON.stringify({ url, tenant: "globex", token: "from-file", timeoutMs: 4000 }));
      const run = await runShim(script, ["customize_entity"], { stdin: fixtureText("customize_entity") });
      assert.equal(run.stdout, CANNED, run.stderr);
      assert.equal(host!.requests[0].url, "/v1/tenants/globex/hooks/customize_entity");
      assert.equal(host!.requests[0].headers.authorization, "Bearer from-file");
    });

    it("is overridden by the environment", async function () {
      const url = await startHost(answerCanned);
      const script = install("customize_entity", "copy");
      const dead = `http://127.0.0.1:${await deadPort()}`;
      fs.writeFileSync(path.join(tmp, "connector-shim.json"), JSON.stringify({ url: dead, tenant: "globex", token: "from-file", timeoutMs: 1 }));
      const run = await runShim(script, [], {
        env: { HOOKHOST_URL: url, HOOKHOST_TENANT: "acme", HOOKHOST_TOKEN: "from-env", HOOKHOST_TIMEOUT_MS: "5000" },
        stdin: fixtureText("customize_entity"),
      });
      assert.equal(run.stdout, CANNED, run.stderr);
      assert.equal(host!.requests[0].url, "/v1/tenants/acme/hooks/customize_entity");
      assert.equal(host!.requests[0].headers.authorization, "Bearer from-env");
    });

    const broken: [string, string, RegExp][] = [
      ["not JSON", "{url:", /connector-shim\.json is not valid JSON/],
      ["an unknown key", JSON.stringify({ tenat: "acme" }), /unknown key "tenat"/],
      ["a bad tenant", JSON.stringify({ tenant: "Acme Corp" }), /connector-shim\.json tenant must be a tenant id/],
      ["a bad timeout", JSON.stringify({ timeoutMs: -5 }), /connector-shim\.json timeoutMs must be a positive whole number/],
    ];
    for (const [what, text, reason] of broken) {
      it(`with ${what}: answers the default and names the problem`, async function () {
        const url = await startHost(answerCanned);
        const script = install("process_client_phone", "copy");
        fs.writeFileSync(path.join(tmp, "connector-shim.json"), text);
        const run = await runShim(script, [], { env: { HOOKHOST_URL: url }, stdin: fixtureText("process_client_phone") });
        assertDefault(run, { phone: "89213451807" }, reason);
        assert.equal(host!.requests.length, 0);
      });
    }
  });

  describe("bad environment settings", function () {
    const bad: [Record<string, string>, RegExp][] = [
      [{ HOOKHOST_URL: "ftp://127.0.0.1" }, /HOOKHOST_URL must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/127\.0\.0\.1"/],
      [{ HOOKHOST_TIMEOUT_MS: "soon" }, /HOOKHOST_TIMEOUT_MS must be a positive whole number of milliseconds, got "soon"/],
      [{ HOOKHOST_TENANT: "../admin" }, /HOOKHOST_TENANT must be a tenant id/],
      [{ HOOKHOST_TOKEN: "two words" }, /HOOKHOST_TOKEN must be a string of printable ASCII/],
    ];
    for (const [env, reason] of bad) {
      it(`${Object.keys(env)[0]} ${JSON.stringify(Object.values(env)[0])}: default answer naming the variable`, async function () {
        const run = await runShim(SHIM, ["need_registration"], { env, stdin: fixtureText("need_registration") });
        assertDefault(run, { result: true }, reason);
      });
    }
  });

  describe("default answers when the host is down", function () {
    const autodistribution = fixture("customize_autodistribution");
    const longName = `${(autodistribution.entity as Json).name} — 8-800 горячая линия`;
    const cases: [string, Json, unknown][] = [
      ["customize_activity", fixture("customize_activity"), {}],
      ["customize_entity", fixture("customize_entity"), {}],
      ["need_registration", fixture("need_registration"), { result: true }],
      ["process_client_phone", fixture("process_client_phone"), { phone: "89213451807" }],
      [
        "process_final_params",
        fixture("process_final_params"),
        { ADD_TO_CHAT: 1, CALL_ID: "externalCall.96d94130251d3b2cf77edad31a2db2a2.1750174871", DURATION: 0, STATUS_CODE: "304", USER_ID: 22 },
      ],
      // in the documented forms, as the host's final shaping answers them
      [
        "process_final_params",
        { ...fixture("process_final_params"), ADD_TO_CHAT: false, CALL_ID: 7, STATUS_CODE: 304 },
        { ADD_TO_CHAT: 0, CALL_ID: "7", DURATION: 0, STATUS_CODE: "304", USER_ID: 22 },
      ],
      [
        "process_registration_params",
        { ...fixture("process_registration_params"), CRM_CREATE: true, SHOW: false },
        { CALL_START_DATE: "2025-06-17T10:12:05+03:00", CRM_CREATE: 1, CRM_SOURCE: "CALL", LINE_NUMBER: "78123097700", PHONE_NUMBER: "+79213451807", SHOW: 0, TYPE: 2, USER_ID: 14 },
      ],
      ["customize_show_call_card", { ...fixture("customize_show_call_card"), CALL_ID: 42 }, { CALL_ID: "42", USER_ID: 22 }],
      ["process_originate_params", fixture("process_originate_params"), fixture("process_originate_params").params],
      [
        "process_record_file_path",
        // the path only: neither unknown nor legacy input fields are echoed back
        { ...fixture("process_record_file_path"), call_stage: "call_ended", extra_key: 7, conversation: { type: 2 } },
        { file_path: fixture("process_record_file_path").file_path },
      ],
      [
        "process_registration_params",
        fixture("process_registration_params"),
        { CALL_START_DATE: "2025-06-17T10:12:05+03:00", CRM_CREATE: 1, CRM_SOURCE: "CALL", LINE_NUMBER: "78123097700", PHONE_NUMBER: "+79213451807", SHOW: 0, TYPE: 2, USER_ID: 14 },
      ],
      ["process_task_creation_params", fixture("process_task_creation_params"), { fields: fixture("process_task_creation_params").fields }],
      ["process_user_phone", fixture("process_user_phone"), { phone: "202" }],
      ["customize_autodistribution", autodistribution, { number: "201", name: "Павел Григорьев" }],
      ["customize_autodistribution", { ...autodistribution, name: longName }, { number: "201", name: "Павел Григорьев — 8-" }],
      ["post_registration", fixture("post_registration"), {}],
      ["customize_show_call_card", fixture("customize_show_call_card"), { CALL_ID: "externalCall.4c234365f16a73483bda33f8d708be37.1750151703", USER_ID: 22 }],
      [
        "customize_attach_record_url",
        fixture("customize_attach_record_url"),
        { DESCRIPTION: fixture("customize_attach_record_url").DESCRIPTION, DESCRIPTION_TYPE: 3 },
      ],
    ];
    for (const [hook, input, data] of cases) {
      it(`${hook}${hook === "customize_autodistribution" ? ` (name of ${Array.from(input.name as string).length} chars)` : ""} → ${JSON.stringify(data).slice(0, 60)}`, async function () {
        const run = await runShim(SHIM, [hook], {
          env: { HOOKHOST_URL: `http://127.0.0.1:${await deadPort()}`, HOOKHOST_TIMEOUT_MS: "20000" },
          stdin: JSON.stringify(input),
        });
        assertDefault(run, data, /^connector-shim: \w+: request to http:\/\/127\.0\.0\.1:\d+ failed: ECONNREFUSED; answered the default\n$/);
        assert.ok(run.ms < 10000, `a refused connection must not wait for the 20 s timeout (took ${run.ms} ms)`);
      });
    }
  });

  describe("default answers when the host misbehaves", function () {
    it("never answers: default after HOOKHOST_TIMEOUT_MS", async function () {
      const url = await startHost(() => undefined);
      const run = await runShim(SHIM, ["process_client_phone"], {
        env: { HOOKHOST_URL: url, HOOKHOST_TIMEOUT_MS: "300" },
        stdin: fixtureText("process_client_phone"),
      });
      assertDefault(run, { phone: "89213451807" }, /process_client_phone: no answer within 300 ms; answered the default/);
      assert.equal(host!.requests.length, 1);
      assert.ok(run.ms >= 300 && run.ms < 3000, `took ${run.ms} ms`);
    });

    it("never answers: waits 2500 ms by default, and longer for the record hook", async function () {
      this.timeout(20000);
      const url = await startHost(() => undefined);
      const record = spawn(process.execPath, [SHIM, "process_record_file_path"], { env: { HOOKHOST_URL: url } });
      let recordOut = "";
      record.stdout.on("data", (chunk: Buffer) => (recordOut += chunk.toString("utf8")));
      record.stdin.end(fixtureText("process_record_file_path"));
      try {
        const other = await runShim(SHIM, ["process_user_phone"], { env: { HOOKHOST_URL: url }, stdin: fixtureText("process_user_phone") });
        assertDefault(other, { phone: "202" }, /no answer within 2500 ms/);
        // Well past the 2500 ms of the other hooks, the record hook must still be waiting.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        assert.equal(recordOut, "");
        assert.equal(record.exitCode, null);
      } finally {
        record.kill();
      }
    });

    it("tells the host how long it waits; a timeout above 10 s never applies to the record hook", async function () {
      const url = await startHost(answerCanned);
      for (const [hook, env, wait] of [
        ["process_client_phone", {}, "2500"],
        ["process_record_file_path", {}, "9500"],
        ["process_client_phone", { HOOKHOST_TIMEOUT_MS: "12000" }, "12000"],
        ["process_record_file_path", { HOOKHOST_TIMEOUT_MS: "12000" }, "9500"],
        ["process_record_file_path", { HOOKHOST_TIMEOUT_MS: "4000" }, "4000"],
      ] as const) {
        await runShim(SHIM, [hook], { env: { HOOKHOST_URL: url, ...env }, stdin: fixtureText(hook) });
        assert.equal(host!.requests.at(-1)!.headers["x-hookhost-wait-ms"], wait, `${hook} ${JSON.stringify(env)}`);
      }
    });

    for (const [status, code] of [
      [500, "internal"],
      [401, "unauthorized"],
    ] as const) {
      it(`answers ${status}: default naming the status and error code`, async function () {
        const url = await startHost(answerError(status, code));
        const run = await runShim(SHIM, ["customize_show_call_card"], { env: { HOOKHOST_URL: url }, stdin: fixtureText("customize_show_call_card") });
        assertDefault(run, { CALL_ID: "externalCall.4c234365f16a73483bda33f8d708be37.1750151703", USER_ID: 22 }, new RegExp(`host answered HTTP ${status} ${code}`));
      });
    }

    const bodies: [string, string, RegExp][] = [
      ["a body that is not JSON", "<html>proxy error</html>", /body that is not a JSON object/],
      ["a JSON array", "[1,2]", /body that is not a JSON object/],
      ["a state other than success", '{"state":"error","data":{}}', /with state "error"/],
    ];
    for (const [what, body, reason] of bodies) {
      it(`answers 200 with ${what}: default`, async function () {
        const url = await startHost((res) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(body);
        });
        const run = await runShim(SHIM, ["need_registration"], { env: { HOOKHOST_URL: url }, stdin: fixtureText("need_registration") });
        assertDefault(run, { result: true }, reason);
      });
    }
  });

  describe("a wrong token or tenant against the real host", function () {
    it("one stderr line naming the tenant and where the token came from; the host counts the 401s by route", async function () {
      const real = await startTestHost(pluginsDir(), { tenants: { acme: { token: "right-token" } }, adminToken: "admin" });
      try {
        const input = JSON.stringify(hostFixture("need_registration"));
        const cases: [Record<string, string>, RegExp][] = [
          [{ HOOKHOST_TENANT: "acme", HOOKHOST_TOKEN: "wrong-token" }, /refused tenant "acme" \(from HOOKHOST_TENANT\) with the token from HOOKHOST_TOKEN; check both/],
          [{ HOOKHOST_TENANT: "acme" }, /refused tenant "acme" \(from HOOKHOST_TENANT\) with no token \(set HOOKHOST_TOKEN or token\)/],
          [{ HOOKHOST_TENANT: "acmee", HOOKHOST_TOKEN: "right-token" }, /refused tenant "acmee" \(from HOOKHOST_TENANT\) with the token from HOOKHOST_TOKEN/],
        ];
        for (const [env, reason] of cases) {
          const run = await runShim(SHIM, ["need_registration"], { env: { HOOKHOST_URL: real.url, ...env }, stdin: input });
          assertDefault(run, { result: true }, reason);
          assert.match(run.stderr, /^connector-shim: need_registration: host answered HTTP 401 unauthorized: /);
        }
        // a token from connector-shim.json is named as such
        const copy = path.join(tmp, "connector-shim");
        fs.copyFileSync(SHIM, copy);
        fs.writeFileSync(path.join(tmp, "connector-shim.json"), JSON.stringify({ url: real.url, tenant: "acme", token: "typo-token" }));
        const fromFile = await runShim(copy, ["need_registration"], { stdin: input });
        assertDefault(fromFile, { result: true }, /refused tenant "acme" \(from .*connector-shim\.json tenant\) with the token from .*connector-shim\.json token/);
        const ok = await runShim(SHIM, ["need_registration"], { env: { HOOKHOST_URL: real.url, HOOKHOST_TENANT: "acme", HOOKHOST_TOKEN: "right-token" }, stdin: input });
        assert.deepEqual([ok.stderr, JSON.parse(ok.stdout)], ["", { state: "success", data: { result: true } }]);

        await fetch(`${real.url}/v1/tenants/acme/plugins`);
        await fetch(`${real.url}/metrics`);
        const metrics = await (await fetch(`${real.url}/metrics`, { headers: { authorization: "Bearer admin" } })).text();
        assert.match(metrics, /^hookhost_http_responses_total\{route="hook",status="401"\} 4$/m);
        assert.match(metrics, /^hookhost_http_responses_total\{route="plugins",status="401"\} 1$/m);
        assert.match(metrics, /^hookhost_http_responses_total\{route="metrics",status="401"\} 1$/m);
      } finally {
        await real.close();
      }
    });
  });

  describe("bad input", function () {
    const inputs: [string, string, string, unknown, RegExp][] = [
      ["not JSON", "process_client_phone", '{"phone": ', {}, /the input is not valid JSON/],
      ["not JSON", "need_registration", "", { result: true }, /the input is not valid JSON/],
      ["a JSON array", "customize_autodistribution", "[]", {}, /the input is not a JSON object/],
      ["a JSON string", "need_registration", '"x"', { result: true }, /the input is not a JSON object/],
    ];
    for (const [what, hook, stdin, data, reason] of inputs) {
      it(`${what} for ${hook}: ${JSON.stringify(data)} without calling the host`, async function () {
        const url = await startHost(answerCanned);
        const run = await runShim(SHIM, [hook], { env: { HOOKHOST_URL: url }, stdin });
        assertDefault(run, data, reason);
        assert.equal(host!.requests.length, 0);
      });
    }

    it("an input file that does not exist: default naming the file", async function () {
      const missing = path.join(tmp, "missing.json");
      const run = await runShim(SHIM, ["process_user_phone", missing]);
      assertDefault(run, {}, new RegExp(`cannot read the input file "${missing}": ENOENT`));
    });
  });

  describe("unknown hook", function () {
    it("a first argument that is no hook, run under its own name: exit 2", async function () {
      const run = await runShim(SHIM, ["process_client_phon"], { stdin: fixtureText("process_client_phone") });
      assert.equal(run.code, 2);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /unknown hook: the first argument "process_client_phon" is not a hook name, and neither is the file name "connector-shim"/);
    });

    it("no argument and a file name that is no hook: exit 2", async function () {
      const script = install("customizer", "copy");
      const run = await runShim(script, []);
      assert.equal(run.code, 2);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /unknown hook: no first argument, and neither is the file name "customizer"/);
    });
  });
});
