import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  accuracy,
  auc,
  binaryEntropy,
  calibration,
  computeMetrics,
  correctPredictions,
  logloss,
  normalizedEntropy,
} from "../../src/metrics/metrics.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";

// O(P·Q) reference: the fraction of (positive, negative) pairs ordered right, ties ½.
function pairwiseAuc(pred: number[], labels: number[]): number {
  let credit = 0;
  let pairs = 0;
  for (let i = 0; i < pred.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < pred.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      const a = pred[i] as number;
      const b = pred[j] as number;
      credit += a > b ? 1 : a === b ? 0.5 : 0;
    }
  }
  return pairs === 0 ? Number.NaN : credit / pairs;
}

test("logloss by hand: hard and soft labels", () => {
  // −(ln 0.9 + ln 0.8 + ln 0.4)/3 = (0.1053605 + 0.2231436 + 0.9162907)/3 = 0.4149316; float64 sums, 1e-12
  assertClose([logloss([0.9, 0.2, 0.6], [1, 0, 0])], [0.41493159961539], { atol: 1e-12, rtol: 0 });
  // soft label 0.3 with p = 0.6: −(0.3·ln 0.6 + 0.7·ln 0.4) = 0.15324769 + 0.64140351
  assertClose([logloss(Float32Array.from([0.5]), [1]), logloss([0.6], [0.3])], [Math.LN2, 0.7946512], {
    atol: 1e-7,
    rtol: 0,
  });
});

test("logloss clips predictions to [2⁻²³, 1 − 2⁻²³] by default (float32's epsilon), or to a given eps", () => {
  // a certain miss costs −ln(2⁻²³) = 23·ln 2 = 15.9423852; a certain hit −ln(1 − 2⁻²³) ≈ 1.19e-7
  assertClose([logloss([1], [0]), logloss([0], [1])], [15.942385152878742, 15.942385152878742], {
    atol: 1e-9,
    rtol: 0,
  });
  assertClose([logloss([0, 1], [0, 1])], [1.1920929e-7], { atol: 1e-13, rtol: 0 });
  assertClose([logloss([1], [0], 1e-6)], [13.815510557964274], { atol: 1e-9, rtol: 0 }); // −ln(1e-6)
  assert.is(logloss([0, 1], [0, 1], 0), 0, "with eps 0, exact hits cost nothing (no 0·log 0 = NaN)");
  assert.ok(Number.isNaN(logloss([], [])), "NaN for no samples");
});

test("accuracy is round(p) == y: p = 0.5 counts as 0 (np.round rounds half to even); a threshold can be given", () => {
  const p = [0.2, 0.5, 0.51, 0.9, 0.7];
  const y = [0, 0, 1, 0, 1];
  assert.is(accuracy(p, y), 0.8); // classes 0 0 1 1 1: 4 of 5 right
  assert.is(accuracy([0.5], [1]), 0);
  assert.is(accuracy(p, y, 0.8), 0.4); // classes 0 0 0 1 0: 2 of 5 right
});

test("correctPredictions (a training step's count): accuracy's rule without its checks; a soft or real-valued label is never right", () => {
  assert.is(correctPredictions([0.2, 0.5, 0.51, 0.9, 0.7], [0, 0, 1, 0, 1]), 4); // classes 0 0 1 1 1
  assert.is(correctPredictions(new Float32Array([0.9, 0.1, 0.8]), new Float32Array([0.5, 0.3, 1])), 1);
  assert.is(correctPredictions([0.2, 3], [0, 2]), 1, "an mse run's label 2 is never a hit");
  assert.is(correctPredictions([0.6, 0.7], [1, 0], 0.65), 0); // classes 0 1
  assert.is(correctPredictions([], []), 0);
});

test("auc by hand: sklearn's example, a tie example, perfect / inverted / constant predictions", () => {
  assert.is(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75); // 3 of 4 pairs ordered right
  assert.is(auc([0.5, 0.5, 0.5, 0.9], [0, 1, 1, 0]), 0.25); // each positive ties one negative (½) and loses to 0.9
  assert.is(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
  assert.is(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
  assert.is(auc(new Float32Array(6).fill(0.3), [0, 1, 0, 1, 1, 0]), 0.5);
});

test("auc is NaN when only one class is present (undefined), and for no samples", () => {
  assert.ok(Number.isNaN(auc([0.1, 0.9], [1, 1])));
  assert.ok(Number.isNaN(auc([0.1, 0.9], [0, 0])));
  assert.ok(Number.isNaN(auc([], [])));
});

test("auc equals the O(n²) pairwise count with many ties; invariant under monotone maps; auc(−p) = 1 − auc(p)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()), { minLength: 1, maxLength: 80 }),
      (rows) => {
        const pred = rows.map(([k]) => k / 5); // six levels: ties are common
        const labels = rows.map(([, b]) => (b ? 1 : 0));
        const expected = pairwiseAuc(pred, labels);
        const got = auc(pred, labels);
        if (Number.isNaN(expected)) return assert.ok(Number.isNaN(got));
        // both are k/(2·P·Q) for an integer k; float64 division, 1e-12
        assertClose([got], [expected], { atol: 1e-12, rtol: 0 });
        assertClose(
          [
            auc(
              pred.map((p) => Math.log(p + 0.01) * 7 - 3),
              labels,
            ),
          ],
          [expected],
          { atol: 1e-12, rtol: 0 },
        );
        assertClose(
          [
            auc(
              pred.map((p) => -p),
              labels,
            ),
          ],
          [1 - expected],
          { atol: 1e-12, rtol: 0 },
        );
      },
    ),
    { seed: 401, numRuns: 100 },
  );
});

