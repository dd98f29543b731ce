// The sharding plan: which rank holds which embedding table (model parallelism), balancing
// the bytes each rank stores and the lookups per sample it serves; a table bigger than one
// rank's share of the whole (or than one memory holds) is split by rows across ranks.
//
//   1. share = all table bytes / N. A table above the share is cut into
//      k = ceil(bytes / share) row ranges of nearly equal size (k ≤ N), more if one range
//      would still exceed maxBytesPerShard with its optimizer state (what one table memory
//      holds, 3.75 GiB: a rank
//      keeps its shards in several wasm memories, src/dlrm/tables/memories.ts, but one shard
//      lies in one), or maxBytesPerRank.
//   2. Largest first (by the larger of its fraction of all bytes and of all lookups), each
//      table goes to the rank where the larger of those two fractions stays smallest; the
//      row ranges of a split table go to distinct ranks. Ties go to the lower rank, so the
//      plan depends only on its inputs.
//   3. A rank over maxBytesPerRank (default: none; RAM is the bound) is an error naming it.
//
// What it places are the model's lookup pieces (src/dlrm/tables/; modelShardingPlan): a
// plain table is one, a QR table two (its quotient and remainder tables, placed apart like
// any two tables), an MD table one of its own width; "table" below means a piece.
//
// A learned pooling weight (v_W_l.{t}, one per row) lives with its row, so it counts in the
// row's bytes.
//
// The lookups of a row range are estimated as the table's lookups times the range's share
// of the rows (ids spread evenly); real data is skewed, and the plan does not try to know.
//
// Glossary: N ranks, T tables, R rows of a table, E embedding dim, k row ranges of a table.

import type { Dataset } from "../data/dataset.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import { placeInMemories, rangePart, rowBytes, TABLE_MEMORY_BYTES } from "../dlrm/tables/memories.ts";
import type { OptimizerSpec } from "../optim/make.ts";

/** Rows [rowStart, rowEnd) of one table, held by one rank. */
export interface Shard {
  table: number;
  rank: number;
  rowStart: number;
  rowEnd: number;
  /** Whether the shard is the whole table. */
  whole: boolean;
  bytes: number;
  lookupsPerSample: number;
}

export interface TablePlan {
  table: number;
  /** Its name in the printed plan (default: the table number). */
  label: string;
  rows: number;
  /** Values per row (the embedding dim, or an MD table's own width). */
  dim: number;
  bytes: number;
  lookupsPerSample: number;
  /** One shard (whole table) or k row ranges in row order. */
  shards: Shard[];
}

export interface RankPlan {
  rank: number;
  /** By table, then by first row. */
  shards: Shard[];
  bytes: number;
  lookupsPerSample: number;
  /**
   * Bytes (with the optimizer's state) in each wasm memory the rank will keep its shards in,
   * the step's first, as the rank places them (src/dlrm/tables/memories.ts); absent when the
   * plan was not given the optimizer.
   */
  memories?: number[];
}

export interface ShardingPlan {
  ranks: number;
  embeddingDim: number;
  bytesPerValue: number;
  /** Infinity: no limit but the machine's RAM. */
  maxBytesPerRank: number;
  tables: TablePlan[];
  perRank: RankPlan[];
}

export interface PlanOptions {
  /** N ranks. */
  ranks: number;
  /** E. */
  embeddingDim: number;
  /** Rows of each table. */
  tableSizes: readonly number[];
  /** Width of each table's rows (default embeddingDim each). */
  dims?: readonly number[];
  /** Values stored per row of each table (default its width; a learned pooling weight adds one). */
  storedPerRow?: readonly number[];
  /** Bytes a row of each table takes in memory with its optimizer state (default its stored bytes): what maxBytesPerShard bounds. */
  memoryPerRow?: readonly number[];
  /** Each table's name in the printed plan (default its number). */
  labels?: readonly string[];
  /** Mean lookups per sample of each table (default 1 each). */
  lookupsPerSample?: readonly number[];
  /** Bytes of tables one rank may hold (default: no limit, as a rank has as many memories as it needs). */
  maxBytesPerRank?: number;
  /** Bytes of one shard, which lies in one wasm memory (default maxBytesPerRank if given, else TABLE_MEMORY_BYTES, 3.75 GiB). */
  maxBytesPerShard?: number;
  /** Bytes per stored value (default 4, float32). */
  bytesPerValue?: number;
}

