/**
 * The command was called wrongly: an unknown command or option, a missing or extra argument, an
 * unknown hook or tenant. Exit code 2, and the command's usage follows the message.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command was given cannot be used: an input that is not JSON, a file it cannot read, a call record that does not validate. Exit code 1. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}
