import { createInterface } from "node:readline/promises";
import { redactUrl } from "@borgstore/core";

/**
 * On a terminal, asks before `destroy` deletes a whole store (as restic and rclone ask before
 * irreversible work); only "yes" goes ahead. Without a terminal (scripts, cron) nobody can answer:
 * the command runs as asked, as it always did.
 */
export async function confirmDestroy(url: string, input = process.stdin, output = process.stderr): Promise<boolean> {
  if (!input.isTTY || !output.isTTY) return true;
  const rl = createInterface({ input, output });
  try {
    const answer = await rl.question(`Destroy the store at ${redactUrl(url)} and everything in it? Type "yes" to go on: `);
    return answer.trim().toLowerCase() === "yes";
  } catch {
    return false; // Ctrl-D (end of input) is no answer, so no.
  } finally {
    rl.close();
  }
}
