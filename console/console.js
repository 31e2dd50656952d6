// The hookhost console: reads the admin API and draws it. Everything shown comes from tenants and
// their plugins (names, errors, inputs, log lines), so the page only ever makes text nodes from it
// (nothing here hands a string to the HTML parser), and the Content-Security-Policy runs no inline
// script should markup ever slip in.

const TOKEN_KEY = "hookhost-admin-token";
const RUNS_SHOWN = 20;
const OUTCOMES = ["ok", "skip", "cancel", "error", "timeout", "invalid"];

const byId = (id) => document.getElementById(id);

/** An element with text-only children; attributes are never event handlers (the callers pass literals). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  const answer = await response.json().catch(() => undefined);
  if (response.status === 401) throw new Unauthorized(answer?.error?.message ?? "unauthorized");
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${answer?.error?.message ?? response.statusText}`);
  return answer;
}

function notify(text, kind = "info") {
  const notice = byId("notice");
  notice.textContent = text;
  notice.className = kind;
  notice.hidden = !text;
}

// ---- values -------------------------------------------------------------------------------------

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
const json = (value) => (value === undefined ? "—" : JSON.stringify(value, null, 2));
const problem = (p) => `${p.file}${p.line ? `:${p.line}` : ""}${p.column ? `:${p.column}` : ""}: ${p.message}`;
const version = (v) => v ?? "—";

/** Leaves of a JSON value by path (`a.b[0]`), each as its JSON text, so two values compare leaf by leaf. */
function leaves(value, path = "", out = new Map()) {
  if (value === undefined) return out;
  if (value !== null && typeof value === "object" && Object.keys(value).length) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key, out);
  } else {
    out.set(path || "(whole)", JSON.stringify(value));
  }
  return out;
}

/**
 * The rows of a diff between two JSON values: every leaf either side has, marked same, changed,
 * added (only on the right) or removed (only on the left). `onlyRight` keeps the left's other
 * leaves out (an answer names only what it changes; the rest of the input passes through).
 */
function diffRows(left, right, { onlyRight = false } = {}) {
  const a = leaves(left);
  const b = leaves(right);
  const paths = onlyRight ? [...b.keys()] : [...new Set([...a.keys(), ...b.keys()])];
  return paths.map((path) => {
    const [was, is] = [a.get(path), b.get(path)];
    const kind = was === undefined ? "added" : is === undefined ? "removed" : was === is ? "same" : "changed";
    return { path, was, is, kind };
  });
}

function diffTable(rows, leftTitle, rightTitle, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el(
    "table",
    { class: "diff" },
    el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, leftTitle), el("th", {}, rightTitle))),
    el(
      "tbody",
      {},
      rows.map((r) => el("tr", { class: r.kind, "data-kind": r.kind }, el("td", {}, r.path), el("td", {}, r.was ?? "—"), el("td", {}, r.is ?? "—"))),
    ),
  );
}

const raw = (title, value) => el("details", { class: "raw" }, el("summary", {}, title), el("pre", {}, json(value)));

// ---- drawing ------------------------------------------------------------------------------------

