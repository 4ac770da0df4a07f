/** A mistake in the command line: the CLI prints the message in one line and exits with 2. */
export class UsageError extends Error {
  readonly code = "USAGE";

  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The run was interrupted by a signal; nothing was written under a final name. */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterruptedError";
  }
}

export const EXIT_RUNTIME_ERROR = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, the shell convention for a run stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;
