import { constants } from "node:os";

/**
 * Ctrl-C, SIGTERM and a closed stdout end the running command through one AbortSignal, so the
 * command unwinds and cleans up (temp objects, spools, partial files) instead of dying mid-way.
 * Signals are caught only once `arm()` was called (by commands that honour the signal; the others
 * keep dying at once), and only the first: a second Ctrl-C kills at once, as users expect.
 */
export interface Interrupts {
  readonly signal: AbortSignal;
  /** The process signal that interrupted the command, if one did. */
  readonly by: NodeJS.Signals | undefined;
  /** stdout's reader went away (`borgstore … | head`): the command ends quietly with success, like other Unix tools. */
  readonly stdoutClosed: boolean;
  /** The exit code for an interrupted command: 128 + the signal's number. */
  readonly exitCode: number | undefined;
  /** From now on Ctrl-C and SIGTERM abort the signal instead of killing the process. */
  arm(): void;
}

const CAUGHT: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

export function watchInterrupts(stdout: NodeJS.WriteStream = process.stdout): Interrupts {
  const controller = new AbortController();
  let by: NodeJS.Signals | undefined;
  let stdoutClosed = false;
  const onSignal = (name: NodeJS.Signals) => {
    for (const s of CAUGHT) process.off(s, onSignal);
    by = name;
    controller.abort(new Error(`interrupted by ${name}`));
  };
  stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") stdoutClosed = true;
    controller.abort(err);
  });
  return {
    signal: controller.signal,
    get by() {
      return by;
    },
    get stdoutClosed() {
      return stdoutClosed;
    },
    get exitCode() {
      return by === undefined ? undefined : 128 + constants.signals[by];
    },
    arm() {
      if (by === undefined) for (const s of CAUGHT) process.on(s, onSignal);
    },
  };
}
