// The hybrid-parallel executor of DLRM (docs/parallelism.md): N rank worker threads own the
// model — each its shards of the embedding tables (model parallel) and a replica of the head
// (data parallel on its slice of every batch) —, and this thread only plans, stages batches
// and watches. It is an executor for the one training loop (src/train/trainer.ts), like the
// one-thread LocalExecutor; the per-rank work lives in rank.ts.
//
//   start    plan the shards, lay out shared memory (collectives, two batch batch slots,
//            control words), start the ranks (the host's StartRanks, src/parallel/
//            rank_threads.ts: Node's worker threads through worker-threads-pool by default,
//            or a browser's module Workers, spawn_browser.ts); each rank makes
//            its own parameters (from the seed's streams, or read from a checkpoint) in
//            parallel with the others, and says where its head's arrays are; every rank is
//            then told where the others' are (CMD_PEERS: the head's collectives read them in
//            place, head_sync.ts). This thread never allocates a table.
//   step     stage the batch into a free slot and issue the step; the loop issues step s + 1
//            while s runs (depth 2), so the ranks go from step to step without waiting.
//   predict  batch after batch through the same slots; each rank writes its slice's
//            predictions into the slot.
//   save     the header of the new checkpoint here, every rank's pieces at their offsets:
//            of the file (save), or of its bytes in shared memory (saveBytes, for a page).
//   figures  with the tables in files, what each rank's store did (storeFigures, once at the end).
//   watch    a rank that exits, throws, or stops making progress ends the run with an error
//            naming the rank, the step and the phase; every thread is then stopped.
//
// Glossary: N ranks, r a rank, B batch size, Bmax the largest batch, E embedding dim,
// P head parameters (all of bot_l and top_l, as one vector).

import type { TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkpointImage, checkpointTensors } from "../dlrm/checkpoint_bytes.ts";
import type { CheckpointFormat } from "../dlrm/checkpoint_format.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { SaveDType } from "../io/dtype.ts";
import { parameterSpecs } from "../dlrm/init.ts";
import { isTableParameter } from "../dlrm/tables/layout.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import type { BatchRef, Executor, StepOutcome } from "../train/executor.ts";
import { abortAll, abortedBy, createCommBuffers, type CommBuffers } from "./collectives.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import { lookupsPerSampleOf, modelShardingPlan, type ShardingPlan } from "./plan.ts";
import {
  ARG_SLOT,
  ARG_STEP,
  CMD_PEERS,
  CMD_PREDICT,
  CMD_SAVE,
  CMD_STEP,
  CMD_STOP,
  CMD_STORE_FIGURES,
  COMMAND,
  commandEntry,
  controlWords,
  lrWord,
  numberWords,
  PHASES,
  readStoreFigures,
  RES_BAD_INDEX,
  RES_BAD_VALUE,
  RES_CORRECT,
  RES_CPU,
  RES_LOSS,
  RES_TIMES,
  resultBase,
  SEQ,
  SLOTS,
  STEP_PHASES,
  statusDone,
  statusHeartbeat,
  statusPhase,
  statusStep,
  type Fault,
  type HeadArrays,
  type RankInit,
  type RankMessage,
  type SaveRequest,
  type StepPhase,
  type StoreFigures,
} from "./protocol.ts";
import type { RankGroup, StartRanks } from "./rank_threads.ts";
import { slotViews, writeAheadIds, writeBatchSlot, batchSlotLayout, type SlotViews } from "./batch_slots.ts";