export class PlanError extends Error {
  constructor(message: string) {
    super(`sharding plan: ${message}`);
    this.name = "PlanError";
  }
}

export const FOUR_GIB = 4 * 1024 ** 3;

export function shardingPlan(o: PlanOptions): ShardingPlan {
  const N = o.ranks;
  const E = o.embeddingDim;
  const bpv = o.bytesPerValue ?? 4;
  const maxBytes = o.maxBytesPerRank ?? Infinity;
  // A rank's limit, when given, bounds its shards too (--table-dir gives none that binds: its rows are in files).
  const maxShard = Math.min(o.maxBytesPerShard ?? o.maxBytesPerRank ?? TABLE_MEMORY_BYTES, maxBytes);
  if (!Number.isInteger(N) || N < 1) throw new PlanError(`ranks must be a positive integer, got ${N}`);
  if (!Number.isInteger(E) || E < 1) throw new PlanError(`embeddingDim must be a positive integer, got ${E}`);
  if (!(maxBytes > 0)) throw new PlanError(`maxBytesPerRank must be positive, got ${maxBytes}`);
  if (!(maxShard > 0)) throw new PlanError(`maxBytesPerShard must be positive, got ${maxShard}`);
  const T = o.tableSizes.length;
  const lookups = o.lookupsPerSample ?? new Array<number>(T).fill(1);
  if (lookups.length !== T) throw new PlanError(`lookupsPerSample has ${lookups.length} entries for ${T} tables`);
  o.tableSizes.forEach((R, t) => {
    if (!Number.isInteger(R) || R < 1) throw new PlanError(`table ${t} has ${R} rows; rows must be a positive integer`);
    const l = lookups[t];
    if (!(l >= 0) || !Number.isFinite(l))
      throw new PlanError(`table ${t}: lookups per sample must be a finite number >= 0, got ${l}`);
  });

  const dims = o.dims ?? new Array<number>(T).fill(E);
  if (dims.length !== T || dims.some((d) => !Number.isInteger(d) || d < 1))
    throw new PlanError(`dims must hold a positive width for each of the ${T} tables`);
  const stored = o.storedPerRow ?? dims;
  if (stored.length !== T || stored.some((v, t) => !(v >= dims[t])))
    throw new PlanError(`storedPerRow must hold, for each of the ${T} tables, at least its width`);
  const tableBytes = o.tableSizes.map((R, t) => R * stored[t] * bpv);
  const memoryPerRow = o.memoryPerRow ?? stored.map((v) => v * bpv);
  if (memoryPerRow.length !== T || memoryPerRow.some((b) => !(b > 0)))
    throw new PlanError(`memoryPerRow must hold a positive byte count for each of the ${T} tables`);
  const totalBytes = tableBytes.reduce((a, b) => a + b, 0);
  const totalLookups = lookups.reduce((a, b) => a + b, 0);
  const share = totalBytes / N;
  const frac = (bytes: number, l: number): [number, number] => [
    totalBytes > 0 ? bytes / totalBytes : 0,
    totalLookups > 0 ? l / totalLookups : 0,
  ];

  // 1. Cut tables into row ranges.
  const tables: TablePlan[] = o.tableSizes.map((R, t) => {
    const bytes = tableBytes[t];
    const l = lookups[t];
    const D = dims[t];
    let k = N > 1 && bytes > share ? Math.min(N, Math.ceil(bytes / share)) : 1;
    const inMemory = R * memoryPerRow[t]; // with its optimizer state, as one memory holds a range
    if (inMemory / k > maxShard) k = Math.ceil(inMemory / maxShard);
    k = Math.min(k, R); // a range holds at least one row
    if (k > N) {
      const limit =
        maxShard < maxBytes
          ? `${N} rank${N === 1 ? "" : "s"} in row ranges of at most ${formatBytes(maxShard)} (one wasm memory holds a range)`
          : `${N} ranks of at most ${formatBytes(maxBytes)} each`;
      throw new PlanError(
        `table ${o.labels?.[t] ?? t} (${R} rows × ${D}, ${formatBytes(bytes)}) does not fit on ${limit}`,
      );
    }
    const shards: Shard[] = [];
    for (let i = 0; i < k; i++) {
      const rowStart = Math.floor((i * R) / k);
      const rowEnd = Math.floor(((i + 1) * R) / k);
      const rows = rowEnd - rowStart;
      shards.push({
        table: t,
        rank: -1,
        rowStart,
        rowEnd,
        whole: k === 1,
        bytes: rows * stored[t] * bpv,
        lookupsPerSample: (l * rows) / R,
      });
    }
    return { table: t, label: o.labels?.[t] ?? String(t), rows: R, dim: D, bytes, lookupsPerSample: l, shards };
  });

  // 2. Place them, largest first.
  const load = Array.from({ length: N }, () => ({ bytes: 0, lookups: 0 }));
  const weight = (tp: TablePlan): number => Math.max(...frac(tp.bytes, tp.lookupsPerSample));
  const order = [...tables].sort((a, b) => weight(b) - weight(a) || a.table - b.table);
  for (const tp of order) {
    const used = new Set<number>();
    for (const s of tp.shards) {
      let best = -1;
      let bestKey: [number, number] = [Infinity, Infinity];
      for (let r = 0; r < N; r++) {
        if (used.has(r)) continue;
        const l = load[r] as { bytes: number; lookups: number };
        const after = Math.max(...frac(l.bytes + s.bytes, l.lookups + s.lookupsPerSample));
        const now = frac(l.bytes, l.lookups);
        const key: [number, number] = [after, now[0] + now[1]];
        if (key[0] < bestKey[0] - 1e-12 || (Math.abs(key[0] - bestKey[0]) <= 1e-12 && key[1] < bestKey[1] - 1e-12)) {
          best = r;
          bestKey = key;
        }
      }
      s.rank = best;
      used.add(best);
      const l = load[best] as { bytes: number; lookups: number };
      l.bytes += s.bytes;
      l.lookups += s.lookupsPerSample;
    }
  }

  // 3. Per rank, and the capacity check.
  const perRank: RankPlan[] = load.map((l, r) => ({
    rank: r,
    shards: tables.flatMap((tp) => tp.shards.filter((s) => s.rank === r)),
    bytes: l.bytes,
    lookupsPerSample: l.lookups,
  }));
  for (const rp of perRank) {
    if (rp.bytes > maxBytes) {
      throw new PlanError(
        `rank ${rp.rank} would hold ${formatBytes(rp.bytes)} of tables, more than its ${formatBytes(maxBytes)}; use more ranks or smaller tables`,
      );
    }
  }
  return { ranks: N, embeddingDim: E, bytesPerValue: bpv, maxBytesPerRank: maxBytes, tables, perRank };
}

