// The same customization run the way connectors run customizations today: one process per call.
// `node bench/customizer.mjs process_client_phone < input.json` loads every plugin in
// bench/plugins that implements the hook, chains them in priority order (process_client_phone's
// rule: each result replaces `phone`, the next plugin sees the current phone) and prints the envelope.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const hook = process.argv[2];
if (hook !== "process_client_phone") {
  process.stderr.write(`customizer: only process_client_phone is implemented, got "${hook}"\n`);
  process.exit(2);
}
const pluginsDir = join(import.meta.dirname, "plugins");
const plugins = readdirSync(pluginsDir)
  .filter((dir) => existsSync(join(pluginsDir, dir, `${hook}.js`)))
  .map((dir) => ({ name: dir, priority: 100, config: {}, ...JSON.parse(readFileSync(join(pluginsDir, dir, "plugin.json"), "utf8")) }))
  .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));

const input = JSON.parse(readFileSync(0, "utf8"));
let data = { phone: input.phone };
for (const plugin of plugins) {
  const { default: fn } = await import(pathToFileURL(join(pluginsDir, plugin.name, `${hook}.js`)).href);
  const result = await fn({ ...input, phone: data.phone }, { tenant: "default", hook, plugin: plugin.name, config: plugin.config, data });
  if (result !== null && result !== undefined) data = { phone: result.phone };
}
process.stdout.write(JSON.stringify({ state: "success", data }));