export interface HybridOptions {
  config: DLRMConfig;
  /** N: rank worker threads (1 runs the same machinery with one rank). */
  workers: number;
  optimizer: OptimizerSpec;
  /** The initial parameters: the model of a seed, or a checkpoint (withOptimizer: its optimizer state too, to resume). */
  source: RankInit["source"];
  /** Every dataset that will be staged (training and evaluation data): the batch slots fit their longest bags. */
  datasets: readonly Dataset[];
  /** The largest batch that will be staged (training or prediction). */
  maxBatch: number;
  /** Longest wait of a rank for a peer, and longest time without progress, in ms (default 60 s). */
  timeoutMs?: number;
  /** Longest wait for the ranks to start, parameters made (default 600 s: big tables from disk). */
  startTimeoutMs?: number;
  /** The sharding plan (default: shardingPlan over the first dataset's lookups per sample). */
  plan?: ShardingPlan | null;
  /** Bytes of tables one rank may hold, for the default plan (default: no limit, a rank has as many memories as it needs). */
  maxBytesPerRank?: number;
  /** Keep the tables in files (src/dlrm/store/), each rank its own, the cache bytes shared equally; default: in the ranks' memory. */
  store?: TableStoreOptions | null;
  /** How to start the rank threads (default: Node's worker threads, src/parallel/spawn.ts, loaded only then). */
  startRanks?: StartRanks;
  /** For tests of the failure path only: make one rank fail on purpose. */
  fault?: Fault | null;
  /** After each step: its time per phase (ms, averaged over the ranks) and each rank thread's CPU time in it (ms; NaN where unknown). */
  onStepStats?: (step: number, stats: StepStats) => void;
}

export interface StepStats {
  phaseMs: Record<StepPhase, number>;
  rankCpuMs: number[];
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
const DEFAULT_START_TIMEOUT_MS = 600_000;
/** After a rank reports that it was aborted by another rank, how long to wait for that rank's own report. */
const CAUSE_GRACE_MS = 2_000;

export class HybridExecutor implements Executor {
  readonly depth = 2;
  /** Coming batches the ranks' table caches plan with (tables on disk with look-ahead), else 0. */
  readonly lookAhead: number;
  readonly config: DLRMConfig;
  readonly plan: ShardingPlan;
  readonly optimizer: OptimizerSpec;
  /** Milliseconds spent in each phase, summed over the steps, averaged over the ranks. */
  readonly phaseMs: Record<StepPhase, number>;
  readonly #N: number;
  readonly #group: RankGroup;
  readonly #watch: RankWatch;
  readonly #comm: CommBuffers;
  readonly #ctl: Int32Array;
  readonly #num: Float64Array;
  readonly #views: SlotViews[];
  /** Per slot: settles when the last command that used it is done and its results are read. */
  readonly #slotFree: Promise<unknown>[];
  readonly #timeoutMs: number;
  readonly #onStepStats: HybridOptions["onStepStats"];
  /** Whether the ranks keep their shards in files (--table-dir). */
  readonly #stored: boolean;
  #next = 0;
  #closed = false;

  private constructor(
    o: HybridOptions,
    plan: ShardingPlan,
    group: RankGroup,
    comm: CommBuffers,
    control: SharedArrayBuffer,
    numbers: SharedArrayBuffer,
    views: SlotViews[],
    watch: RankWatch,
  ) {
    this.config = o.config;
    this.lookAhead = o.store?.lookAhead ?? 0;
    this.plan = plan;
    this.optimizer = o.optimizer;
    this.#N = o.workers;
    this.#group = group;
    this.#comm = comm;
    this.#ctl = new Int32Array(control);
    this.#num = new Float64Array(numbers);
    this.#views = views;
    this.#watch = watch;
    this.#slotFree = views.map(() => Promise.resolve());
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#onStepStats = o.onStepStats;
    this.#stored = o.store != null;
    this.phaseMs = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
  }

