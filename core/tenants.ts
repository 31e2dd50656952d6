import { hash, timingSafeEqual } from "node:crypto";
import type { HostConfig, TenantConfig } from "./config.js";

export interface Tenant {
  id: string;
  /** SHA-256 of the token; undefined for a token-less tenant */
  tokenDigest?: Buffer;
  recordsDir?: string;
  /** the stock mp3 conversion of process_record_file_path */
  convertRecords: boolean;
  connectorVersion: string;
  config: TenantConfig["config"];
}

// one-shot: a third of createHash's cost, and it runs on every request
const sha256 = (text: string): Buffer => hash("sha256", text, "buffer");
// Compared against when the tenant is unknown, so that answer takes as long as a wrong token.
const DECOY = sha256("hookhost-decoy");

export class Tenants {
  private readonly byId: Map<string, Tenant>;
  private readonly adminDigest?: Buffer;
  /** every token's SHA-256 in hex: what must never be written to a log */
  private readonly secrets: Set<string>;

  constructor(config: HostConfig) {
    this.byId = new Map(
      Object.entries(config.tenants).map(([id, t]) => [
        id,
        { id, tokenDigest: t.token ? sha256(t.token) : t.tokenSha256 ? Buffer.from(t.tokenSha256, "hex") : undefined, recordsDir: t.recordsDir, convertRecords: t.convertRecords, connectorVersion: t.connectorVersion, config: t.config },
      ]),
    );
    this.adminDigest = config.adminToken ? sha256(config.adminToken) : undefined;
    this.secrets = new Set([...this.byId.values()].flatMap((t) => (t.tokenDigest ? [t.tokenDigest.toString("hex")] : [])));
    if (this.adminDigest) this.secrets.add(this.adminDigest.toString("hex"));
  }

  /** Whether `text` is a tenant's or the admin token (sent where no token belongs, it must not be echoed or logged). */
  isToken(text: string): boolean {
    return this.secrets.size > 0 && this.secrets.has(sha256(text).toString("hex"));
  }

  get ids(): string[] {
    return [...this.byId.keys()];
  }

  get(id: string): Tenant | undefined {
    return this.byId.get(id);
  }

  /** The tenant when the Authorization header opens it; undefined for every kind of failure alike. */
  authenticate(id: string, authorization: string | undefined): Tenant | undefined {
    const tenant = this.byId.get(id);
    const presented = sha256(bearer(authorization) ?? "");
    if (!tenant) {
      timingSafeEqual(presented, DECOY);
      return undefined;
    }
    if (!tenant.tokenDigest) return tenant;
    return timingSafeEqual(presented, tenant.tokenDigest) && bearer(authorization) !== undefined ? tenant : undefined;
  }

  /** Whether the header carries the admin token (false when none is configured). */
  isAdmin(authorization: string | undefined): boolean {
    const token = bearer(authorization);
    if (!this.adminDigest || token === undefined) return false;
    return timingSafeEqual(sha256(token), this.adminDigest);
  }
}

function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
  return match?.[1];
}
