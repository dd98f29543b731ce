// Runs benny suites whose cases do a known amount of work per call (flops or bytes) and
// reports each as a rate (GFLOP/s or GB/s), mean and best, and as a percent of the
// matching in-process ceiling.
//   mean  benny's (benchmark.js) mean over its samples
//   best  the fastest call (or batch of calls, for calls under 50 µs), timed after benny's
//         run in rounds alternating with the ceiling's probe: the machine is shared and its
//         clock moves with the load, the fastest call is the least disturbed one, and timing
//         case and ceiling side by side makes the percent compare like with like.

import b from "benny";

export type Unit = "GFLOP/s" | "GB/s";

export interface BenchCase {
  name: string;
  /** One call of the measured work. */
  fn: () => void;
  /** Flops (GFLOP/s) or bytes (GB/s) per call. */
  work: number;
  unit: Unit;
  /** The ceiling in the same unit, measured alongside the case. */
  ceiling: Probe;
  /** Extra fields for the JSON (shape, kernel set, …). */
  meta?: Record<string, string | number>;
}

/** One call of a ceiling kernel with known work (flops or bytes). */
export interface Probe {
  name: string;
  fn: () => void;
  work: number;
}

export interface BenchRow {
  suite: string;
  name: string;
  unit: Unit;
  mean: number;
  best: number;
  ceiling: string;
  /** The ceiling's rate, timed alongside this case. */
  ceilingRate: number;
  pctOfCeiling: number;
  samples: number;
  meta: Record<string, string | number>;
}

export interface SuiteOptions {
  /** Seconds per case (benchmark.js maxTime). */
  maxTime: number;
  minSamples: number;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/**
 * The fastest call of fn and of probe, timed in alternating rounds of about 20 ms each (and
 * at least 3 timings) for `seconds` (at least 5 rounds, at most 5 s). Rounds rather than
 * single calls: a triad over 384 MB between two gathers would evict the gathers' table and
 * time a cold cache. Calls under 50 µs are timed in batches. Seconds per call.
 */
export function fastestPair(
  fn: () => void,
  fnSeconds: number,
  probe: () => void,
  seconds: number,
): { fn: number; probe: number } {
  const t0 = performance.now();
  probe();
  const probeSeconds = (performance.now() - t0) / 1000;
  const round = (f: () => void, perCall: number): number => {
    const batch = Math.max(1, Math.ceil(50e-6 / Math.max(perCall, 1e-7)));
    let best = Infinity;
    let timings = 0;
    const start = performance.now();
    let t = start;
    do {
      const s0 = performance.now();
      for (let i = 0; i < batch; i++) f();
      t = performance.now();
      best = Math.min(best, (t - s0) / 1000 / batch);
      timings++;
    } while (t - start < 20 || timings < 3);
    return best;
  };
  let bestFn = Infinity;
  let bestProbe = Infinity;
  let rounds = 0;
  const start = performance.now();
  let t = start;
  do {
    bestFn = Math.min(bestFn, round(fn, fnSeconds));
    bestProbe = Math.min(bestProbe, round(probe, probeSeconds));
    rounds++;
    t = performance.now();
  } while ((t - start < seconds * 1000 || rounds < 5) && t - start < 5000);
  return { fn: bestFn, probe: bestProbe };
}

/**
 * Seconds of the fastest call of fn (batches of calls when one is under 50 µs), over
 * `seconds`, extended to at least 30 timings but no more than 3 s.
 */
export function fastestCall(fn: () => void, meanSeconds: number, seconds: number): number {
  const batch = Math.max(1, Math.ceil(50e-6 / meanSeconds));
  let best = Infinity;
  const start = performance.now();
  let timings = 0;
  let t = start;
  do {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    t = performance.now();
    best = Math.min(best, (t - t0) / 1000 / batch);
    timings++;
  } while ((t - start < seconds * 1000 || timings < 30) && t - start < 3000);
  return best;
}

/** Run the cases as one benny suite; print a line per case; return the rows. */
export async function runSuite(suite: string, cases: BenchCase[], opts: SuiteOptions): Promise<BenchRow[]> {
  for (const c of cases) for (let i = 0; i < 5; i++) c.fn(); // warm-up: TurboFan code before timing
  const rows: BenchRow[] = [];
  const byName = new Map(cases.map((c) => [c.name, c]));
  console.log(`\n${suite}`);
  await b.suite(
    suite,
    ...cases.map((c) => b.add(c.name, c.fn, { maxTime: opts.maxTime, minSamples: opts.minSamples, minTime: 0.05 })),
    b.cycle((result) => {
      const c = byName.get(result.name);
      if (c === undefined) return;
      const mean = (result.ops * c.work) / 1e9; // GFLOP/s or GB/s
      const pair = fastestPair(c.fn, 1 / result.ops, c.ceiling.fn, opts.maxTime);
      const best = c.work / pair.fn / 1e9;
      const ceilingRate = c.ceiling.work / pair.probe / 1e9;
      const row: BenchRow = {
        suite,
        name: c.name,
        unit: c.unit,
        mean: round(mean),
        best: round(best),
        ceiling: c.ceiling.name,
        ceilingRate: round(ceilingRate),
        pctOfCeiling: round((100 * best) / ceilingRate, 1),
        samples: result.samples,
        meta: c.meta ?? {},
      };
      rows.push(row);
      console.log(
        `  ${c.name.padEnd(46)} ${row.mean.toFixed(2).padStart(8)} mean ${row.best.toFixed(2).padStart(8)} best ${c.unit.padEnd(7)} ` +
          `${row.pctOfCeiling.toFixed(1).padStart(6)} % of ${c.ceiling.name} (${row.ceilingRate.toFixed(1)})`,
      );
      return "";
    }),
    b.complete(() => ""),
  );
  return rows;
}