  /** Start the ranks and wait until each has made (or read) its parameters. */
  static async start(o: HybridOptions): Promise<HybridExecutor> {
    const N = o.workers;
    if (!Number.isInteger(N) || N < 1) throw new ParallelError(`hybrid: workers must be a positive integer, got ${N}`);
    if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1)
      throw new ParallelError(`hybrid: the largest batch must be a positive integer, got ${o.maxBatch}`);
    const config = o.config;
    for (const d of o.datasets) {
      if (d.sparse.length !== config.table_sizes.length)
        throw new ParallelError(
          `hybrid: the data has ${d.sparse.length} sparse features but the model has ${config.table_sizes.length} tables`,
        );
    }
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const plan =
      o.plan ??
      modelShardingPlan(config, {
        ranks: N,
        ...(o.store == null ? { optimizer: o.optimizer } : {}), // a range lies in one memory with its state
        ...(o.datasets[0] !== undefined ? { lookupsPerSample: lookupsPerSampleOf(o.datasets[0]) } : {}),
        ...(o.maxBytesPerRank !== undefined
          ? { maxBytesPerRank: o.maxBytesPerRank }
          : o.store != null
            ? { maxBytesPerRank: Number.MAX_SAFE_INTEGER } // the tables are on disk, not in a wasm memory
            : {}),
      });
    checkPlan(plan, N, config);

    // Shared memory: the batch slots, the collectives, the control words.
    const Bmax = o.maxBatch;
    const layout = batchSlotLayout(o.datasets, Bmax, o.store?.lookAhead ?? 0);
    const slots = Array.from({ length: SLOTS }, () => new SharedArrayBuffer(layout.bytes));
    const views = slots.map((s) => slotViews(layout, s));
    const P = parameterSpecs(config)
      .filter((p) => !isTableParameter(p.name))
      .reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    // Values per sample a rank pools (its shards' widths) and all ranks together: what the all-to-alls carry.
    const widthOf = plan.perRank.map((rp) => rp.shards.reduce((a, s) => a + plan.tables[s.table].dim, 0));
    const totalWidth = widthOf.reduce((a, b) => a + b, 0);
    const capacity = Math.max(Bmax * Math.max(...widthOf), Math.ceil(Bmax / N) * totalWidth, P);
    const comm = createCommBuffers(N, capacity, P); // P beside: the head's all-gather rides with the next all-to-all
    const control = new SharedArrayBuffer(4 * controlWords(N));
    const numbers = new SharedArrayBuffer(8 * numberWords(N));
    const init = (r: number): RankInit => ({
      rank: r,
      ranks: N,
      config,
      plan,
      optimizer: o.optimizer,
      source: o.source,
      comm,
      control,
      numbers,
      batchSlots: { layout, slots },
      timeoutMs,
      stepCpu: o.onStepStats !== undefined,
      fault: o.fault ?? null,
      store: o.store == null ? null : { ...o.store, cacheBytes: Math.floor(o.store.cacheBytes / N) },
    });
    // Node's starter is imported only when none is given, so that a page's bundle never loads node:worker_threads.
    const startRanks = o.startRanks ?? (await import("./spawn.ts")).startNodeRanks;
    const group = await startRanks(N, init);
    const watch = new RankWatch(group, comm, new Int32Array(control));
    try {
      await watch.waitAll("ready", 0, o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    } catch (e) {
      watch.stopping = true;
      abortAll(comm);
      await group.stop(5_000);
      watch.detach();
      throw e;
    }
    const executor = new HybridExecutor(o, plan, group, comm, control, numbers, views, watch);
    // Each rank's head arrays to every rank, so that the head's collectives read them in place.
    const heads = watch.heads();
    if (N > 1 && heads.every((h) => h !== null)) {
      try {
        for (const t of group.threads) t.postMessage({ kind: "peers", heads });
        await executor.#command(CMD_PEERS, 0, 0);
      } catch (e) {
        await executor.close().catch(() => undefined);
        throw e;
      }
    }
    return executor;
  }

  /** Issue a command; resolves when every rank has done it. The slots keep at most two outstanding (protocol.ts). */
  #command(cmd: number, step: number, slot: number): Promise<void> {
    if (this.#closed) return Promise.reject(new ParallelError("hybrid: the executor is closed"));
    const ctl = this.#ctl;
    const seq = Atomics.load(ctl, SEQ) + 1;
    const entry = commandEntry(seq);
    Atomics.store(ctl, entry + ARG_STEP, step);
    Atomics.store(ctl, entry + ARG_SLOT, slot);
    Atomics.store(ctl, entry + COMMAND, cmd);
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    return cmd === CMD_STOP ? Promise.resolve() : this.#watch.waitAll("done", seq, this.#timeoutMs);
  }

