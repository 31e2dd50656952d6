// Lists of extensions as integrators write them in plugin.json: single extensions ("201", or 201)
// and ranges ("555-559"), so a whole department fits in one entry.

export interface ExtensionList {
  /** No entries: a white list that is empty lets every extension through. */
  readonly empty: boolean;
  /** True when the extension is one of the list's entries or inside one of its ranges. */
  has(extension: string): boolean;
}

interface Range {
  from: number;
  to: number;
  /** Digits of both ends: "0555" is not inside "555-559", it is another extension. */
  digits: number;
}

const ENTRY = /^(\d+)(?:\s*-\s*(\d+))?$/;

/** Parses a configured list of extensions and ranges; `where` names the setting in errors. */
export function parseExtensionList(value: unknown, where: string): ExtensionList {
  if (value === undefined) return { empty: true, has: () => false };
  if (!Array.isArray(value)) throw new Error(`${where} must be a list like ["201", "555-559"], got ${JSON.stringify(value)}`);
  const ranges = value.map((entry: unknown, i) => parseEntry(entry, `${where}[${i}]`));
  return {
    empty: ranges.length === 0,
    has(extension) {
      if (!/^\d+$/.test(extension)) return false;
      const n = Number(extension);
      return ranges.some((r) => extension.length === r.digits && n >= r.from && n <= r.to);
    },
  };
}

function parseEntry(entry: unknown, where: string): Range {
  const text = typeof entry === "number" ? String(entry) : entry;
  const match = typeof text === "string" ? ENTRY.exec(text.trim()) : null;
  if (!match) throw new Error(`${where}: ${JSON.stringify(entry)} is not an extension or a range like "555-559"`);
  const first = match[1]!;
  const last = match[2] ?? first;
  if (first.length !== last.length) throw new Error(`${where}: both ends of "${text}" must have the same number of digits`);
  if (Number(first) > Number(last)) throw new Error(`${where}: "${text}" runs backwards; write the lower extension first`);
  return { from: Number(first), to: Number(last), digits: first.length };
}

/** Parses a list of trunk numbers as the connector names them (call_full.channel.trunk.number). */
export function parseTrunks(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((t): t is string => typeof t === "string" && t !== "")) {
    throw new Error(`${where} must be a list of trunk numbers like ["78123097700"], got ${JSON.stringify(value)}`);
  }
  return value;
}
