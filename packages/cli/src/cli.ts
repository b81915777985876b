#!/usr/bin/env node
import { CommanderError } from "commander";
import { GENERIC_EXIT_CODE, USAGE_EXIT_CODE, exitCodeFor } from "./exit-codes.js";
import { watchInterrupts } from "./interrupts.js";
import { errorLine } from "./error-line.js";
import { buildProgram, splitUrl } from "./program.js";

/** Commands that stop and clean up when their signal fires; the others die at Ctrl-C as before. */
const CANCELLABLE = new Set(["put", "get", "ls"]);

const interrupts = watchInterrupts();
try {
  const { url, rest } = splitUrl(process.argv.slice(2), process.env);
  const program = buildProgram(url, { signal: interrupts.signal });
  program.hook("preAction", (_program, action) => {
    if (CANCELLABLE.has(action.name())) interrupts.arm();
  });
  await program.parseAsync(rest, { from: "user" });
} catch (err) {
  if (interrupts.stdoutClosed) {
    process.exitCode = 0;
  } else if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
  } else {
    process.stderr.write(`${errorLine(err)}\n`);
    process.exitCode = interrupts.exitCode ?? (exitCodeFor(err) || GENERIC_EXIT_CODE);
  }
}
// An interrupted read of stdin (put -) would keep the process alive; everything is cleaned up by now.
if (interrupts.by || interrupts.stdoutClosed) process.exit();