test("metrics reject mismatched lengths, non-binary labels, NaN and out-of-range predictions", () => {
  assertThrows(
    () => auc([0.1, 0.2, 0.3], [0, 1]),
    /^auc: pred and labels differ in length — pred is \(3,\), labels is \(2,\)/,
  );
  assertThrows(() => auc([0.1, 0.2], [0, 2]), /^auc: label at position 1 is 2; labels must be 0 or 1/);
  assertThrows(() => auc([0.1, Number.NaN], [0, 1]), /^auc: prediction at position 1 is NaN/);
  assertThrows(
    () => accuracy([0.1, 1.5], [0, 1]),
    /^accuracy: prediction at position 1 is 1.5; predictions must be probabilities in \[0, 1\]/,
  );
  assertThrows(() => logloss([0.1], [1.2]), /^logloss: label at position 0 is 1.2; labels must be in \[0, 1\]/);
  assertThrows(() => logloss([0.1], [1], 0.5), /^logloss: eps must be in \[0, 0.5\), got 0.5/);
});

test("NE and calibration by hand", () => {
  // base rate 1/2: H = ln 2; logloss −(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8)/4 = 0.4722880; NE = 0.4722880 / 0.6931472
  const p = [0.1, 0.4, 0.35, 0.8];
  const y = [0, 0, 1, 1];
  assertClose([normalizedEntropy(p, y)], [(0.10536052 + 0.51082562 + 1.04982212 + 0.22314355) / 4 / Math.LN2], {
    atol: 1e-7,
    rtol: 0,
  });
  assertClose([calibration(p, y)], [0.4125 / 0.5], { atol: 1e-15, rtol: 0 }); // mean prediction 1.65/4
  // base rate 1/4: H = −(¼ ln ¼ + ¾ ln ¾) = 0.5623351446
  assertClose([binaryEntropy(0.25)], [0.5623351446188083], { atol: 1e-15, rtol: 0 });
  assertClose([calibration([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 0])], [2], { atol: 1e-15, rtol: 0 });
});

test("NE and calibration are NaN (undefined) when the base rate is 0 or 1, and for no samples", () => {
  // base rate 0 or 1: the set's entropy is 0, so NE would be x/0
  assert.ok(Number.isNaN(normalizedEntropy([0.1, 0.2], [0, 0])));
  assert.ok(Number.isNaN(normalizedEntropy([0.9, 0.8], [1, 1])));
  assert.ok(Number.isNaN(normalizedEntropy([], [])));
  // no positives: mean prediction / 0
  assert.ok(Number.isNaN(calibration([0.1, 0.2], [0, 0])));
  assert.ok(Number.isNaN(calibration([], [])));
  assert.is(calibration([0.5, 1], [1, 1]), 0.75, "all positives: base rate 1, calibration is defined");
  const m = computeMetrics([0.3, 0.4], [0, 0]);
  assert.ok(Number.isNaN(m.ne) && Number.isNaN(m.calibration) && Number.isNaN(m.auc));
  assert.equal(JSON.parse(JSON.stringify({ ne: m.ne })), { ne: null }, "NaN is null in the JSON lines");
  assertThrows(() => calibration([0.1, 1.5], [0, 1]), /^calibration: prediction at position 1 is 1.5/);
  assertThrows(() => normalizedEntropy([0.1], [0, 1]), /^normalizedEntropy: pred and labels differ in length/);
});

test("NE of the constant predictor at the base rate is 1; NE·H(base rate) = logloss; calibration is linear in the predictions", () => {
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: 2, maxLength: 80 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 80, maxLength: 80 }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      (bits, raw, c) => {
        const labels = bits.map((b) => (b ? 1 : 0));
        const rate = labels.reduce((a: number, b) => a + b, 0) / labels.length;
        const pred = raw.slice(0, labels.length);
        if (rate === 0 || rate === 1) {
          assert.ok(Number.isNaN(normalizedEntropy(pred, labels)));
          return;
        }
        // the constant predictor's logloss is H(rate) exactly up to float64 rounding of the n-term sum
        assertClose([normalizedEntropy(new Array(labels.length).fill(rate), labels)], [1], { atol: 1e-12, rtol: 0 });
        assertClose([normalizedEntropy(pred, labels) * binaryEntropy(rate)], [logloss(pred, labels)], {
          atol: 1e-12,
          rtol: 1e-12,
        });
        const scaled = pred.map((p) => c * p);
        assertClose([calibration(scaled, labels)], [c * calibration(pred, labels)], { atol: 1e-12, rtol: 1e-12 });
        // the perfect predictor's calibration is 1
        assertClose([calibration(labels, labels)], [1], { atol: 1e-15, rtol: 0 });
      },
    ),
    { seed: 402, numRuns: 200 },
  );
});

test("computeMetrics bundles auc, logloss, accuracy, ne, calibration and n", () => {
  const m = computeMetrics(Float32Array.from([0.1, 0.4, 0.35, 0.8]), Float32Array.from([0, 0, 1, 1]));
  assert.is(m.n, 4);
  assert.is(m.auc, 0.75);
  assert.is(m.accuracy, 0.75); // classes 0 0 0 1: the 0.35 positive is missed
  // −(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8)/4 with float32-rounded inputs; 1e-7
  assertClose([m.logloss], [(0.10536052 + 0.51082562 + 1.04982212 + 0.22314355) / 4], { atol: 1e-7, rtol: 0 });
  assertClose([m.ne, m.calibration], [m.logloss / Math.LN2, (0.1 + 0.4 + 0.35 + 0.8) / 4 / 0.5], {
    atol: 1e-7,
    rtol: 0,
  });
});

test.run();
