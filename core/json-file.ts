import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** Larger than any host config or call record: a file past it is refused, not read into memory. */
export const MAX_JSON_FILE_BYTES = 16 * 1024 * 1024;

/** A JSON file's value; a file that cannot be read or parsed is reported as one problem through `fail`. */
export function readJsonFile(file: string, fail: (problems: string[]) => Error): unknown {
  let text: string;
  try {
    text = readRegularFile(file);
  } catch (e) {
    throw fail([`cannot be read: ${(e as Error).message}`]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail([`is not JSON: ${(e as Error).message}`]);
  }
}

/**
 * The text of a regular file (links followed: a config is often one). Opened without waiting, so a
 * FIFO in its place is refused instead of blocking the host for good; read to a bound.
 */
export function readRegularFile(file: string, maxBytes = MAX_JSON_FILE_BYTES): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error("not a regular file");
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, length);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      length += n;
      if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
