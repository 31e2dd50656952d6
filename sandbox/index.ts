// The host's one door into isolated-vm: nothing outside sandbox/ imports it.
export { Sandbox, MAX_RESULT_CHARS, MAX_QUEUED } from "./sandbox.js";
export type { PluginCode, SandboxOptions, RunRequest, RunOutcome, RunMeta, LogLevel, MemoryReading } from "./sandbox.js";
export type { Capability, CapabilityCall } from "./capabilities/types.js";