function pluginsTable(tenant) {
  if (!tenant.plugins.length) return el("p", { class: "muted" }, "No plugin serves this tenant.");
  return el(
    "table",
    { class: "plugins" },
    el("thead", {}, el("tr", {}, ["plugin", "state", "served version", "other kept versions", "hooks", "error", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, tenant.plugins.map((p) => pluginRow(tenant, p))),
  );
}

function pluginRow(tenant, p) {
  const served = p.served;
  const kept = p.versions ?? [];
  const others = kept.filter((v) => v.version !== served?.version);
  // Kept versions come newest first: "Roll back" is offered only when one older than the served one is kept.
  const older = kept.slice(kept.findIndex((v) => v.version === served?.version) + 1);
  const actions = el("td", { class: "actions" });
  if (p.candidate) {
    if (p.candidate.state === "running") {
      actions.append(
        button("Promote", `promote ${p.name}`, () => act(`POST`, `/v1/admin/plugins/${encodeURIComponent(p.name)}/promote`, {}, (r) => `${r.plugin} now serves ${r.version}`)),
        button("Abort", `abort ${p.name}`, () => act(`POST`, `/v1/admin/plugins/${encodeURIComponent(p.name)}/abort`, {}, (r) => `${r.candidate} ${r.state}`)),
      );
    }
  } else if (older.length) {
    actions.append(button("Roll back", `roll back ${p.name}`, () => rollback(p.name, undefined)));
  }
  return el(
    "tr",
    { "data-plugin": p.name, "data-tenant": tenant.id },
    el(
      "td",
      {},
      el("strong", {}, p.name),
      p.folder !== p.name ? el("div", { class: "muted" }, `folder ${p.folder}`) : undefined,
      p.candidate ? el("div", { class: "candidate" }, candidateText(p.candidate)) : undefined,
    ),
    el("td", {}, el("span", { class: `state ${p.state}`, "data-state": p.state }, p.state), p.enabled === false ? el("div", { class: "muted" }, "disabled") : undefined),
    el("td", { class: "served" }, served ? [el("code", {}, version(served.version)), served.reason ? el("div", { class: `reason ${served.reason}` }, served.reason) : undefined] : "—"),
    el(
      "td",
      {},
      others.length
        ? el(
            "ul",
            { class: "versions" },
            others.map((v) => el("li", {}, el("code", {}, v.version), ` ${time(v.loadedAt)} `, button("serve", `serve ${p.name} ${v.version}`, () => rollback(p.name, v.version), "small"))),
          )
        : el("span", { class: "muted" }, "none"),
    ),
    el("td", {}, (p.hooks ?? []).join(", ")),
    el("td", { class: "error" }, p.error ? el("code", {}, problem(p.error)) : ""),
    actions,
  );
}

function candidateText(c) {
  const share = c.mode === "canary" ? `, ${c.percent} % of calls` : "";
  const shadow = c.shadow ? ` · ${c.shadow.compared} compared, ${c.shadow.differences} differed${c.shadow.skipped ? `, ${c.shadow.skipped} left out` : ""}` : "";
  return `${c.mode} candidate of ${c.of}${share} · ${c.state}${shadow}`;
}

function button(label, name, onClick, kind) {
  const b = el("button", { type: "button", "aria-label": name, class: kind }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await onClick();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function hooksTable(tenant) {
  const hooks = Object.entries(tenant.hooks ?? {});
  if (!hooks.length) return el("p", { class: "muted" }, "No hook has run yet.");
  return el(
    "table",
    { class: "hooks" },
    el("thead", {}, el("tr", {}, el("th", {}, "hook"), el("th", {}, "runs"), OUTCOMES.map((o) => el("th", {}, o)), el("th", {}, "p50 ms"), el("th", {}, "p95 ms"))),
    el(
      "tbody",
      {},
      hooks.map(([hook, s]) =>
        el(
          "tr",
          { "data-hook": hook },
          el("td", {}, hook),
          el("td", {}, s.runs),
          OUTCOMES.map((o) => el("td", { class: s.outcomes?.[o] && o !== "ok" && o !== "skip" ? `count ${o}` : "count" }, s.outcomes?.[o] ?? 0)),
          el("td", {}, s.p50Ms ?? "—"),
          el("td", {}, s.p95Ms ?? "—"),
        ),
      ),
    ),
  );
}

function runsList(runs) {
  if (!runs.length) return el("p", { class: "muted" }, "No runs recorded yet.");
  return el(
    "div",
    { class: "runs" },
    runs.map((r) =>
      el(
        "details",
        { class: "run", "data-outcome": r.outcome, "data-plugin": r.plugin },
        el(
          "summary",
          {},
          el("span", { class: "at", title: r.at }, time(r.at)),
          el("span", { class: `outcome ${r.outcome}` }, r.outcome),
          el("span", {}, r.plugin),
          r.candidate ? el("span", { class: "candidate" }, `canary ${r.candidate}`) : undefined,
          el("code", {}, version(r.version)),
          el("span", {}, r.hook),
          el("span", { class: "ms" }, `${r.ms} ms`),
          r.error ? el("span", { class: "run-error" }, r.error) : undefined,
        ),
        el("h4", {}, "input → answer"),
        r.answer === undefined || r.answer === null
          ? el("p", { class: "muted" }, noAnswer(r.outcome))
          : diffTable(diffRows(r.input, r.answer, { onlyRight: true }), "input", "answer", "The answer is empty."),
        r.logs?.length
          ? el(
              "ol",
              { class: "logs" },
              r.logs.map((l) => el("li", { class: l.level }, el("span", { class: "level" }, l.level), ` ${l.message}`, l.fields ? el("code", {}, ` ${JSON.stringify(l.fields)}`) : undefined)),
            )
          : undefined,
        raw("input", r.input),
        raw("what the plugin saw", r.saw),
        raw("answer", r.answer),
        el("p", { class: "muted" }, `request ${r.requestId}`),
      ),
    ),
  );
}

function noAnswer(outcome) {
  if (outcome === "ok" || outcome === "skip") return "The plugin answered nothing: the input passed on unchanged.";
  if (outcome === "cancel") return "The plugin cancelled the request.";
  return `No answer (${outcome}): the chain went on without this plugin.`;
}

/** What the chain would have done with each answer ({ status, value | error | reason }): the outcome when it differs, then the values' fields that differ. */
function shadowRows(live, candidate) {
  const outcome = (v) => `${v.status}${v.error ? `: ${v.error}` : v.reason ? `: ${v.reason}` : ""}`;
  const rows = live.status === candidate.status ? [] : [{ path: "outcome", was: outcome(live), is: outcome(candidate), kind: "changed" }];
  return [...rows, ...diffRows(live.value, candidate.value).filter((r) => r.kind !== "same")];
}

function shadowList(differences) {
  if (!differences.length) return el("p", { class: "muted" }, "No shadow differences.");
  return el(
    "div",
    { class: "shadow" },
    differences.map((d) =>
      el(
        "details",
        { class: "difference", "data-candidate": d.candidate },
        el("summary", {}, el("span", { class: "at", title: d.at }, time(d.at)), el("span", {}, `${d.candidate} (${version(d.version)}) vs ${d.plugin}`), el("span", {}, d.hook)),
        diffTable(shadowRows(d.live ?? {}, d.candidateAnswer ?? {}), `${d.plugin} ${version(d.live?.version)}`, `${d.candidate} ${version(d.version)}`, "The answers are the same."),
        raw("input", d.input),
        el("p", { class: "muted" }, `request ${d.requestId}`),
      ),
    ),
  );
}

// The tenants whose runs are open, kept across refreshes: runs are read only for these, so a host
// with many tenants costs one overview read plus two reads per tenant the operator opens.
const runsOpen = new Set();

function tenantSection(tenant) {
  const activity = el("div", {});
  const details = el("details", { class: "activity", open: runsOpen.has(tenant.id) }, el("summary", {}, "Recent runs and shadow differences"), activity);
  let filling;
  // Read once per drawing; a failed read is tried again at the next opening.
  const fill = () =>
    (filling ??= fillActivity(tenant.id, activity).catch((e) => {
      filling = undefined;
      throw e;
    }));
  details.addEventListener("toggle", () => {
    if (!details.open) return void runsOpen.delete(tenant.id);
    runsOpen.add(tenant.id);
    fill().catch(failed);
  });
  const section = el(
    "section",
    { class: "tenant", "data-tenant": tenant.id },
    el("h2", {}, `tenant ${tenant.id}`, el("span", { class: "muted summary" }, tenantSummary(tenant))),
    el("h3", {}, "Plugins"),
    pluginsTable(tenant),
    el("h3", {}, "Hooks (from the recent runs)"),
    hooksTable(tenant),
    details,
  );
  return { section, fill: runsOpen.has(tenant.id) ? fill : undefined };
}

function tenantSummary(tenant) {
  const notOk = tenant.plugins.filter((p) => p.state !== "ok").length;
  const stats = Object.values(tenant.hooks ?? {});
  const runs = stats.reduce((n, s) => n + s.runs, 0);
  const failing = stats.reduce((n, s) => n + (s.outcomes?.error ?? 0) + (s.outcomes?.timeout ?? 0) + (s.outcomes?.invalid ?? 0), 0);
  return `${tenant.plugins.length} plugins, ${notOk} not ok · ${runs} recent runs, ${failing} failed`;
}

async function fillActivity(tenantId, into) {
  const t = encodeURIComponent(tenantId);
  const [runs, shadow] = await Promise.all([api("GET", `/v1/tenants/${t}/runs?limit=${RUNS_SHOWN}`), api("GET", `/v1/tenants/${t}/shadow?limit=${RUNS_SHOWN}`)]);
  into.replaceChildren(
    el("h3", {}, `Recent runs (newest first, at most ${RUNS_SHOWN})`),
    runsList(runs.runs),
    el("h3", {}, `Shadow differences (newest first, at most ${RUNS_SHOWN})`),
    shadowList(shadow.differences),
  );
}

// ---- actions ------------------------------------------------------------------------------------

async function act(method, path, body, describe) {
  try {
    const answer = await api(method, path, body);
    await load();
    notify(describe(answer), "ok");
  } catch (e) {
    failed(e);
  }
}

function rollback(plugin, to) {
  return act("POST", `/v1/admin/plugins/${encodeURIComponent(plugin)}/rollback`, to ? { version: to } : {}, (r) => `${r.plugin} now serves ${r.version} (was ${r.previous})`);
}

async function load() {
  try {
    const overview = await api("GET", "/v1/admin/overview");
    const tenants = overview.tenants.map(tenantSection);
    await Promise.all(tenants.map((t) => t.fill?.()));
    byId("tenants").replaceChildren(...tenants.map((t) => t.section));
    byId("signin").hidden = true;
    byId("bar").hidden = false;
    byId("updated").textContent = `updated ${time(new Date().toISOString())}`;
  } catch (e) {
    failed(e);
  }
}

function failed(e) {
  if (e instanceof Unauthorized) return signOut("The admin token was refused: sign in with the adminToken of hookhost.json.");
  notify(e.message, "bad");
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  byId("tenants").replaceChildren();
  byId("bar").hidden = true;
  byId("signin").hidden = false;
  notify(message, message ? "bad" : "info");
}

byId("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, byId("token").value);
  byId("token").value = "";
  notify("");
  void load();
});
byId("refresh").addEventListener("click", () => void load());
byId("signout").addEventListener("click", () => signOut(""));

if (sessionStorage.getItem(TOKEN_KEY)) void load();
else signOut("");
