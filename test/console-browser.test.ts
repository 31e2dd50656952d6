import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { eventually, fixture, pluginsDir, ROOT, startTestHost, writePlugins, type TestHost } from "./support.js";

// The console in a real headless Chromium: Debian's package, installed by scripts/test-deps.sh.
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ADMIN = "admin-secret";
const CONFIG = { tenants: { acme: { token: "acme-secret" } }, adminToken: ADMIN };
// With CONSOLE_SCREENSHOTS=1 the run also writes the README's screenshots into docs/.
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS === "1";

const GOOD = `export default (input, ctx) => {
  const digits = input.phone.replace(/\\D/g, "");
  ctx.log.info("normalized", { from: input.phone });
  return { phone: "+7" + digits.slice(-10) };
};`;
// A candidate that writes the 8-prefixed form instead.
const EIGHT = `export default (input) => ({ phone: "8" + input.phone.replace(/\\D/g, "").slice(-10) });`;
// The bad edit: it loads fine, and fails on every call.
const BAD = `export default (input, ctx) => {
  ctx.log.warn("<script>window.__xss = 'log'</script>", { note: "<b>fields</b>" });
  throw new Error("<img src=x onerror=\\"window.__xss='error'\\"> no digits");
};`;

describe("console in headless Chromium", function () {
  this.timeout(60_000);
  let profile: string;
  let browser: BrowserContext;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/test-deps.sh installs Debian's chromium package (npm test runs it first)`);
    profile = mkdtempSync(join(tmpdir(), "hookhost-chromium-"));
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  let host: TestHost;
  afterEach(() => host?.close());

  async function admin(path: string): Promise<any> {
    const response = await fetch(host.url + path, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(response.status, 200, path);
    return response.json();
  }
  const served = async (plugin: string): Promise<string> => (await admin("/v1/tenants/acme/plugins")).plugins.find((p: any) => p.name === plugin).version;
  const call = (phone: string) => host.post("acme", "process_client_phone", { ...fixture("process_client_phone"), phone, note: "<svg onload=\"window.__xss='input'\">" }, { authorization: "Bearer acme-secret" });

  async function signIn(token: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${host.url}/console`);
    await page.getByLabel("Admin token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    return page;
  }
  /** Opens a tenant's recent runs and shadow differences (read only when opened; they stay open across refreshes). */
  async function openRuns(page: Page, tenant = "acme"): Promise<void> {
    const activity = page.locator(`section[data-tenant="${tenant}"] details.activity`);
    await activity.locator(":scope > summary").click();
    await activity.getByText("Recent runs (newest first").waitFor();
  }

  it("shows nothing without the admin token: a wrong one is refused, a changed one signs the page out", async () => {
    const work = mkdtempSync(join(tmpdir(), "hookhost-console-config-"));
    const configFile = join(work, "hookhost.json");
    writeFileSync(configFile, JSON.stringify(CONFIG));
    host = await startTestHost(pluginsDir({ "ru-phones/plugin.json": {}, "ru-phones/process_client_phone.ts": GOOD }), CONFIG, configFile);
    try {
      const page = await signIn("acme-secret"); // a tenant's token is not the admin's
      await page.getByText("The admin token was refused").waitFor();
      assert.equal(await page.locator("section.tenant").count(), 0);
      assert.ok(await page.getByLabel("Admin token").isVisible());
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);

      await page.getByLabel("Admin token").fill(ADMIN);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.locator('tr[data-plugin="ru-phones"]').waitFor();
      // The operator rotates the admin token: the open page's next read is refused, and it forgets what it showed.
      writeFileSync(configFile, JSON.stringify({ ...CONFIG, adminToken: "rotated-secret" }));
      await eventually(async () => assert.equal((await fetch(`${host.url}/v1/admin/overview`, { headers: { authorization: `Bearer ${ADMIN}` } })).status, 401));
      await page.getByRole("button", { name: "Refresh" }).click();
      await page.getByText("The admin token was refused").waitFor();
      assert.equal(await page.locator("section.tenant").count(), 0);
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      await page.close();
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("a bad edit goes live, the console shows it failing, one click rolls it back, and the old version is served", async () => {
    host = await startTestHost(
      pluginsDir({
        "ru-phones/plugin.json": {},
        "ru-phones/process_client_phone.ts": GOOD,
        // a folder that never loaded: the console names the file and line
        "typo/plugin.json": {},
        "typo/process_user_phone.ts": "export default (input) => {\n  return { phone: };\n};",
      }),
      CONFIG,
    );
    assert.equal((await call("8 (912) 345-67-89")).body.data.phone, "+79123456789");
    const good = await served("ru-phones");
    writePlugins(host.dir, { "ru-phones/process_client_phone.ts": BAD });
    const bad = await eventually(async () => {
      const v = await served("ru-phones");
      assert.notEqual(v, good);
      return v;
    });
    const failed = await call("8 (912) 345-67-89");
    assert.deepEqual(failed.trace.map((t) => t.replace(/;ms=\d+/, "")), [`ru-phones;status=error;v=${bad}`]);

    const reads: string[] = [];
    const record = (r: { url(): string }) => reads.push(new URL(r.url()).pathname);
    browser.on("request", record);
    const page = await signIn(ADMIN);
    const row = page.locator('section[data-tenant="acme"] tr[data-plugin="ru-phones"]');
    await row.locator("td.served code", { hasText: bad }).waitFor();
    await page.locator('tr[data-plugin="typo"] td.error', { hasText: "process_user_phone.ts:2:" }).waitFor();
    assert.equal(await page.locator('tr[data-plugin="typo"] [data-state]').textContent(), "error");
    assert.equal(await page.locator('tr[data-hook="process_client_phone"] td.count.error').textContent(), "1");
    assert.equal(await page.locator('section[data-tenant="acme"] h2 .summary').textContent(), "2 plugins, 1 not ok · 2 recent runs, 1 failed");
    // A tenant's runs are read only once the operator opens them.
    assert.deepEqual(reads.filter((path) => path.startsWith("/v1/")), ["/v1/admin/overview"]);
    await openRuns(page);
    browser.off("request", record);
    assert.deepEqual(reads.filter((path) => path.startsWith("/v1/tenants/")).sort(), ["/v1/tenants/acme/runs", "/v1/tenants/acme/shadow"]);

    // The newest run is the failed one: its error, its log line and the input, all as text.
    const run = page.locator("details.run").first();
    assert.equal(await run.getAttribute("data-outcome"), "error");
    await run.locator(":scope > summary").click();
    await run.getByText("<img src=x onerror=\"window.__xss='error'\"> no digits").first().waitFor();
    await run.getByText("<script>window.__xss = 'log'</script>").first().waitFor();
    await run.getByText("No answer (error): the chain went on without this plugin.").waitFor();
    if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, "docs", "console-bad-edit.png"), fullPage: true });

    await row.getByRole("button", { name: "Roll back" }).click();
    await page.getByText(`ru-phones now serves ${good} (was ${bad})`).waitFor();
    await row.locator("td.served code", { hasText: good }).waitFor();
    assert.equal(await row.locator(".reason").textContent(), "rollback");
    assert.equal(await served("ru-phones"), good);

    // Served again: the next call is answered by the old version, and the console shows that run.
    const answer = await call("8 (912) 345-67-89");
    assert.equal(answer.body.data.phone, "+79123456789");
    await page.getByRole("button", { name: "Refresh" }).click();
    const newest = page.locator("details.run").first();
    await newest.locator("code", { hasText: good }).waitFor();
    assert.equal(await newest.getAttribute("data-outcome"), "ok");
    await newest.locator(":scope > summary").click();
    // the diff view: the answer changed the input's phone
    const changed = newest.locator('table.diff tr[data-kind="changed"]');
    assert.deepEqual(await changed.locator("td").allTextContents(), ["phone", '"8 (912) 345-67-89"', '"+79123456789"']);
    if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, "docs", "console-rolled-back.png"), fullPage: true });
    await page.close();
  });

  it("shows a shadow candidate's differences, and promotes it in one click", async () => {
    host = await startTestHost(
      pluginsDir({
        "ru-phones/plugin.json": {},
        "ru-phones/process_client_phone.ts": GOOD,
        "ru-phones-8/plugin.json": { candidateOf: "ru-phones", mode: "shadow" },
        "ru-phones-8/process_client_phone.ts": EIGHT,
      }),
      CONFIG,
    );
    assert.equal((await call("8 (912) 345-67-89")).body.data.phone, "+79123456789");
    // Shadow runs start after the answer: wait until the difference is recorded.
    await eventually(async () => assert.equal((await admin("/v1/tenants/acme/shadow")).differences.length, 1));

    const page = await signIn(ADMIN);
    await openRuns(page);
    const difference = page.locator('details.difference[data-candidate="ru-phones-8"]');
    await difference.locator(":scope > summary").click();
    assert.deepEqual(await difference.locator('table.diff tr[data-kind="changed"] td').allTextContents(), ["phone", '"+79123456789"', '"89123456789"']);
    const candidate = page.locator('tr[data-plugin="ru-phones-8"]');
    await candidate.getByText("shadow candidate of ru-phones · running · 1 compared, 1 differed").waitFor();
    if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, "docs", "console-shadow.png"), fullPage: true });

    await candidate.getByRole("button", { name: "Promote" }).click();
    await page.getByText(/^ru-phones now serves [0-9a-f]{12}$/).waitFor();
    await page.locator('tr[data-plugin="ru-phones"] .reason', { hasText: "promoted" }).waitFor();
    await candidate.getByText("· promoted").waitFor();
    assert.equal(await candidate.getByRole("button").count(), 0);
    assert.equal((await call("8 (912) 345-67-89")).body.data.phone, "89123456789");
    await page.close();
  });

  it("aborts a canary in one click: the live version answers every call again", async () => {
    host = await startTestHost(
      pluginsDir({
        "ru-phones/plugin.json": {},
        "ru-phones/process_client_phone.ts": GOOD,
        "ru-phones-8/plugin.json": { candidateOf: "ru-phones", mode: "canary", percent: 100 },
        "ru-phones-8/process_client_phone.ts": EIGHT,
      }),
      CONFIG,
    );
    assert.equal((await call("8 (912) 345-67-89")).body.data.phone, "89123456789");
    const page = await signIn(ADMIN);
    await openRuns(page);
    await page.locator("details.run .candidate", { hasText: "canary ru-phones-8" }).waitFor();
    const candidate = page.locator('tr[data-plugin="ru-phones-8"]');
    await candidate.getByRole("button", { name: "Abort" }).click();
    await page.getByText("ru-phones-8 aborted").waitFor();
    await candidate.getByText("canary candidate of ru-phones, 100 % of calls · aborted").waitFor();
    assert.equal((await call("8 (912) 345-67-89")).body.data.phone, "+79123456789");
    await page.close();
  });

  it("shows what tenants control as text: markup in a plugin name, an error, a log line or an input runs nothing", async () => {
    // a folder named so never serves (no valid plugin name): it is listed broken, under its name,
    // with an error that quotes it; the runs are another plugin's
    const name = "<img src=x onerror=window.__xss='name'>";
    host = await startTestHost(
      pluginsDir({
        [`${name}/plugin.json`]: {},
        [`${name}/process_client_phone.ts`]: BAD,
        "bad/plugin.json": {},
        "bad/process_client_phone.ts": BAD,
      }),
      CONFIG,
    );
    await call("<svg onload=\"window.__xss='phone'\">");
    const page = await signIn(ADMIN);
    const violations: string[] = [];
    page.on("console", (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
    page.on("pageerror", (e) => violations.push(e.message));
    await page.locator("strong", { hasText: name }).waitFor();
    await page.getByText(`the folder name "${name}" is not a valid plugin name`, { exact: false }).first().waitFor();
    await openRuns(page);
    const run = page.locator("details.run").first();
    await run.locator(":scope > summary").click();
    for (const raw of await run.locator("details.raw > summary").all()) await raw.click();
    await run.getByText("no digits").first().waitFor();
    await run.getByText("window.__xss='phone'").first().waitFor();
    await run.getByText("window.__xss='input'").first().waitFor();
    assert.equal(await page.evaluate(() => (globalThis as { __xss?: string }).__xss), undefined);
    assert.equal(await page.locator("main img, main svg, main script, main b").count(), 0);
    assert.deepEqual(violations, [], "the page threw nothing and its CSP refused nothing");
    await page.close();
  });
});
