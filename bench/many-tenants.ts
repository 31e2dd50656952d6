import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { startHostProcess } from "./children.js";
import { metricSum, postHook } from "./client.js";
import { rssBytes, sampleRss } from "./process-stats.js";
import type { HookRequest } from "./requests.js";
import { percentile } from "./stats.js";

export interface ManyTenantsOptions {
  tenants: number;
  /** the one plugin folder, serving every tenant */
  plugin: string;
  request: HookRequest;
  workDir: string;
  logLevel: string;
  nodeArgs: string[];
}

export interface ManyTenantsResult {
  tenants: number;
  idleRssMb: number;
  rssMb: number;
  maxRssMb: number;
  /** host memory per tenant × plugin sandbox: (RSS after − idle RSS) / tenants */
  perSandboxMb: number;
  sandboxesAlive: number;
  /** each tenant's first call, which builds its sandbox */
  firstCallP50Ms: number;
  firstCallP99Ms: number;
  failed: number;
}

const CONCURRENCY = 10;

/** A host with `tenants` tokened tenants and one plugin serving all; each tenant called once. */
export async function measureManyTenants(o: ManyTenantsOptions): Promise<ManyTenantsResult> {
  const ids = Array.from({ length: o.tenants }, (_, i) => `t${String(i).padStart(4, "0")}`);
  const configFile = join(o.workDir, "many-tenants.json");
  writeFileSync(configFile, JSON.stringify({ tenants: Object.fromEntries(ids.map((id) => [id, { token: `token-${id}` }])) }));
  const pluginsDir = join(o.workDir, "plugins-many-tenants");
  mkdirSync(pluginsDir);
  cpSync(o.plugin, join(pluginsDir, basename(o.plugin)), { recursive: true });
  const host = await startHostProcess({ pluginsDir, configFile, logFile: join(o.workDir, "host-many-tenants.log"), logLevel: o.logLevel, nodeArgs: o.nodeArgs });
  try {
    const idle = rssBytes(host.pid);
    const rss = sampleRss(host.pid);
    const times: number[] = [];
    let failed = 0;
    let next = 0;
    const caller = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const answer = await postHook(host.url, id, o.request.hook, o.request.body, `token-${id}`);
        times.push(answer.ms);
        if (answer.status !== 200 || !answer.trace.some((t) => t.includes(";status=ok;"))) failed++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
    await new Promise((r) => setTimeout(r, 1000));
    const { maxBytes, lastBytes } = rss.stop();
    const metrics = await fetch(`${host.url}/metrics`).then((r) => r.text());
    times.sort((a, b) => a - b);
    return {
      tenants: ids.length,
      idleRssMb: idle / 2 ** 20,
      rssMb: lastBytes / 2 ** 20,
      maxRssMb: maxBytes / 2 ** 20,
      perSandboxMb: (lastBytes - idle) / ids.length / 2 ** 20,
      sandboxesAlive: metricSum(metrics, "hookhost_sandboxes_alive"),
      firstCallP50Ms: percentile(times, 0.5),
      firstCallP99Ms: percentile(times, 0.99),
      failed,
    };
  } finally {
    await host.stop();
  }
}
