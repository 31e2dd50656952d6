import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONSOLE_CSP } from "../core/front/console.js";
import { pluginsDir, ROOT, startTestHost, type TestHost } from "./support.js";

// What the host serves at /console, seen over HTTP; test/console-browser.test.ts drives the page.
describe("console: serving the page", () => {
  let host: TestHost;
  before(async () => {
    host = await startTestHost(pluginsDir({ "ru-phones/plugin.json": {}, "ru-phones/process_client_phone.ts": "export default () => undefined;" }), {
      tenants: { acme: { token: "acme-secret" } },
      adminToken: "admin-secret",
    });
  });
  after(() => host.close());

  it("serves the page, its script and its style with a strict Content-Security-Policy", async () => {
    for (const [path, type] of [
      ["/console", "text/html"],
      ["/console/console.js", "text/javascript"],
      ["/console/console.css", "text/css"],
    ]) {
      const response = await fetch(host.url + path);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type")!, new RegExp(`^${type}`), path);
      assert.equal(response.headers.get("content-security-policy"), CONSOLE_CSP, path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(response.headers.get("x-frame-options"), "DENY", path);
    }
    // The policy itself: scripts and styles from this host's files only, nothing inline, no eval.
    const directives = new Map(CONSOLE_CSP.split(/;\s*/).map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
    assert.deepEqual(directives.get("default-src"), ["'none'"]);
    assert.deepEqual(directives.get("script-src"), ["'self'"]);
    assert.deepEqual(directives.get("style-src"), ["'self'"]);
    assert.deepEqual(directives.get("frame-ancestors"), ["'none'"]);
    assert.doesNotMatch(CONSOLE_CSP, /unsafe/);
  });

  it("holds no data: the page is the same whoever asks, and names no tenant or plugin", async () => {
    const anonymous = await (await fetch(`${host.url}/console`)).text();
    const admin = await (await fetch(`${host.url}/console`, { headers: { authorization: "Bearer admin-secret" } })).text();
    assert.equal(anonymous, admin);
    assert.doesNotMatch(anonymous, /acme|ru-phones/);
  });

  it("answers other methods and unknown files under /console with the error envelope", async () => {
    const post = await fetch(`${host.url}/console`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(((await post.json()) as { error: { code: string } }).error.code, "method_not_allowed");
    for (const path of ["/console/", "/console/index.html", "/console/../core/front/console.ts", "/console/%2e%2e/package.json"]) {
      const response = await fetch(host.url + path);
      assert.equal(response.status, 404, path);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, "not_found", path);
    }
  });

  it("leaves the routes beside it alone", async () => {
    assert.equal((await fetch(`${host.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${host.url}/consoles`)).status, 404);
    assert.equal((await fetch(`${host.url}/v1/tenants/acme/plugins`, { headers: { authorization: "Bearer acme-secret" } })).status, 200);
  });

  // The page shows what tenants control; the CSP forbids inline code, so the page must need none,
  // and the script must never hand text to the HTML parser.
  it("has no inline script or style, and its script uses no HTML-parsing sink", () => {
    const html = readFileSync(join(ROOT, "console", "index.html"), "utf8");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "a <script> without src");
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, "inline style or event handler");
    const script = readFileSync(join(ROOT, "console", "console.js"), "utf8");
    assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|\beval\(|new Function/);
    assert.doesNotMatch(script, /setAttribute\(\s*["']on/i);
  });
});
