import assert from "node:assert/strict";
import { MAX_JSON_DEPTH } from "../core/front/request-body.js";
import { fixture, pluginsDir, startTestHost, type TestHost } from "./support.js";

// A body nested deeper than the host's stack answered 500 internal (issue 11, deep JSON): every
// shape of deep nesting is refused with 400 bad_json naming the limit, before anything recurses.

const TOO_DEEP = /^body nests arrays and objects deeper than the limit of 64 levels$/;

/** `depth` levels: the outermost is the object the hook input must be. */
function nested(depth: number, shape: "array" | "object" | "mixed"): string {
  let inner = "1";
  for (let level = depth - 1; level >= 1; level--) {
    const array = shape === "array" || (shape === "mixed" && level % 2 === 0);
    inner = array ? `[${inner}]` : `{"k":${inner}}`;
  }
  return `{"deep":${inner}}`;
}

/** A valid need_registration input with `depth` levels in all (the input object is level 1). */
function inputWithDeepValue(depth: number, shape: "array" | "object" | "mixed"): string {
  const base = JSON.stringify(fixture("need_registration"));
  return `${base.slice(0, -1)},"extra":${nested(depth - 1, shape)}}`;
}

describe("deeply nested JSON bodies", () => {
  let host: TestHost;
  before(async () => {
    host = await startTestHost(
      pluginsDir({
        "depth/plugin.json": {},
        // Measures the nesting the script was given, so the test sees the value arrived whole.
        "depth/need_registration.js": `
          const depth = (v) => (v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0);
          export default (input) => ({ result: depth(input) === ${MAX_JSON_DEPTH} });
        `,
      }),
      // 400,000 levels of objects take about 2.4 MB.
      { tenants: { default: {} }, bodyLimitKb: 4096 },
    );
  });
  after(() => host.close());

  it("the limit is 64 levels", () => {
    assert.equal(MAX_JSON_DEPTH, 64);
  });

  for (const shape of ["array", "object", "mixed"] as const) {
    for (const depth of [65, 100, 10_000, 400_000]) {
      it(`refuses ${depth} levels of ${shape} nesting with 400 bad_json`, async () => {
        const answer = await host.post("default", "need_registration", nested(depth, shape));
        assert.equal(answer.status, 400);
        assert.deepEqual(answer.body.error.code, "bad_json");
        assert.match(answer.body.error.message, TOO_DEEP);
      });
    }

    it(`refuses a valid hook input with a ${shape} value one level too deep`, async () => {
      const answer = await host.post("default", "need_registration", inputWithDeepValue(MAX_JSON_DEPTH + 1, shape));
      assert.equal(answer.status, 400);
      assert.match(answer.body.error.message, TOO_DEEP);
    });

    it(`serves a valid hook input with a ${shape} value exactly at the limit, handing it to the script whole`, async () => {
      const answer = await host.post("default", "need_registration", inputWithDeepValue(MAX_JSON_DEPTH, shape));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.data, { result: true });
    });
  }

  it("400,000 levels inside an otherwise valid hook input is 400, not 500", async () => {
    for (const shape of ["array", "object", "mixed"] as const) {
      const answer = await host.post("default", "need_registration", inputWithDeepValue(400_000, shape));
      assert.equal(answer.status, 400, shape);
      assert.match(answer.body.error.message, TOO_DEEP);
    }
  });

  it("brackets inside strings, escaped quotes included, do not count as nesting", async () => {
    const input = fixture("need_registration");
    for (const text of ["[".repeat(1000), "{".repeat(1000), `\\"${"[".repeat(1000)}`, `"[{`.repeat(500), "\\".repeat(999) + "[[["]) {
      const answer = await host.post("default", "need_registration", { ...input, note: text });
      assert.equal(answer.status, 200, text.slice(0, 20));
    }
  });

  it("a string ending in escaped backslashes ends there: the nesting after it counts", async () => {
    for (const ending of ["\\", "\\\\", '\\"x\\']) {
      const body = `{"s":${JSON.stringify(`text${ending}`)},"deep":${nested(MAX_JSON_DEPTH + 1, "array").slice(8, -1)}}`;
      assert.doesNotThrow(() => JSON.parse(body));
      const answer = await host.post("default", "need_registration", body);
      assert.equal(answer.status, 400, body.slice(0, 40));
      assert.match(answer.body.error.message, TOO_DEEP);
    }
  });

  it("deep nesting that is not valid JSON either is still a 400 bad_json", async () => {
    for (const body of ["[".repeat(100_000), `{"a":${"[".repeat(100_000)}`, `{"a":"${"[".repeat(100)}`]) {
      const answer = await host.post("default", "need_registration", body);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error.code, "bad_json");
    }
  });

  it("the host keeps serving after deep bodies", async () => {
    await host.post("default", "need_registration", nested(400_000, "mixed"));
    const answer = await host.post("default", "need_registration", fixture("need_registration"));
    assert.equal(answer.status, 200);
  });
});
