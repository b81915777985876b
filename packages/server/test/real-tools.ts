import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Our `borgstore` CLI (packages/cli), built. */
export const BORGSTORE_CLI = fileURLToPath(new URL("../../cli/dist/cli.js", import.meta.url));

/**
 * The first of `candidates` (an env override, then Debian's path) that answers `versionArgs`; when
 * none does, warns `SKIP: <what>` and returns undefined, or throws under CI=true, where a real
 * server the tests need must be there (scripts/install-test-servers.sh installs them).
 */
export function findRealTool(candidates: (string | undefined)[], versionArgs: string[], what: string): string | undefined {
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, versionArgs, { stdio: "ignore" });
      return candidate;
    } catch {}
  }
  const message = `SKIP: ${what}`;
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  console.warn(message);
  return undefined;
}

/** Runs our CLI with `args`, `input` on its stdin; its exit status and stderr. */
export function runBorgstoreCli(args: string[], input: string | Uint8Array = ""): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BORGSTORE_CLI, ...args], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stderr }));
    child.stdin.end(input);
  });
}
