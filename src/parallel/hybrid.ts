// Hybrid-parallel training of DLRM on N rank worker threads (docs/parallelism.md): the
// embedding tables are distributed over the ranks by a sharding plan (model parallel), the
// MLPs are replicated and each rank runs them on its slice of every batch (data parallel).
// The per-rank step lives in rank.ts; this file is the main thread's side:
//
//   - plan the shards, lay out shared memory (collectives, batch staging, control words),
//     start the ranks through worker-threads-pool and hand them their initial parameters;
//   - per step: while the ranks run a step, load the next batch into the other staging slot
//     and issue it (its learning rate and a step command), so that the ranks go on to it
//     without waiting for this thread; then collect the per-rank losses of the step;
//   - watch the ranks: a rank that exits, throws, or stops making progress ends the run
//     with an error naming the rank, the step and the phase; every thread is then stopped;
//   - at the end (and for each intermediate evaluation) copy the trained parameters back
//     into the main thread's model, so that saving and evaluating work as after train().
//
// trainHybrid takes the options of train() (src/train/trainer.ts) plus the worker count,
// and visits the same batches in the same order (the same shuffle from the same seed).
//
// Glossary: N ranks, r a rank, B batch size, Bmax the largest batch, E embedding dim,
// P MLP parameters (all of bot_l and top_l, as one vector), S steps.

import { batchesPerEpoch, evaluate, TrainError, type EvalRecord, type TrainOptions, type TrainResult } from "../train/trainer.ts";
import type { DLRM } from "../dlrm/model.ts";
import { Adagrad } from "../optim/adagrad.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { RowWiseAdagrad } from "../optim/rowwise_adagrad.ts";
import { SGD } from "../optim/sgd.ts";
import { Rng } from "../tensor/rng.ts";
import { abortAll, abortedBy, createCommBuffers, type CommBuffers } from "./collectives.ts";
import { lookupsPerSampleOf, shardingPlan, type ShardingPlan } from "./plan.ts";
import {
  ARG_SLOT,
  ARG_STEP,
  CMD_EXPORT,
  CMD_STEP,
  CMD_STOP,
  COMMAND,
  commandEntry,
  controlWords,
  lrWord,
  numberWords,
  PHASES,
  RES_BAD_INDEX,
  RES_BAD_VALUE,
  RES_CPU,
  RES_LOSS,
  RES_TIMES,
  resultBase,
  SEQ,
  STEP_PHASES,
  statusHeartbeat,
  statusPhase,
  statusStep,
  type Fault,
  type OptimizerSpec,
  type ParamBlock,
  type RankInit,
  type RankMessage,
  type StepPhase,
} from "./protocol.ts";
import { siblingModule, startWorkers, type WorkerGroup } from "./spawn.ts";
import { slotViews, stageBatch, stagingLayout } from "./staging.ts";

export interface HybridOptions extends TrainOptions {
  /** N: rank worker threads (1 runs the same machinery with one rank). */
  workers: number;
  /** Longest wait of a rank for a peer, and longest time without progress, in ms (default 60 s). */
  timeoutMs?: number;
  /** Longest wait for the ranks to start (default 120 s). */
  startTimeoutMs?: number;
  /** The sharding plan (default: shardingPlan over the data's lookups per sample). */
  plan?: ShardingPlan | null;
  /** Bytes of tables one rank may hold, for the default plan (default 4 GiB). */
  maxBytesPerRank?: number;
  /** For tests of the failure path only: make one rank fail on purpose. */
  fault?: Fault | null;
  /** After each step: its time per phase (ms, averaged over the ranks) and each rank thread's CPU time in it (ms; NaN where unknown). */
  onStepStats?: (step: number, stats: StepStats) => void;
}

export interface StepStats {
  phaseMs: Record<StepPhase, number>;
  rankCpuMs: number[];
}

