// A FIFO counting semaphore whose waiters give up at a deadline or on abort, so a caller with
// a time limit never waits for a slot it could no longer use.

/** Gives the slot back; call it exactly once. */
export type Release = () => void;

interface Waiter {
  grant(): void;
}

export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #queue: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`semaphore limit must be a positive integer, got ${limit}`);
    }
    this.#limit = limit;
  }

  /**
   * Resolves with a release function once a slot is free, or with null if `until` (epoch ms)
   * passes or `signal` aborts first; a caller that gives up leaves the queue at once.
   */
  acquire(until: number, signal: AbortSignal): Promise<Release | null> {
    if (signal.aborted || Date.now() >= until) return Promise.resolve(null);
    if (this.#active < this.#limit && this.#queue.length === 0) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve) => {
      const stopWaiting = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", giveUp);
      };
      const giveUp = () => {
        stopWaiting();
        this.#queue.splice(this.#queue.indexOf(waiter), 1);
        resolve(null);
      };
      const waiter: Waiter = {
        grant: () => {
          stopWaiting();
          this.#active++;
          resolve(this.#releaser());
        },
      };
      const timer = setTimeout(giveUp, until - Date.now());
      signal.addEventListener("abort", giveUp, { once: true });
      this.#queue.push(waiter);
    });
  }

  #releaser(): Release {
    return () => {
      this.#active--;
      this.#queue.shift()?.grant();
    };
  }
}
