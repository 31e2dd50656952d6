/**
 * What one side of a lane's IPC channel sends in a turn of the event loop, sent together at its
 * end as one message (an array): one write, and one wake-up of the other process, for all the
 * requests or answers of the turn instead of one each. Under load a turn carries several; alone,
 * a message waits only for the end of its turn. Every message goes through it, so order is kept.
 */
export class Outbox<M extends object> {
  private queue: M[] = [];
  private scheduled = false;

  constructor(private readonly write: (wire: M | M[], done?: () => void) => void) {}

  post(message: M): void {
    this.queue.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Sends what is queued now; `done` once it is written. */
  flush(done?: () => void): void {
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) done?.();
    else this.write(queue.length === 1 ? queue[0] : queue, done);
  }
}

/** Each message of what arrived: a batch, or one alone. */
export function unbatch<M extends object>(wire: M | M[], each: (message: M) => void): void {
  if (Array.isArray(wire)) for (const message of wire) each(message);
  else each(wire);
}
