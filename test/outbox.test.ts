import assert from "node:assert/strict";
import { setImmediate as turn } from "node:timers/promises";
import { Outbox, unbatch } from "../core/lanes/outbox.js";

type Message = { n: number };

function recording() {
  const writes: (Message | Message[])[] = [];
  const outbox = new Outbox<Message>((wire, done) => {
    writes.push(wire);
    done?.();
  });
  return { writes, outbox };
}

describe("lane outbox", () => {
  it("sends the messages of one turn of the event loop in one write, in order, at the turn's end", async () => {
    const { writes, outbox } = recording();
    for (let n = 1; n <= 5; n++) outbox.post({ n });
    assert.deepEqual(writes, [], "nothing is written during the turn");
    await turn();
    assert.deepEqual(writes, [[{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]]);
  });

  it("sends a message alone as itself, and each turn's messages in a write of their own", async () => {
    const { writes, outbox } = recording();
    outbox.post({ n: 1 });
    await turn();
    outbox.post({ n: 2 });
    outbox.post({ n: 3 });
    await turn();
    await turn();
    assert.deepEqual(writes, [{ n: 1 }, [{ n: 2 }, { n: 3 }]]);
  });

  it("flush() writes what is queued at once, and says when it is written; with nothing queued it only says so", async () => {
    const { writes, outbox } = recording();
    outbox.post({ n: 1 });
    outbox.post({ n: 2 });
    let written = 0;
    outbox.flush(() => written++);
    assert.deepEqual(writes, [[{ n: 1 }, { n: 2 }]]);
    outbox.flush(() => written++);
    assert.equal(written, 2);
    await turn();
    assert.equal(writes.length, 1, "the turn's end finds nothing left to write");
  });

  it("unbatch gives each message of a batch in order, and a lone message as it is", () => {
    const seen: number[] = [];
    unbatch<Message>([{ n: 1 }, { n: 2 }], (m) => seen.push(m.n));
    unbatch<Message>({ n: 3 }, (m) => seen.push(m.n));
    assert.deepEqual(seen, [1, 2, 3]);
  });
});