export interface HybridResult extends TrainResult {
  plan: ShardingPlan;
  /** Milliseconds spent in each phase, summed over the steps, averaged over the ranks. */
  phaseMs: Record<StepPhase, number>;
  /** Wall-clock milliseconds of the training steps (from the first step command to the last result). */
  trainMs: number;
}

/** A failed hybrid run: the rank at fault (when known), the step and the phase it was in. */
export class ParallelError extends Error {
  readonly rank: number | null;
  readonly step: number | null;
  readonly phase: string | null;
  constructor(message: string, where: { rank?: number | null; step?: number | null; phase?: string | null } = {}) {
    super(message);
    this.name = "ParallelError";
    this.rank = where.rank ?? null;
    this.step = where.step ?? null;
    this.phase = where.phase ?? null;
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_START_TIMEOUT_MS = 120_000;
/** After a rank reports that it was aborted by another rank, how long to wait for that rank's own report. */
const CAUSE_GRACE_MS = 2_000;

export async function trainHybrid(o: HybridOptions): Promise<HybridResult> {
  const N = o.workers;
  if (!Number.isInteger(N) || N < 1) throw new ParallelError(`trainHybrid: workers must be a positive integer, got ${N}`);
  const { model, data } = o;
  if (data.n === 0) throw new TrainError("the training data has no samples");
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new ParallelError(`trainHybrid: batchSize must be a positive integer, got ${o.batchSize}`);
  const config = model.config;
  if (data.sparse.length !== config.table_sizes.length) {
    throw new ParallelError(`trainHybrid: the data has ${data.sparse.length} sparse features but the model has ${config.table_sizes.length} tables`);
  }
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const optimizer = optimizerSpec(o.optimizer, model);
  const plan =
    o.plan ??
    shardingPlan({
      ranks: N,
      embeddingDim: config.embedding_dim,
      tableSizes: config.table_sizes,
      lookupsPerSample: lookupsPerSampleOf(data),
      ...(o.maxBytesPerRank !== undefined ? { maxBytesPerRank: o.maxBytesPerRank } : {}),
    });
  checkPlan(plan, N, model);

  // Shared memory: two staging slots, the collectives, the control words.
  const E = config.embedding_dim;
  const Bmax = Math.min(o.batchSize, data.n);
  const layout = stagingLayout(data, Bmax);
  const slots = [new SharedArrayBuffer(layout.bytes), new SharedArrayBuffer(layout.bytes)];
  const views = slots.map((s) => slotViews(layout, s));
  const mlpParams = model.namedParameters().filter(([name]) => !name.startsWith("emb_l."));
  const P = mlpParams.reduce((a, [, p]) => a + p.size, 0);
  const shardsOf = plan.perRank.map((rp) => rp.shards.length);
  const totalShards = shardsOf.reduce((a, b) => a + b, 0);
  const capacity = Math.max(Bmax * Math.max(...shardsOf) * E, Math.ceil(Bmax / N) * totalShards * E, P);
  const comm = createCommBuffers(N, capacity);
  const control = new SharedArrayBuffer(4 * controlWords(N));
  const numbers = new SharedArrayBuffer(8 * numberWords(N));
  const ctl = new Int32Array(control);
  const num = new Float64Array(numbers);

  const init = (r: number): RankInit => ({
    rank: r,
    ranks: N,
    config,
    plan,
    optimizer,
    comm,
    control,
    numbers,
    staging: { layout, slots },
    timeoutMs,
    fault: o.fault ?? null,
  });
  const group = await startWorkers(N, siblingModule("worker", import.meta.url), init);
  const ranks = new RankWatch(group, comm, ctl, model, timeoutMs);

  /** Issue a command; returns its seq. At most two may be outstanding (protocol.ts). */
  const command = (cmd: number, step = 0, slot = 0): number => {
    const seq = Atomics.load(ctl, SEQ) + 1;
    const entry = commandEntry(seq);
    Atomics.store(ctl, entry + ARG_STEP, step);
    Atomics.store(ctl, entry + ARG_SLOT, slot);
    Atomics.store(ctl, entry + COMMAND, cmd);
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    return seq;
  };
  const exportParams = async (): Promise<void> => {
    const seq = command(CMD_EXPORT);
    await ranks.waitAll("params", seq, timeoutMs);
  };

  let failed = true;
  const losses: number[] = [];
  let last: EvalRecord | null = null;
  const phaseMs = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
  let trainMs = 0;
  let evalMs = 0;
  try {
    // Initial parameters: the MLPs to everyone, each shard to its owner.
    const named = new Map(model.namedParameters());
    group.workers.forEach((w, r) => {
      const blocks: ParamBlock[] = mlpParams.map(([name, p]) => ({ name, rowStart: 0, data: Float32Array.from(p.data) }));
      for (const s of plan.perRank[r]?.shards ?? []) {
        const name = `emb_l.${s.table}.weight`;
        const p = named.get(name);
        if (p === undefined) throw new ParallelError(`trainHybrid: the model has no parameter ${name}`);
        blocks.push({ name, rowStart: s.rowStart, data: Float32Array.from(p.data.subarray(s.rowStart * E, s.rowEnd * E)) });
      }
      w.postMessage({ params: blocks }, blocks.map((b) => b.data.buffer as ArrayBuffer));
    });
    await ranks.waitAll("ready", 0, o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);

    // The batches: the same order as train() (same generator, reshuffled at each epoch start).
    const B = o.batchSize;
    const perEpoch = batchesPerEpoch(data.n, B);
    const rng = new Rng(o.seed);
    let order: Int32Array | null = null;
    const batchSizes: number[] = [];
    const lrs: number[] = [];
    const seqs: number[] = [];
    /**
     * Stage step's batch into its slot and issue the step: the ranks run it as soon as they
     * finish the one before, without waiting for this thread. Its slot's previous step must
     * be done. The schedule moves on here, at issue time, so the next step's lr is known.
     */
    const issue = (step: number): void => {
      const slot = step % 2;
      const k = step % perEpoch;
      const start = k * B;
      const end = Math.min(data.n, start + B);
      if (o.shuffle && (k === 0 || order === null)) order = rng.shuffle(Int32Array.from({ length: data.n }, (_, i) => i));
      stageBatch(views[slot] as ReturnType<typeof slotViews>, data, o.shuffle ? (order as Int32Array).subarray(start, end) : null, start, end - start);
      batchSizes[slot] = end - start;
      const lr = o.optimizer.lr;
      lrs[slot] = lr;
      num[lrWord(slot)] = lr;
      o.scheduler?.step();
      seqs[slot] = command(CMD_STEP, step, slot);
    };

    const testFreq = o.testFreq ?? 0;
    let samples = 0;
    const t0 = performance.now();
    if (o.steps > 0) issue(0);
    for (let step = 0; step < o.steps; step++) {
      const slot = step % 2;
      const isLast = step === o.steps - 1;
      const evalData = !isLast && testFreq > 0 && (step + 1) % testFreq === 0 ? (o.evalData ?? null) : null;
      const evalAfter = evalData !== null;
      // The next step goes in now (its batch loads while this one computes), unless the
      // parameters must be exported for an evaluation after this step first.
      if (!isLast && !evalAfter) issue(step + 1);
      await ranks.waitAll("done", seqs[slot] as number, timeoutMs);

      const Bs = batchSizes[slot] as number;
      const lr = lrs[slot] as number;
      let lossSum = 0;
      const stepMs = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
      const rankCpuMs: number[] = [];
      for (let r = 0; r < N; r++) {
        const base = resultBase(r, slot);
        const bad = num[base + RES_BAD_INDEX] as number;
        if (bad >= 0) {
          throw new TrainError(`step ${step}: prediction ${bad} of the batch is ${num[base + RES_BAD_VALUE]}; stopping (the parameters diverged: lower the learning rate, or check the data)`);
        }
        lossSum += num[base + RES_LOSS] as number;
        STEP_PHASES.forEach((p, k) => (stepMs[p] += (num[base + RES_TIMES + k] as number) / N));
        rankCpuMs.push(num[base + RES_CPU] as number);
      }
      for (const p of STEP_PHASES) phaseMs[p] += stepMs[p];
      o.onStepStats?.(step, { phaseMs: stepMs, rankCpuMs });
      const value = Math.fround(lossSum / Bs);
      if (!Number.isFinite(value)) throw new TrainError(`step ${step}: the loss is ${value}; stopping (the parameters diverged: lower the learning rate, or check the data)`);
      samples += Bs;
      losses.push(value);
      o.onStep?.({ step, loss: value, lr, samples });
      o.progress?.update({ step: step + 1, totalSteps: o.steps, samples, loss: value });
      if (evalData !== null) {
        const e0 = performance.now();
        await exportParams();
        const e: EvalRecord = { step: step + 1, ...evaluate(model, evalData, Math.max(B, 4096)) };
        o.onEval?.(e);
        last = e;
        evalMs += performance.now() - e0;
        issue(step + 1);
      }
    }
    trainMs = performance.now() - t0 - evalMs;
    await exportParams();
    command(CMD_STOP);
    failed = false;
  } finally {
    ranks.stopping = true;
    if (failed) {
      abortAll(comm);
      command(CMD_STOP);
    }
    const left = await group.stop(5_000);
    ranks.detach();
    if (left.length > 0 && !failed) throw new ParallelError(`trainHybrid: rank${left.length > 1 ? "s" : ""} ${left.join(", ")} did not stop`);
  }
  o.progress?.done();
  if (o.evalData) {
    last = { step: o.steps, ...evaluate(model, o.evalData, Math.max(o.batchSize, 4096)) };
    o.onEval?.(last);
  }
  return { losses, eval: last, plan, phaseMs, trainMs };
}

/** Watches the rank threads: routes their messages, and turns an exit, crash or stall into one ParallelError. */
class RankWatch {
  stopping = false;
  readonly #group: WorkerGroup;
  readonly #comm: CommBuffers;
  readonly #ctl: Int32Array;
  readonly #params: Map<string, { shape: readonly number[]; data: Float32Array | Float64Array; size: number }>;
  readonly #timeoutMs: number;
  #failure: ParallelError | null = null;
  #graceTimer: NodeJS.Timeout | null = null;
  #waiter: { kind: string; seq: number; left: Set<number>; resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Reports that came before their waitAll: "kind:seq" → the ranks that sent one. */
  readonly #arrived = new Map<string, Set<number>>();
  readonly #listeners: (() => void)[] = [];

  constructor(group: WorkerGroup, comm: CommBuffers, ctl: Int32Array, model: DLRM, timeoutMs: number) {
    this.#group = group;
    this.#comm = comm;
    this.#ctl = ctl;
    this.#params = new Map(model.namedParameters());
    this.#timeoutMs = timeoutMs;
    group.workers.forEach((w, r) => {
      const onMessage = (m: RankMessage): void => this.#onMessage(r, m);
      const onError = (e: Error): void => this.#fail(new ParallelError(`rank ${r} crashed ${this.#where(r)}: ${e.message}`, this.#at(r)));
      const onExit = (code: number): void => {
        if (!this.stopping) this.#fail(new ParallelError(`rank ${r} exited with code ${code} ${this.#where(r)}`, this.#at(r)));
      };
      w.on("message", onMessage);
      w.on("error", onError);
      w.on("exit", onExit);
      this.#listeners.push(() => {
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
      });
    });
  }