/** The plan of a model's lookup pieces; lookupsPerSample is per table (sparse feature), as lookupsPerSampleOf gives. */
export function modelShardingPlan(
  config: DLRMConfig,
  o: { ranks: number; lookupsPerSample?: readonly number[]; maxBytesPerRank?: number; optimizer?: OptimizerSpec },
): ShardingPlan {
  const pieces = tableLayout(config).pieces;
  const spec = o.optimizer;
  const plan = shardingPlan({
    ranks: o.ranks,
    embeddingDim: config.embedding_dim,
    tableSizes: pieces.map((p) => p.rows),
    dims: pieces.map((p) => p.dim),
    // the owner of a piece's rows holds their learned pooling weights too (src/parallel/rank.ts)
    storedPerRow: pieces.map((p) => p.dim + (p.poolingWeight === null ? 0 : 1)),
    labels: pieces.map((p) => (p.name === `emb_l.${p.table}.weight` ? String(p.table) : p.name)),
    // a range lies in one memory with its optimizer state (src/dlrm/tables/memories.ts)
    ...(spec === undefined ? {} : { memoryPerRow: pieces.map((p) => rowBytes(p.dim, p.poolingWeight !== null, spec)) }),
    ...(o.lookupsPerSample !== undefined
      ? { lookupsPerSample: pieces.map((p) => o.lookupsPerSample?.[p.table] ?? 0) }
      : {}),
    ...(o.maxBytesPerRank !== undefined ? { maxBytesPerRank: o.maxBytesPerRank } : {}),
  });
  if (spec !== undefined)
    for (const rp of plan.perRank)
      rp.memories = placeInMemories(
        rp.shards.map((s) => rangePart(pieces[s.table], s)),
        spec,
      ).bytes;
  return plan;
}

