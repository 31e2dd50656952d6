// The sandbox layer alone, without HTTP: bench/plugins' 3-plugin chain folded by runChain over
// Sandbox.run, as a lane process runs it, in each call mode: async (the host's in-process mode),
// sync, and sync with ctx's fixed part given once per sandbox (SandboxOptions.configJson), the
// last also with the chains of eight tenants in turn (each tenant its own three isolates, as the
// load runs' eight tenants in a lane). What a plugin run costs the CPU here is the floor under the
// host's cost per plugin run. Runs in the bench's process after the load runs, so it competes with
// nothing of its own.
import { join } from "node:path";
import { runChain, type ChainStep } from "../core/chain.js";
import { loadPlugin } from "../core/discovery.js";
import type { HookName } from "../core/hooks.js";
import { Sandbox, type RunRequest } from "../sandbox/index.js";
import { BENCH } from "./paths.js";
import type { HookRequest } from "./requests.js";

export const CALL_MODES = ["async", "sync", "sync, ctx cached", "sync, ctx cached, 8 tenants"] as const;
export type CallMode = (typeof CALL_MODES)[number];

export interface SandboxCallsResult {
  mode: CallMode;
  chains: number;
  /** CPU of this process per chain, and per plugin run above an empty chain */
  cpuUsPerChain: number;
  cpuUsPerPluginRun: number;
}

const FOLDERS = ["ru-phone-normalize", "trunk-gate", "phone-alias-map"];

/** `chains` 3-plugin chains in `mode`, after a warm-up, each request's input parsed as the front hands it over. */
export async function measureSandboxCalls(mode: CallMode, requests: HookRequest[], chains: number): Promise<SandboxCallsResult> {
  const plugins = await Promise.all(FOLDERS.map((f) => loadPlugin(join(BENCH, "plugins", f), { memoryMb: () => 64 })));
  const cached = mode.startsWith("sync, ctx cached");
  const tenants = mode === "sync, ctx cached, 8 tenants" ? 8 : 1;
  const sets = Array.from({ length: tenants }, (_, t) =>
    plugins.map(
      (p) =>
        new Sandbox(p.code, {
          tenant: `tenant-${t}`,
          memoryMb: 64,
          loadTimeoutMs: 2000,
          capabilities: {},
          allowHosts: [],
          onLog: () => {},
          sync: mode !== "async",
          configJson: cached ? JSON.stringify(p.manifest.config) : undefined,
        }),
    ),
  );
  const hook = "process_client_phone" as HookName;
  const chain = async (body: string, withPlugins: boolean, sandboxes: Sandbox[]) => {
    const input = JSON.parse(body) as Record<string, unknown>;
    let inputJson: string | undefined;
    const steps = withPlugins
      ? plugins.map((p, i): ChainStep => {
          const name = JSON.stringify(p.manifest.name);
          const configJson = JSON.stringify(p.manifest.config);
          return {
            plugin: p.manifest.name,
            timeoutMs: 1000,
            run: (input, overlay, data, deadline) => {
              inputJson ??= JSON.stringify(input);
              const common = { hook, inputJson, overlayJson: JSON.stringify(overlay), deadline, meta: { hook, requestId: "bench" } };
              const request: RunRequest =
                cached
                  ? { ...common, dataJson: JSON.stringify(data) }
                  : { ...common, ctxJson: `{"tenant":"default","hook":"${hook}","plugin":${name},"config":${configJson},"data":${JSON.stringify(data)}}` };
              return sandboxes[i].run(request);
            },
          };
        })
      : [];
    const result = await runChain(hook, input, steps, { budgetMs: 2000, cancellation: false });
    if (result.trace.some((t) => t.status !== "ok" && t.status !== "skip")) throw new Error(`sandbox bench: ${JSON.stringify(result.trace)}`);
    return JSON.stringify({ state: "success", data: result.data });
  };
  const cpu = async (n: number, withPlugins: boolean) => {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) await chain(requests[i % requests.length].body, withPlugins, sets[i % tenants]);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / n;
  };
  try {
    await cpu(Math.min(chains, 2000), true);
    const empty = await cpu(chains, false);
    const full = await cpu(chains, true);
    return { mode, chains, cpuUsPerChain: full, cpuUsPerPluginRun: (full - empty) / FOLDERS.length };
  } finally {
    for (const s of sets.flat()) s.dispose();
  }
}
