// Generated data batch by batch (src/data/generated.ts and its three generators): batch k is
// a pure function of (seed, k, B) — the same from a fresh source as after any other batches
// were made, in any order (fast-check over k); random and synthetic samples are addressed one
// by one, so a batch is also the matching slice of the same samples made at once; streams
// and seeds are apart; a batch's arrays are sized by the batch, whatever the step (no array
// sized by the steps of a run).

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { GeneratedSource, sampleRng, STREAM } from "../../src/data/generated.ts";
import { randomLayout, randomSamples, type RandomSpec } from "../../src/data/random.ts";
import { TraceGenerator } from "../../src/data/trace.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { SyntheticTeacher, syntheticData, syntheticLayout } from "../../src/dlrm/synthetic.ts";
import { tempDir } from "../helpers/cli.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const SPEC: RandomSpec = {
  denseFeatures: 3,
  tableSizes: [5, 40, 1000],
  numIndicesPerLookup: 4,
  numIndicesPerLookupFixed: false,
  perSampleWeights: true,
  seed: 11,
};

const CONFIG = parseConfig(
  {
    dense_features: 3,
    bottom_mlp: [3, 8, 4],
    embedding_dim: 4,
    table_sizes: [7, 30, 200],
    top_mlp: [10, 8, 1],
    bag_size: [1, 3],
    per_sample_weights: false,
    batch_size: 16,
  },
  "test config",
);

/** Every array of a dataset, named, for bit-for-bit comparison. */
function arrays(d: Dataset): Record<string, number[]> {
  const out: Record<string, number[]> = { dense: [...d.dense], labels: [...d.labels] };
  d.sparse.forEach((f, t) => {
    out[`lengths${t}`] = [...f.lengths];
    out[`offsets${t}`] = [...f.offsets];
    out[`indices${t}`] = [...f.indices];
    if (f.weights !== null) out[`weights${t}`] = [...f.weights];
  });
  return out;
}

function assertSame(a: Dataset, b: Dataset, what: string): void {
  assert.is(a.n, b.n, `${what}: samples`);
  assert.equal(arrays(a), arrays(b), what);
}

/** The three generators as endless sources of one seed. */
function sources(profile: string): Record<string, () => GeneratedSource> {
  return {
    random: () => new GeneratedSource(randomLayout(SPEC), (first, n) => randomSamples(SPEC, STREAM.train, first, n)),
    synthetic: () => {
      const teacher = new SyntheticTeacher(CONFIG, 11);
      return new GeneratedSource(syntheticLayout(CONFIG), (first, n) => teacher.samples(STREAM.train, first, n).data);
    },
    trace: () => {
      const g = new TraceGenerator({ ...SPEC, profile }, nodeDataFiles);
      return new GeneratedSource(g.layout, (first, n) => g.samples(STREAM.train, first, n));
    },
  };
}

function withProfile(run: (profile: string) => void): void {
  const t = tempDir();
  try {
    const profile = join(t.dir, "p.log");
    writeFileSync(profile, "3, 1, 4, 0, 5, 9, 2, 6\n0, 1, 2, 5\n0.3, 0.6, 0.8, 1.0\n");
    run(profile);
  } finally {
    t.cleanup();
  }
}

test("batch k is the same from a fresh source as after other batches, in any order (fast-check over k)", () => {
  withProfile((profile) => {
    for (const [name, make] of Object.entries(sources(profile))) {
      const fresh = make();
      const used = make();
      fc.assert(
        fc.property(
          fc.array(fc.nat({ max: 1e9 }), { maxLength: 4 }),
          fc.nat({ max: 1e9 }),
          fc.integer({ min: 1, max: 9 }),
          (before, k, B) => {
            for (const j of before) used.batchNow(j, B); // whatever came first
            assertSame(used.batchNow(k, B), fresh.batchNow(k, B), `${name}: batch ${k} of ${B}`);
          },
        ),
        { numRuns: name === "synthetic" ? 30 : 60 },
      );
    }
  });
});

