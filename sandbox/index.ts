// The host's one door into isolated-vm: nothing outside sandbox/ imports it.
export {
  Sandbox,
  LOG_LEVELS,
  MAX_RESULT_CHARS,
  MAX_QUEUED,
  MAX_CALLS_IN_FLIGHT,
  MAX_CAPABILITY_ARGS_CHARS,
  MAX_LOG_CHARS,
  MAX_LOG_FIELDS_CHARS,
  MAX_ERROR_CHARS,
  MAX_CANCEL_REASON_CHARS,
  disabledReason,
  fatalReason,
  fatalRunError,
  timeoutRunError,
} from "./sandbox.js";
export type { PluginCode, SandboxOptions, RunRequest, RunOutcome, RunMeta, LogLevel, MemoryReading, SyncWatch } from "./sandbox.js";
export type { Capability, CapabilityCall } from "./capability.js";
