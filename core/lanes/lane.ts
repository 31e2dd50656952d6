// A lane: one process that runs the chains of a shard of tenants in its sandboxes, with the
// capabilities they use, for the front (core/lanes/supervisor.ts). It holds no state the front
// cannot give it again: a lane that dies is replaced by one started from the front's state.
import { availableParallelism } from "node:os";
import { Writable } from "node:stream";
import winston from "winston";
import type { HostConfig } from "../config.js";
import { probePlugin } from "../discovery.js";
import { createCapabilities } from "../host-capabilities.js";
import { pluginLogLimiter } from "../log.js";
import { Registry } from "../registry.js";
import { readRuns } from "../runs.js";
import { Tenants } from "../tenants.js";
import { Outbox, unbatch } from "./outbox.js";
import { startWatchdog } from "./watchdog.js";
import { BEAT_MS, type FrontMessage, type LaneInit, type LaneMessage } from "./protocol.js";
/** How often the plugin log lines dropped by the rate limit are reported. */
const DROP_REPORT_MS = 5000;

const outbox = new Outbox<LaneMessage>((wire, done) => {
  try {
    process.send!(wire, undefined, undefined, done);
  } catch {
    // a value that does not clone (a log field): each message alone, the line without its fields
    for (const message of [wire].flat()) {
      try {
        process.send!(message);
      } catch {
        if (message.type === "log") process.send!({ ...message, fields: {} });
      }
    }
    done?.();
  }
});

/** `done`: the message goes out now, with what is queued before it, and `done` runs once it is written. */
function send(message: LaneMessage, done?: () => void): void {
  outbox.post(message);
  if (done) outbox.flush(done);
}

/** The lane's log lines are written by the front's logger, with the front's own. */
const toFront = new Writable({
  objectMode: true,
  write(info: Record<string, unknown>, _encoding, next) {
    const { level, message, ...fields } = info;
    send({ type: "log", level: String(level), message: String(message), fields });
    next();
  },
});

type Running = ReturnType<typeof start>;

function start(init: LaneInit) {
  let config: HostConfig = init.config;
  let tenants = new Tenants(config);
  const logger = winston.createLogger({ level: init.logLevel, transports: [new winston.transports.Stream({ stream: toFront })] });
  // Encoders: each lane its share of the cores, and at least 2, since one tenant may hold at most
  // half of a lane's: with one, a tenant's flood left its lane's other tenants waiting 5 s and more.
  const { capabilities, store } = createCapabilities(process.env, () => config, Math.max(2, Math.ceil(availableParallelism() / init.lanes)));
  const pluginLog = pluginLogLimiter();
  const registry = new Registry({
    config: () => config,
    capabilities,
    logger,
    // maxSandboxes is the host's: each lane holds its share
    maxSandboxes: Math.max(1, Math.ceil(config.maxSandboxes / init.lanes)),
    pluginLog,
    // at once, not at the turn's end: the front replaces this lane, whose thread may be lost
    onFault: (plugin, tenant, reason) => {
      outbox.post({ type: "fault", plugin, tenant, reason });
      outbox.flush();
    },
    // with laneCalls "sync" a chain's plugins are called on this thread (~20 µs a run instead of
    // ~120): a fatal V8 error, or a run V8 does not stop, then holds it, and the watchdog names
    // the plugin and the chain to the front
    sync: config.laneCalls === "sync" ? startWatchdog() : undefined,
  });
  for (const result of init.served) registry.apply(result);
  for (const { dir, state } of init.stopped) registry.stopTrial(dir, state);
  for (const d of init.disabled) registry.recordFault(d.plugin, d.tenant, d.reason, true);
  for (const a of init.async) registry.callAsync(a.plugin, a.tenant, a.reason);
  const reportDrops = () => {
    for (const { tenant, plugin, dropped } of pluginLog.takeDropped()) logger.warn("plugin log lines dropped by the rate limit", { tenant, plugin, dropped });
  };
  const beat = () => send({ type: "beat", alive: registry.sandboxesAlive, memory: registry.sandboxMemory(), shadow: registry.shadowTally() });
  const beats = setInterval(beat, BEAT_MS);
  const drops = setInterval(reportDrops, DROP_REPORT_MS);
  beat();
  let inFlight = 0;
  let stopping = false;

  const stop = async () => {
    clearInterval(beats);
    clearInterval(drops);
    registry.disposeAll();
    await store.close();
    reportDrops();
    // the last message flushed means every earlier one is too
    await new Promise<void>((resolve) => send({ type: "beat", alive: 0, memory: { heapBytes: 0, externalBytes: 0 }, shadow: [] }, resolve));
    process.exit(0);
  };

  return {
    handle(message: Exclude<FrontMessage, LaneInit>): void {
      switch (message.type) {
        case "run": {
          const { id, tenant: tenantId, hook, inputJson, requestId, budgetMs, cancellation, decided } = message;
          const tenant = tenants.get(tenantId);
          if (!tenant) {
            send({ type: "failed", id, error: `lane has no tenant ${tenantId}` });
            return;
          }
          inFlight++;
          registry
            .run(tenant, hook, { value: JSON.parse(inputJson) as Record<string, unknown>, json: inputJson }, requestId, { budgetMs, cancellation }, { chain: id, ...(decided ? { decided } : {}) })
            .then(
              (result) => send({ type: "result", id, result, alive: registry.sandboxesAlive }),
              (e: unknown) => send({ type: "failed", id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
            )
            .finally(() => {
              if (--inFlight === 0 && stopping) void stop();
            });
          return;
        }
        case "serve":
          registry.apply(message.result);
          return;
        case "remove":
          registry.remove(message.dir);
          return;
        case "stopTrial":
          registry.stopTrial(message.trial.dir, message.trial.state);
          return;
        case "read": {
          const { id, query } = message;
          readRuns(registry.runs, query).then(
            (answer) => send({ type: "answer", id, answer }),
            (e: unknown) => send({ type: "unanswered", id, error: String(e) }),
          );
          return;
        }
        case "config":
          config = message.config;
          tenants = new Tenants(config);
          registry.resetInstances();
          return;
        case "disable":
          registry.recordFault(message.plugin, message.tenant, message.reason, true);
          return;
        case "callAsync":
          registry.callAsync(message.plugin, message.tenant, message.reason);
          return;
        case "probe": {
          const { id, code, memoryMb } = message;
          void probePlugin(code, memoryMb, (reason) => send({ type: "fault", plugin: code.name, reason })).then((problem) => send({ type: "probed", id, problem }));
          return;
        }
        case "stop":
          if (stopping) return;
          stopping = true;
          if (inFlight === 0) void stop();
          return;
      }
    },
  };
}

let running: Running | undefined;
process.on("message", (wire: FrontMessage | FrontMessage[]) =>
  unbatch(wire, (message) => {
    if (message.type === "init") running ??= start(message);
    else running?.handle(message);
  }),
);
// The front is gone (it exited, or was killed): nobody is left to answer.
process.on("disconnect", () => process.exit(0));
send({ type: "hello" });
