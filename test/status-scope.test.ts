// A tenant's status shows the folders that would serve it, and nothing of another tenant's broken
// folders but how many cannot be told apart (issue 11 #15). The admin token sees every folder.
import assert from "node:assert/strict";
import { renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { eventually, pluginsDir, startTestHost, writePlugins, type TestHost } from "./support.js";

const PASS = `export default () => ({ result: true });`;
const SECRET = "GLOBEX_INTERNAL_CRM_ID_4471";

describe("status endpoint: what each tenant sees", () => {
  let host: TestHost;
  before(async () => {
    const dir = pluginsDir({
      "acme-ok/plugin.json": { tenants: ["acme"] },
      "acme-ok/need_registration.js": PASS,
      // broken in each way a file, line and compiler text can describe
      "acme-broken/plugin.json": { tenants: ["acme"] },
      "acme-broken/need_registration.ts": `export default () => ({ result: true +;`,
      "everyone-broken/plugin.json": {},
      "everyone-broken/need_registration.js": `throw new Error("needs a table");\nexport default () => null;`,
      "globex-syntax/plugin.json": { tenants: ["globex"] },
      "globex-syntax/need_registration.ts": `const id = "${SECRET}";\nexport default () => ({ result: id +;`,
      "globex-throws/plugin.json": { tenants: ["globex", "initech"] },
      "globex-throws/need_registration.js": `throw new Error("${SECRET} is not reachable");\nexport default () => null;`,
      "globex-import/plugin.json": { tenants: ["globex"] },
      "globex-import/need_registration.js": `import x from "./lib/${SECRET}.js";\nexport default () => x;`,
      "globex-link/plugin.json": { tenants: ["globex"] },
      "globex-link/need_registration.js": PASS,
      "acme-link/plugin.json": { tenants: ["acme"] },
      "acme-link/need_registration.js": PASS,
      "globex-ok/plugin.json": { tenants: ["globex"], config: { crm: SECRET } },
      "globex-ok/need_registration.js": PASS,
      // nobody can tell whom these would serve
      "unreadable-json/plugin.json": `{ "tenants": ["globex"], "config": { "crm": "${SECRET}" }, }`,
      "unknown-field/plugin.json": { tenants: ["globex"], secret: SECRET },
      "no-manifest/need_registration.js": PASS,
    });
    // a folder whose plugin.json reads well, but whose lib/ leads out: its own tenants see why
    for (const folder of ["globex-link", "acme-link"]) symlinkSync("/etc", join(dir, folder, "lib"));
    host = await startTestHost(dir, {
      tenants: { acme: { token: "acme-token" }, globex: { token: "globex-token" }, initech: { token: "initech-token" } },
      adminToken: "admin-token",
    });
  });
  after(() => host.close());

  async function status(tenant: string, token: string) {
    const response = await fetch(`${host.url}/v1/tenants/${tenant}/plugins`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    const text = await response.text();
    const body = JSON.parse(text);
    return { text, body, folders: body.plugins.map((p: any) => p.folder).sort() as string[], byFolder: new Map<string, any>(body.plugins.map((p: any) => [p.folder, p])) };
  }

  it("a tenant sees its own and the every-tenant folders, broken ones with file, line and message", async () => {
    const acme = await status("acme", "acme-token");
    assert.deepEqual(acme.folders, ["acme-broken", "acme-link", "acme-ok", "everyone-broken"]);
    assert.equal(acme.byFolder.get("acme-link").error.file, "lib");
    assert.equal(acme.byFolder.get("acme-broken").error.file, "need_registration.ts");
    assert.equal(acme.byFolder.get("acme-broken").error.line, 1);
    assert.match(acme.byFolder.get("everyone-broken").error.message, /needs a table/);
  });

  it("another tenant's folders, broken or not, are not shown, and nothing of them is in the answer", async () => {
    const acme = await status("acme", "acme-token");
    for (const folder of ["globex-syntax", "globex-throws", "globex-import", "globex-link", "globex-ok"]) assert.ok(!acme.folders.includes(folder), folder);
    assert.ok(!acme.text.includes(SECRET), acme.text);
    assert.ok(!acme.text.includes("globex"), acme.text);
  });

  it("broken folders whose plugin.json names nobody are only counted", async () => {
    const acme = await status("acme", "acme-token");
    assert.equal(acme.body.unattributedBroken, 3);
    for (const folder of ["unreadable-json", "unknown-field", "no-manifest"]) assert.ok(!acme.folders.includes(folder), folder);
  });

  it("a folder serving several tenants is shown to each of them", async () => {
    const initech = await status("initech", "initech-token");
    assert.deepEqual(initech.folders, ["everyone-broken", "globex-throws"]);
    const globex = await status("globex", "globex-token");
    assert.deepEqual(globex.folders, ["everyone-broken", "globex-import", "globex-link", "globex-ok", "globex-syntax", "globex-throws"]);
    assert.match(globex.byFolder.get("globex-syntax").error.message, /Unexpected|Expected/);
  });

  it("the admin token sees every broken folder, whichever tenant it asks for", async () => {
    const admin = await status("acme", "admin-token");
    assert.deepEqual(admin.folders, ["acme-broken", "acme-link", "acme-ok", "everyone-broken", "globex-import", "globex-link", "globex-syntax", "globex-throws", "no-manifest", "unknown-field", "unreadable-json"]);
    assert.equal(admin.body.unattributedBroken, 3);
  });

  it("a folder of another tenant that breaks on reload stays out of sight", async function () {
    this.timeout(10_000);
    writePlugins(host.dir, { ".next/need_registration.js": `const id = "${SECRET}";\nexport default () => ({ result: id +;` });
    renameSync(join(host.dir, ".next/need_registration.js"), join(host.dir, "globex-ok/need_registration.js"));
    await eventually(async () => assert.equal((await status("globex", "globex-token")).byFolder.get("globex-ok").state, "stale"));
    const acme = await status("acme", "acme-token");
    assert.ok(!acme.folders.includes("globex-ok"));
    assert.ok(!acme.text.includes(SECRET));
  });
});
