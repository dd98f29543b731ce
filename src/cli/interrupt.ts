// Ctrl-C (SIGINT) or SIGTERM during `dlrm train`: the first signal asks the training loop to stop after the steps
// in flight, so that the run can still be saved (marked interrupted, resumable with
// --resume); a second one quits at once, as a user pressing Ctrl-C twice means.

export interface Interruption {
  /** Whether a first SIGINT has arrived. */
  readonly requested: boolean;
  /** Stop listening (restores the default handling of SIGINT). */
  dispose(): void;
}

/** Listen for SIGINT and SIGTERM; `message` is printed at the first one. */
export function onInterrupt(stderr: { write(s: string): unknown }, message: string): Interruption {
  let requested = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (requested) {
      stderr.write(`dlrm train: ${signal} again: quitting now\n`);
      process.exit(130);
    }
    requested = true;
    stderr.write(`\ndlrm train: interrupted (${signal}): ${message} (Ctrl-C again to quit now)\n`);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    get requested() {
      return requested;
    },
    dispose: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}
