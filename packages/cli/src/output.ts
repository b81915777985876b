import type { ItemInfo } from "@borgstore/core";

/** Where results go: plain lines for people, JSON for scripts. Errors and progress use stderr. */
export interface Output {
  readonly json: boolean;
  line(text: string): void;
  value(value: unknown): void;
}

export function createOutput(json: boolean, stream: NodeJS.WritableStream = process.stdout): Output {
  return {
    json,
    line: (text) => void stream.write(`${text}\n`),
    value: (value) => void stream.write(`${JSON.stringify(value, null, json ? 2 : undefined)}\n`),
  };
}

export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatAtime(atime: number): string {
  return atime > 0 ? new Date(atime * 1000).toISOString().replace(/\.\d+Z$/, "Z") : "-";
}

/** `ls -l` line: size, access time, name (directories end with "/"). */
/**
 * `name` with control characters shown as \xNN: names come from the server, and one holding a
 * terminal escape or a newline must neither drive the user's terminal nor look like two entries.
 */
export function printableName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is escaped
  return name.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function longLine(item: ItemInfo, fullName: string): string {
  const size = item.directory ? "-" : String(item.size);
  return `${size.padStart(12)}  ${formatAtime(item.atime).padEnd(20)}  ${fullName}${item.directory ? "/" : ""}`;
}
