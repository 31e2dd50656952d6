import { dirname, resolve } from "node:path";
import type { HostConfig } from "./config.js";
import { readRegularFile } from "./json-file.js";

/** A token is a line of text; a file much larger than that is not a token file. */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The token files a config names (`tenants.<id>.tokenFile`, `adminTokenFile`), as absolute paths:
 * relative ones are read from the config file's folder. Kubernetes Secrets and systemd credentials
 * arrive as such files, so tokens need not sit in a ConfigMap beside the rest of the config.
 */
export function tokenFiles(config: HostConfig, configFile: string): string[] {
  const named = [config.adminTokenFile, ...Object.values(config.tenants).map((t) => t.tokenFile)];
  return named.filter((f): f is string => f !== undefined).map((f) => resolve(dirname(configFile), f));
}

/** The config with every token file read into the token it stands for; each unreadable file is one problem. */
export function readTokenFiles(config: HostConfig, configFile: string): { config: HostConfig; problems: string[] } {
  const problems: string[] = [];
  const read = (where: string, file: string): string | undefined => {
    const path = resolve(dirname(configFile), file);
    try {
      const token = readRegularFile(path, MAX_TOKEN_FILE_BYTES).trim();
      if (!token) throw new Error("it is empty");
      if (/[\s\p{Cc}]/u.test(token)) throw new Error("a token is one line with no spaces or control characters");
      return token;
    } catch (e) {
      problems.push(`${where}: ${path} cannot be used: ${(e as Error).message}`);
      return undefined;
    }
  };
  const tenants = Object.fromEntries(
    Object.entries(config.tenants).map(([id, t]) => [id, t.tokenFile === undefined ? t : { ...t, token: read(`tenants.${id}.tokenFile`, t.tokenFile) }]),
  );
  const adminToken = config.adminTokenFile === undefined ? config.adminToken : read("adminTokenFile", config.adminTokenFile);
  return { config: { ...config, tenants, adminToken }, problems };
}