  detach(): void {
    for (const off of this.#listeners) off();
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
  }

  /**
   * Resolves when every rank has sent `kind` (for command seq), rejects on the first failure,
   * or when no rank has made progress for timeoutMs (longer than a rank's own wait for a
   * peer, so that a rank stuck in a collective reports first, naming the peer).
   */
  waitAll(kind: "ready" | "done" | "params", seq: number, timeoutMs: number): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const N = this.#group.workers.length;
    const key = arrivalKey(kind, seq);
    const arrived = this.#arrived.get(key) ?? new Set<number>();
    if (arrived.size === N) {
      this.#arrived.delete(key); // every rank reported before anyone waited (a step issued early)
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let lastBeat = this.#heartbeats();
      let lastProgress = performance.now();
      const limit = kind === "ready" ? timeoutMs : 1.5 * timeoutMs + 1_000;
      const watchdog = setInterval(() => {
        const beat = this.#heartbeats();
        const now = performance.now();
        if (beat !== lastBeat && kind !== "ready") {
          lastBeat = beat;
          lastProgress = now;
        } else if (now - lastProgress > limit) {
          const waiting = [...(this.#waiter?.left ?? [])];
          const where = waiting.map((r) => `rank ${r} ${this.#where(r)}`).join("; ");
          const what = kind === "ready" ? `did not start within ${timeoutMs} ms` : `made no progress for ${Math.round(limit)} ms`;
          this.#fail(new ParallelError(`${where} ${what}`, waiting.length === 1 ? this.#at(waiting[0] as number) : {}));
        }
      }, Math.max(10, Math.min(1_000, timeoutMs / 4)));
      const finish = (err: Error | null): void => {
        clearInterval(watchdog);
        this.#waiter = null;
        this.#arrived.delete(key);
        if (err === null) resolve();
        else reject(err);
      };
      this.#waiter = {
        kind,
        seq,
        left: new Set(Array.from({ length: N }, (_, r) => r).filter((r) => !arrived.has(r))),
        resolve: () => finish(null),
        reject: (e) => finish(e),
      };
    });
  }