/** Mean lookups per sample of each table of a dataset (for the plan). */
export function lookupsPerSampleOf(data: Dataset): number[] {
  return data.sparse.map((f) => (data.n > 0 ? f.offsets[data.n] / data.n : 0));
}

/** The plan as a text table (what `dlrm train --print-sharding-plan` prints). */
export function formatShardingPlan(plan: ShardingPlan): string {
  const E = plan.embeddingDim;
  const lines: string[] = [];
  lines.push(
    `Sharding plan: ${plan.tables.length} tables of dim ${E} on ${plan.ranks} rank${plan.ranks === 1 ? "" : "s"} (${plan.bytesPerValue} bytes per value${Number.isFinite(plan.maxBytesPerRank) ? `, at most ${formatBytes(plan.maxBytesPerRank)} per rank` : ""})`,
  );
  lines.push("");
  const head = ["table", "rows", "size", "lookups/sample", "rank", "rows held"];
  const rows: string[][] = [];
  for (const tp of plan.tables) {
    tp.shards.forEach((s, i) => {
      const held = s.whole ? "all" : `[${group(s.rowStart)}, ${group(s.rowEnd)})`;
      rows.push(
        i === 0
          ? [tp.label, group(tp.rows), formatBytes(tp.bytes), tp.lookupsPerSample.toFixed(2), String(s.rank), held]
          : ["", "", "", "", String(s.rank), held],
      );
    });
  }
  lines.push(...formatColumns(head, rows, [true, true, true, true, true, false]));
  lines.push("");
  const withMemories = plan.perRank.some((rp) => rp.memories !== undefined);
  const rankHead = [
    "rank",
    "tables",
    "row ranges",
    "size",
    "lookups/sample",
    ...(withMemories ? ["wasm memories"] : []),
  ];
  const rankRows = plan.perRank.map((rp) => [
    String(rp.rank),
    String(rp.shards.filter((s) => s.whole).length),
    String(rp.shards.filter((s) => !s.whole).length),
    formatBytes(rp.bytes),
    rp.lookupsPerSample.toFixed(2),
    // with the optimizer's state: the step's memory first, then table memories
    ...(withMemories ? [(rp.memories ?? []).map(formatBytes).join(" + ")] : []),
  ]);
  lines.push(...formatColumns(rankHead, rankRows, [true, true, true, true, true, false]));
  return `${lines.join("\n")}\n`;
}

function formatColumns(head: string[], rows: string[][], rightAlign: boolean[]): string[] {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]): string =>
    r
      .map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ")
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

/** 12345678 → "12,345,678". */
function group(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Bytes in B, KiB, MiB or GiB with one decimal. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
