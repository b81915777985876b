import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built `borgstore` binary as a user would, optionally feeding stdin. */
export function runCli(args: string[], options: { input?: Uint8Array; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, BORGSTORE_URL: "", BORGSTORE_REPO: "", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      cwd: options.cwd,
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}