  /** Run `work` on the next slot once the slot's previous command is done; the slot is busy until work's promise settles. */
  async #onSlot<T>(work: (slot: number, views: SlotViews) => Promise<T>): Promise<T> {
    const slot = this.#next;
    this.#next = (slot + 1) % SLOTS;
    const before = this.#slotFree[slot];
    const run = (async (): Promise<T> => {
      await before?.catch(() => undefined);
      return work(slot, this.#views[slot]);
    })();
    this.#slotFree[slot] = run.catch(() => undefined);
    return run;
  }

  step(step: number, b: BatchRef, lr: number, ahead: readonly Dataset[] = []): Promise<StepOutcome> {
    return this.#onSlot(async (slot, views) => {
      writeBatchSlot(views, b.data, b.rows, b.start, b.count);
      writeAheadIds(views, ahead);
      this.#num[lrWord(slot)] = lr;
      await this.#command(CMD_STEP, step, slot);
      return this.#results(step, slot, b.count);
    });
  }

  /** The step's outcome from the ranks' result words of its slot (read before the slot is reused). */
  #results(step: number, slot: number, B: number): StepOutcome {
    const num = this.#num;
    const N = this.#N;
    let lossSum = 0;
    let correct = 0;
    let bad: StepOutcome["bad"] = null;
    for (let r = 0; r < N; r++) {
      const base = resultBase(r, slot);
      const badIndex = num[base + RES_BAD_INDEX];
      if (badIndex >= 0 && bad === null) bad = { index: badIndex, value: num[base + RES_BAD_VALUE] };
      lossSum += num[base + RES_LOSS];
      correct += num[base + RES_CORRECT];
      for (let k = 0; k < STEP_PHASES.length; k++) this.phaseMs[STEP_PHASES[k]] += num[base + RES_TIMES + k] / N;
    }
    if (this.#onStepStats !== undefined) {
      // The step's own figures, made only for a listener (this thread's time is the ranks' too).
      const stepMs = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
      const rankCpuMs: number[] = [];
      for (let r = 0; r < N; r++) {
        const base = resultBase(r, slot);
        STEP_PHASES.forEach((p, k) => (stepMs[p] += num[base + RES_TIMES + k] / N));
        rankCpuMs.push(num[base + RES_CPU]);
      }
      this.#onStepStats(step, { phaseMs: stepMs, rankCpuMs });
    }
    return { loss: bad !== null ? Number.NaN : Math.fround(lossSum / B), correct: bad !== null ? 0 : correct, bad };
  }

  async predict(data: Dataset, batchSize: number): Promise<Float32Array> {
    const out = new Float32Array(data.n);
    const B = Math.min(batchSize, this.#views[0]?.labels.length ?? 1);
    const batches: Promise<void>[] = [];
    for (let s = 0, k = 0; s < data.n; s += B, k++) {
      const count = Math.min(data.n, s + B) - s;
      batches.push(
        this.#onSlot(async (slot, views) => {
          writeBatchSlot(views, data, null, s, count);
          await this.#command(CMD_PREDICT, k, slot);
          out.set(views.pred.subarray(0, count), s);
        }),
      );
    }
    await Promise.all(batches);
    return out;
  }

  async save(path: string, metadata: Record<string, string>, dtype: SaveDType = "F32", format?: CheckpointFormat) {
    const tensors = checkpointTensors(this.config, this.optimizer, dtype);
    // The file writer (node:fs) loads only when a file is saved: a page saves with saveBytes.
    const { writeCheckpointFile } = await import("../dlrm/checkpoint.ts");
    await writeCheckpointFile(
      path,
      tensors,
      metadata,
      (tmp, slots) =>
        this.#saveOnRanks({ kind: "save", target: { kind: "file", tmp }, slots: [...slots], withOptimizer: true }),
      format,
    );
  }

  /**
   * The safetensors checkpoint (every parameter in dtype, the optimizer state in F32, this
   * metadata) as bytes: the file `save` writes to a .safetensors path, made in shared memory,
   * each rank writing its own pieces into it (no file access: what a page saves).
   */
  async saveBytes(metadata: Record<string, string>, dtype: SaveDType = "F32"): Promise<Uint8Array> {
    const image = checkpointImage(
      checkpointTensors(this.config, this.optimizer, dtype),
      metadata,
      (n) => new SharedArrayBuffer(n),
    );
    const buffer = image.bytes.buffer as SharedArrayBuffer;
    await this.#saveOnRanks({
      kind: "save",
      target: { kind: "memory", buffer },
      slots: [...image.slots],
      withOptimizer: true,
    });
    return image.bytes;
  }

  /** Every rank writes its pieces where req says, once no step or prediction is in flight. */
  async #saveOnRanks(req: SaveRequest): Promise<void> {
    await Promise.all(this.#slotFree);
    for (const t of this.#group.threads) t.postMessage(req);
    await this.#command(CMD_SAVE, 0, 0);
  }

  /**
   * What each rank's table store did so far (its shards' files and cache), by rank, once no
   * step or prediction is in flight; null when the tables are in the ranks' memory. One
   * command: the ranks write their figures into the shared numbers, read here once all are done.
   */
  async storeFigures(): Promise<StoreFigures[] | null> {
    if (!this.#stored) return null;
    await Promise.all(this.#slotFree);
    await this.#command(CMD_STORE_FIGURES, 0, 0);
    return Array.from({ length: this.#N }, (_, r) => readStoreFigures(this.#num, this.#N, r));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const failed = this.#watch.failure !== null;
    this.#watch.stopping = true;
    if (failed) abortAll(this.#comm);
    await this.#command(CMD_STOP, 0, 0);
    this.#closed = true;
    const left = await this.#group.stop(5_000);
    this.#watch.detach();
    if (left.length > 0 && !failed)
      throw new ParallelError(`hybrid: rank${left.length > 1 ? "s" : ""} ${left.join(", ")} did not stop`);
  }
}

interface Waiter {
  kind: "ready" | "done";
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
  watchdog: NodeJS.Timeout;
}

/** Watches the rank threads: routes their messages, and turns an exit, crash or stall into one ParallelError. */
class RankWatch {
  stopping = false;
  failure: ParallelError | null = null;
  readonly #group: RankGroup;
  readonly #comm: CommBuffers;
  readonly #ctl: Int32Array;
  #graceTimer: NodeJS.Timeout | null = null;
  /** Who waits for what: "kind:seq". */
  readonly #waiters = new Map<string, Waiter>();
  /** The ranks that said they are ready, and where each keeps its head's arrays. */
  readonly #ready = new Map<number, HeadArrays>();
  /** The last command every rank has finished, as reported (0: none). */
  #doneSeq = 0;
  readonly #listeners: (() => void)[] = [];

  constructor(group: RankGroup, comm: CommBuffers, ctl: Int32Array) {
    this.#group = group;
    this.#comm = comm;
    this.#ctl = ctl;
    group.threads.forEach((t, r) => {
      this.#listeners.push(
        t.listen({
          message: (m: RankMessage) => this.#onMessage(r, m),
          error: (e: Error) =>
            this.#fail(new ParallelError(`rank ${r} crashed ${this.#where(r)}: ${e.message}`, this.#at(r))),
          exit: (code: number) => {
            if (!this.stopping)
              this.#fail(new ParallelError(`rank ${r} exited with code ${code} ${this.#where(r)}`, this.#at(r)));
          },
        }),
      );
    });
  }

  /** Each rank's head arrays, by rank, as it said when ready. */
  heads(): HeadArrays[] {
    return this.#group.threads.map((_, r) => this.#ready.get(r) ?? null);
  }

  detach(): void {
    for (const off of this.#listeners) off();
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    for (const w of this.#waiters.values()) clearInterval(w.watchdog);
  }

  /**
   * Resolves when every rank is ready (kind "ready"), or has finished command seq ("done": the
   * one report of the last rank to finish it, protocol.ts); rejects on the first failure, or
   * when no rank has made progress for timeoutMs (longer than a rank's own wait for a peer, so
   * that a rank stuck in a collective reports first, naming the peer).
   */
  waitAll(kind: "ready" | "done", seq: number, timeoutMs: number): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const N = this.#group.threads.length;
    const key = `${kind}:${seq}`;
    if (kind === "done" ? this.#doneSeq >= seq : this.#ready.size === N) return Promise.resolve(); // reported before anyone waited
    return new Promise<void>((resolve, reject) => {
      let lastBeat = this.#heartbeats();
      let lastProgress = performance.now();
      const limit = kind === "ready" ? timeoutMs : 1.5 * timeoutMs + 1_000;
      const watchdog = setInterval(
        () => {
          const beat = this.#heartbeats();
          const now = performance.now();
          if (beat !== lastBeat && kind !== "ready") {
            lastBeat = beat;
            lastProgress = now;
          } else if (now - lastProgress > limit) {
            const waiting = Array.from({ length: N }, (_, r) => r).filter((r) =>
              kind === "ready" ? !this.#ready.has(r) : Atomics.load(this.#ctl, statusDone(r)) < seq,
            );
            const where = waiting.map((r) => `rank ${r} ${this.#where(r)}`).join("; ");
            const what =
              kind === "ready"
                ? `did not start within ${timeoutMs} ms`
                : `made no progress for ${Math.round(limit)} ms`;
            this.#fail(new ParallelError(`${where} ${what}`, waiting.length === 1 ? this.#at(waiting[0]) : {}));
          }
        },
        Math.max(10, Math.min(1_000, timeoutMs / 4)),
      );
      const done = (): void => {
        clearInterval(watchdog);
        this.#waiters.delete(key);
      };
      this.#waiters.set(key, {
        kind,
        seq,
        watchdog,
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
    });
  }

  #onMessage(r: number, m: RankMessage): void {
    if (m.type === "error") {
      this.#onRankError(r, m);
      return;
    }
    if (m.type === "ready") this.#ready.set(r, m.head);
    else this.#doneSeq = Math.max(this.#doneSeq, m.seq); // a second report of a command is no news
    for (const w of [...this.#waiters.values()]) {
      if (w.kind === "ready" ? this.#ready.size === this.#group.threads.length : this.#doneSeq >= w.seq) w.resolve();
    }
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
        this.#fail(
          new ParallelError(`rank ${by ?? "?"} failed without a report; ${m.message}`, by === null ? {} : this.#at(by)),
        );
      }, CAUSE_GRACE_MS);
      return;
    }
    const step = m.step >= 0 ? `in step ${m.step}, phase "${m.phase}"` : "while starting";
    this.#fail(new ParallelError(`rank ${r} failed ${step}: ${m.message}`, at));
  }

  #fail(e: ParallelError): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = e;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    abortAll(this.#comm); // wake every rank still waiting in a collective
    for (const w of [...this.#waiters.values()]) w.reject(e);
  }

  #heartbeats(): number {
    let s = 0;
    for (let r = 0; r < this.#group.threads.length; r++) s += Atomics.load(this.#ctl, statusHeartbeat(r));
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

function checkPlan(plan: ShardingPlan, N: number, c: DLRMConfig): void {
  if (plan.ranks !== N) throw new ParallelError(`hybrid: the sharding plan is for ${plan.ranks} ranks, not ${N}`);
  if (plan.embeddingDim !== c.embedding_dim)
    throw new ParallelError(`hybrid: the sharding plan has dim ${plan.embeddingDim}, the model ${c.embedding_dim}`);
  const pieces = tableLayout(c).pieces;
  if (
    plan.tables.length !== pieces.length ||
    plan.tables.some((t, i) => t.rows !== pieces[i]?.rows || t.dim !== pieces[i]?.dim)
  ) {
    throw new ParallelError(
      "hybrid: the sharding plan's tables do not match the model's tables (rows, widths, QR/MD pieces)",
    );
  }
}
