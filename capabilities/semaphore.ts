// A counting semaphore shared fairly between owners (tenants): each owner waits in a queue of its
// own, and a free slot goes to the next owner in turn (round robin), so one owner's pile of
// requests never delays another's by more than a turn. An owner holds at most `perOwner` slots at
// once, so part of the host is always left for the others. Waiters give up at a deadline or on
// abort, so a caller with a time limit never waits for a slot it could no longer use.

/** Gives the slot back; call it exactly once. */
export type Release = () => void;

interface Waiter {
  grant(): void;
}

export class FairSemaphore {
  readonly #limit: number;
  readonly #perOwner: number;
  #active = 0;
  readonly #held = new Map<string, number>();
  /** Owners with waiters, in the order they are served; an owner served moves to the back. */
  readonly #queues = new Map<string, Waiter[]>();

  constructor(limit: number, perOwner: number) {
    for (const [name, value] of [["limit", limit], ["perOwner", perOwner]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`semaphore ${name} must be a positive integer, got ${value}`);
    }
    this.#limit = limit;
    this.#perOwner = perOwner;
  }

  /**
   * Resolves with a release function once `owner` is granted a slot, or with null if `until`
   * (epoch ms) passes or `signal` aborts first; a caller that gives up leaves the queue at once.
   */
  acquire(owner: string, until: number, signal: AbortSignal): Promise<Release | null> {
    if (signal.aborted || Date.now() >= until) return Promise.resolve(null);
    return new Promise((resolve) => {
      const stopWaiting = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", giveUp);
      };
      const giveUp = () => {
        stopWaiting();
        const queue = this.#queues.get(owner)!;
        queue.splice(queue.indexOf(waiter), 1);
        if (queue.length === 0) this.#queues.delete(owner);
        resolve(null);
      };
      const waiter: Waiter = {
        grant: () => {
          stopWaiting();
          resolve(this.#releaser(owner));
        },
      };
      const timer = setTimeout(giveUp, until - Date.now());
      signal.addEventListener("abort", giveUp, { once: true });
      const queue = this.#queues.get(owner);
      if (queue) queue.push(waiter);
      else this.#queues.set(owner, [waiter]);
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#active < this.#limit) {
      let next: string | undefined;
      for (const owner of this.#queues.keys()) {
        if ((this.#held.get(owner) ?? 0) < this.#perOwner) {
          next = owner;
          break;
        }
      }
      if (next === undefined) return;
      const queue = this.#queues.get(next)!;
      const waiter = queue.shift()!;
      this.#queues.delete(next);
      if (queue.length > 0) this.#queues.set(next, queue);
      this.#active++;
      this.#held.set(next, (this.#held.get(next) ?? 0) + 1);
      waiter.grant();
    }
  }

  #releaser(owner: string): Release {
    return () => {
      this.#active--;
      const held = this.#held.get(owner)! - 1;
      if (held === 0) this.#held.delete(owner);
      else this.#held.set(owner, held);
      this.#dispatch();
    };
  }
}