test("random and synthetic batches are slices of the same samples made at once", () => {
  const teacher = new SyntheticTeacher(CONFIG, 11);
  const random = new GeneratedSource(randomLayout(SPEC), (first, n) => randomSamples(SPEC, STREAM.train, first, n));
  const synthetic = new GeneratedSource(
    syntheticLayout(CONFIG),
    (first, n) => teacher.samples(STREAM.train, first, n).data,
  );
  const allRandom = randomSamples(SPEC, STREAM.train, 0, 60);
  const allSynthetic = syntheticData(CONFIG, { sizes: [60], seed: 11 }).splits[0] as Dataset;
  for (const k of [0, 1, 4, 5]) {
    assertSame(random.batchNow(k, 10), sliceDataset(allRandom, 10 * k, 10 * k + 10), `random batch ${k}`);
    assertSame(synthetic.batchNow(k, 10), sliceDataset(allSynthetic, 10 * k, 10 * k + 10), `synthetic batch ${k}`);
  }
});

test("a batch's arrays are sized by the batch, whatever the step", () => {
  withProfile((profile) => {
    for (const [name, make] of Object.entries(sources(profile))) {
      const source = make();
      const b = source.batchNow(3e12, 4); // sample 1.2e13: far past 2^32 samples
      assert.is(b.n, 4, name);
      assert.is(b.dense.length, 12, name);
      assert.is(b.labels.length, 4, name);
      b.sparse.forEach((f, t) => {
        assert.is(f.lengths.length, 4, name);
        const longest = source.bags.longest[t] as number;
        assert.ok(
          f.lengths.every((l) => l <= longest),
          `${name}: table ${t}'s bags within the longest the source states (${longest})`,
        );
        assert.is(f.weights !== null, source.bags.weighted[t], `${name}: table ${t} weighted as stated`);
      });
      assert.throws(() => make().batchNow(2 ** 52, 4), /past 2\^53 samples/, name);
      assert.throws(() => make().batchNow(-1, 4), /step must be a non-negative integer/, name);
      assert.throws(() => make().batchNow(0, 0), /batch size must be a positive integer/, name);
    }
  });
});

test("seeds, streams and samples have generators of their own; samples past 2^32 too", () => {
  const first = (seed: number, stream: number, i: number): number => sampleRng(seed, stream, i).nextU32();
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(first(1, 0, i));
  assert.ok(seen.size >= 1999, `2000 samples' first draws: ${seen.size} distinct`);
  assert.is.not(first(1, 0, 7), first(2, 0, 7), "seed");
  assert.is.not(first(1, 0, 7), first(1, 1, 7), "stream");
  assert.is.not(first(1, 0, 7), first(1, 0, 7 + 2 ** 32), "high word of the sample index");
  const train = randomSamples(SPEC, STREAM.train, 0, 50);
  const held = randomSamples(SPEC, STREAM.eval, 0, 50);
  assert.is.not(train.dense[0], held.dense[0], "the evaluation stream is not the training stream");
});

test("synthetic labels follow the teacher: the teacher's AUC on a batch is well above chance", () => {
  const teacher = new SyntheticTeacher(CONFIG, 11);
  const { splits, teacherAuc } = syntheticData(CONFIG, { sizes: [4000, 2000], seed: 11 });
  assert.ok((teacherAuc[0] as number) > 0.75 && (teacherAuc[1] as number) > 0.75, `teacher AUC ${teacherAuc}`);
  const rate = (d: Dataset): number => d.labels.reduce((a, y) => a + y, 0) / d.n;
  // Standardised logits around the calibration mean: neither label dominates.
  for (const d of splits) assert.ok(rate(d) > 0.3 && rate(d) < 0.7, `positive rate ${rate(d)}`);
  assertSame(teacher.samples(STREAM.eval, 0, 2000).data, splits[1] as Dataset, "split 1 is the evaluation stream");
});

test.run();
