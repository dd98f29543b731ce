// IdMap against a plain Map: ids in order of first insertion, get of unseen values -1,
// over values across the whole uint32 range (0, 2^31 and 2^32 - 1 among them) and through
// several rehashes.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { IdMap } from "../../src/data/id_map.ts";

const rawArb = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.constantFrom(0, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);

test("IdMap numbers values as a Map in insertion order does", () => {
  fc.assert(
    fc.property(fc.array(rawArb, { maxLength: 300 }), fc.array(rawArb, { maxLength: 50 }), (adds, gets) => {
      const m = new IdMap(1);
      const want = new Map<number, number>();
      for (const raw of adds) {
        if (!want.has(raw)) want.set(raw, want.size);
        assert.is(m.add(raw), want.get(raw));
      }
      assert.is(m.size, want.size);
      assert.equal(Array.from(m.rawValues()), [...want.keys()]);
      for (const raw of [...adds, ...gets]) assert.is(m.get(raw), want.get(raw) ?? -1);
    }),
    { seed: 5, numRuns: 300 },
  );
});

test.run();
