import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { type RunningServer, SERVER_CLI, freePort, startServerProcess } from "./server-process.mjs";

export { type RunningServer, SERVER_CLI, freePort, startHosting } from "./server-process.mjs";

/** Starts `borgstore-server-rest` on a free loopback port with the given extra flags (quiet: warnings only). */
export async function startServer(args: readonly string[]): Promise<RunningServer> {
  const port = await freePort();
  return startServerProcess(port, ["--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", ...args]);
}

/**
 * Puts a directory with a `borgstore-server-rest` wrapper (running our CLI) first on PATH, as an
 * installed package would, so `rest:///path` URLs find it. Returns the directory.
 */
export function putServerOnPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "borgstore-rest-bin-"));
  const wrapper = join(dir, "borgstore-server-rest");
  writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${SERVER_CLI}" "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ""}`;
  return dir;
}
