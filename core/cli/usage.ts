/** A mistake in how the command was called or in what it was given: reported plainly, exit code 1. */
export class UsageError extends Error {
  /** `showUsage`: the arguments themselves are wrong, so the usage text follows the message */
  constructor(message: string, readonly showUsage = false) {
    super(message);
    this.name = "UsageError";
  }
}