  #onMessage(r: number, m: RankMessage): void {
    if (m.type === "error") {
      this.#onRankError(r, m);
      return;
    }
    if (m.type === "params") {
      try {
        this.#apply(m.blocks);
      } catch (e) {
        this.#fail(e instanceof ParallelError ? e : new ParallelError(String(e)));
        return;
      }
    }
    const seq = m.type === "ready" ? 0 : m.seq;
    const w = this.#waiter;
    if (w !== null && w.kind === m.type && w.seq === seq) {
      w.left.delete(r);
      if (w.left.size === 0) w.resolve();
      return;
    }
    // Nobody waits for this yet (the main thread is still busy with the step before): keep it.
    const key = arrivalKey(m.type, seq);
    const arrived = this.#arrived.get(key) ?? new Set<number>();
    arrived.add(r);
    this.#arrived.set(key, arrived);
  }

  #onRankError(r: number, m: Extract<RankMessage, { type: "error" }>): void {
    const at = { rank: r, step: m.step, phase: m.phase };
    const c = m.collective;
    if (c?.reason === "timeout" && c.peer !== null) {
      // r waited in vain for peer: the peer is the one at fault.
      const p = c.peer;
      this.#fail(new ParallelError(`rank ${p} stopped responding ${this.#where(p)}; ${m.message}`, this.#at(p)));
      return;
    }
    if (c?.reason === "aborted") {
      // An echo of another rank's failure: wait briefly for that rank's own report.
      const by = abortedBy(this.#comm);
      if (by === -1 || this.#graceTimer !== null) return;
      this.#graceTimer = setTimeout(() => {
        this.#fail(new ParallelError(`rank ${by ?? "?"} failed without a report; ${m.message}`, by === null ? {} : this.#at(by)));
      }, CAUSE_GRACE_MS);
      return;
    }
    const step = m.step >= 0 ? `in step ${m.step}, phase "${m.phase}"` : "while starting";
    this.#fail(new ParallelError(`rank ${r} failed ${step}: ${m.message}`, at));
  }

  #fail(e: ParallelError): void {
    if (this.#failure !== null || this.stopping) return;
    this.#failure = e;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    abortAll(this.#comm); // wake every rank still waiting in a collective
    this.#waiter?.reject(e);
  }

  /** Copy exported blocks into the main thread's model. */
  #apply(blocks: readonly ParamBlock[]): void {
    for (const b of blocks) {
      const p = this.#params.get(b.name);
      if (p === undefined) throw new ParallelError(`trainHybrid: a rank exported ${b.name}, which the model does not have`);
      const rowLen = p.shape.length > 1 ? p.size / (p.shape[0] as number) : 1;
      const at = b.rowStart * rowLen;
      if (at + b.data.length > p.size) throw new ParallelError(`trainHybrid: rows of ${b.name} from ${b.rowStart} overrun its ${p.shape[0]} rows`);
      p.data.set(b.data, at);
    }
  }

  #heartbeats(): number {
    let s = 0;
    for (let r = 0; r < this.#group.workers.length; r++) s += Atomics.load(this.#ctl, statusHeartbeat(r));
    return s;
  }

  #at(r: number): { rank: number; step: number | null; phase: string } {
    const step = Atomics.load(this.#ctl, statusStep(r));
    return { rank: r, step: step >= 0 ? step : null, phase: PHASES[Atomics.load(this.#ctl, statusPhase(r))] ?? "?" };
  }

  #where(r: number): string {
    const { step, phase } = this.#at(r);
    return step === null || phase === "starting" ? "while starting" : `in step ${step}, phase "${phase}"`;
  }
}

function arrivalKey(kind: string, seq: number): string {
  return `${kind}:${seq}`;
}

/** What a rank needs to rebuild the optimizer: its kind and hyperparameters. */
function optimizerSpec(opt: Optimizer, model: DLRM): OptimizerSpec {
  const own = new Set(model.parameters());
  if (opt.params.length !== own.size || !opt.params.every((p) => own.has(p))) {
    throw new ParallelError("trainHybrid: the optimizer must cover exactly the model's parameters (each rank rebuilds it for its share)");
  }
  const hasState = (state: (i: number) => unknown): boolean => opt.params.some((_, i) => state(i) !== null);
  if (opt instanceof SGD) return { kind: "sgd", lr: opt.lr };
  if (opt instanceof Adagrad) {
    if (hasState((i) => opt.state(i))) throw new ParallelError("trainHybrid: the Adagrad optimizer has already taken steps; the ranks start their state from zero");
    // Each rank rebuilds the optimizer over its own parameters (MLP replicas, table shards):
    // the weight decay travels by parameter name.
    const names = new Map(model.namedParameters().map(([name, p]) => [p, name]));
    const weightDecay: Record<string, number> = {};
    opt.params.forEach((p, i) => {
      const wd = opt.weightDecay[i] as number;
      if (wd > 0) weightDecay[names.get(p) as string] = wd;
    });
    return { kind: "adagrad", lr: opt.lr, eps: opt.eps, initialAccumulator: opt.initialAccumulator, weightDecay };
  }
  if (opt instanceof RowWiseAdagrad) {
    if (hasState((i) => opt.state(i))) throw new ParallelError("trainHybrid: the RowWiseAdagrad optimizer has already taken steps; the ranks start their state from zero");
    return { kind: "rowwise-adagrad", lr: opt.lr, eps: opt.eps };
  }
  throw new ParallelError(`trainHybrid: optimizer ${opt.constructor.name} is not supported (SGD, Adagrad, RowWiseAdagrad)`);
}

function checkPlan(plan: ShardingPlan, N: number, model: DLRM): void {
  const c = model.config;
  if (plan.ranks !== N) throw new ParallelError(`trainHybrid: the sharding plan is for ${plan.ranks} ranks, not ${N}`);
  if (plan.embeddingDim !== c.embedding_dim) throw new ParallelError(`trainHybrid: the sharding plan has dim ${plan.embeddingDim}, the model ${c.embedding_dim}`);
  if (plan.tables.length !== c.table_sizes.length || plan.tables.some((t, i) => t.rows !== c.table_sizes[i])) {
    throw new ParallelError("trainHybrid: the sharding plan's tables do not match the model's table sizes");
  }
}
