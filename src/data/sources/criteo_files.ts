// Criteo data for the registry: reading raw files with a progress bar, and the preprocessed form
// that `dlrm preprocess criteo` writes (a batch file, its dictionary beside it, and metadata
// that lets training apply the reference's protocol to it: the samples of each day).
// Parsing, sub-sampling, numbering and the days are readCriteoChunks's (src/data/criteo.ts).
//
// Glossary: N samples, F = 26 tables, D days.

import { BatchFileSource } from "../batch_file_source.ts";
import { CRITEO_DENSE, CRITEO_SPARSE } from "../criteo_fields.ts";
import { safetensorsMetadata } from "../safetensors_files.ts";
import { concatCriteoChunks, readCriteoChunks, type CriteoChunksResult, type CriteoOptions } from "../criteo.ts";
import type { Dataset } from "../dataset.ts";
import type { CriteoDictionary } from "../criteo_dictionary.ts";
import type { DataFiles } from "../files.ts";

/** A display of reading progress by bytes (the CLI's ReadProgress draws one on stderr). */
export interface ReadingProgress {
  update(lines: number, bytesRead: number, bytesTotal: number): void;
  done(): void;
}

/** The `format` metadata of a batch file written by `dlrm preprocess criteo`. */
export const CRITEO_BATCH_FORMAT = "dlrm-ts criteo batch";

/** Where the dictionary of a preprocessed batch file lives: `x.safetensors` → `x.dict.safetensors`
 *  (any other name gets `.dict.safetensors` appended). */
export function dictionaryPathFor(batchPath: string): string {
  return batchPath.endsWith(".safetensors")
    ? `${batchPath.slice(0, -".safetensors".length)}.dict.safetensors`
    : `${batchPath}.dict.safetensors`;
}

export interface CriteoReadOptions {
  /** R, or undefined for none (or, with a dictionary, the dictionary's). */
  maxIndRange: number | undefined;
  onBadLine: "error" | "skip";
  /** Map through this dictionary (eval data); undefined: build one. */
  dictionary: CriteoDictionary | undefined;
  /** --data-sub-sample-rate and the seed of its draws (0: keep every line). */
  subSampleRate: number;
  seed: number;
  /** Makes the byte progress display (the CLI's draws on stderr), or null for none. */
  progress: ((label: string) => ReadingProgress) | null;
  label: string;
  /** The host's files (sizes, a temporary folder). */
  fileAccess: DataFiles;
}

/** The samples of `files` in order, handed to `sink` in chunks (readCriteoChunks), with a progress bar. */
export async function readCriteoFilesInChunks(
  files: readonly string[],
  o: CriteoReadOptions,
  sink: (chunk: Dataset) => void,
): Promise<CriteoChunksResult> {
  return withProgress(files, o, (opts) => readCriteoChunks(files, o.fileAccess, opts, sink));
}

async function withProgress<T>(
  files: readonly string[],
  o: CriteoReadOptions,
  read: (opts: CriteoOptions) => Promise<T>,
): Promise<T> {
  if (files.length === 0) throw new Error("criteo: no files given");
  for (const f of files) {
    try {
      o.fileAccess.size(f);
    } catch (e) {
      throw new Error(`criteo: cannot read ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const bar = o.progress === null ? null : o.progress(o.label);
  try {
    return await read({
      ...(o.maxIndRange === undefined ? {} : { maxIndRange: o.maxIndRange }),
      ...(o.dictionary === undefined ? {} : { dictionary: o.dictionary }),
      onBadLine: o.onBadLine,
      subSampleRate: o.subSampleRate,
      seed: o.seed,
      onProgress: (lines, bytes, total) => bar?.update(lines, bytes, total),
    });
  } finally {
    bar?.done();
  }
}

/**
 * The samples of `files` streamed: preprocessed in chunks into a batch file in the system's
 * temporary folder, which is opened and at once unlinked (the open file keeps its bytes until
 * the source closes, and nothing is left behind, even by a crash). Training on criteo:<files>
 * is thereby training on the file `dlrm preprocess criteo` writes, in the same bounded memory.
 * Files held in memory (a page's: their file access has no temporary folder) give their samples
 * in memory. The batch file writer (Node's) is loaded only when a file is written.
 */
export async function streamCriteoFiles(
  files: readonly string[],
  o: CriteoReadOptions,
): Promise<{ source: BatchFileSource | Dataset; read: CriteoChunksResult }> {
  if (o.fileAccess.tempDir === null) {
    const chunks: Dataset[] = [];
    const read = await readCriteoFilesInChunks(files, o, (chunk) => chunks.push(chunk));
    return { source: concatCriteoChunks(chunks), read };
  }
  const { BatchFileWriter } = await import("../batch_writer.ts");
  const dir = o.fileAccess.tempDir("dlrm-criteo-");
  try {
    const path = o.fileAccess.join(dir.path, "rows.safetensors");
    const writer = new BatchFileWriter(path, { denseFeatures: CRITEO_DENSE, tables: CRITEO_SPARSE });
    let read: CriteoChunksResult;
    try {
      read = await readCriteoFilesInChunks(files, o, (chunk) => writer.append(chunk));
    } catch (e) {
      writer.abort();
      throw e;
    }
    writer.finish();
    return { source: await BatchFileSource.open(path, o.fileAccess), read };
  } finally {
    dir.remove();
  }
}

/** What `dlrm preprocess criteo` records in its output's metadata. */
export interface CriteoBatchInfo {
  /** (D,) samples of each day, in order (the protocol's days; see readCriteo). */
  dayRows: number[];
  files: string[];
  skipped: number;
  /** The sub-sampling applied while reading (0: none), and the seed of its draws. */
  subSampleRate: number;
  seed: number;
}

export function criteoBatchMetadata(info: CriteoBatchInfo, maxIndRange: number): Record<string, string> {
  return {
    format: CRITEO_BATCH_FORMAT,
    files: JSON.stringify(info.files),
    day_rows: JSON.stringify(info.dayRows),
    max_ind_range: String(maxIndRange),
    skipped_lines: String(info.skipped),
    sub_sample_rate: String(info.subSampleRate),
    seed: String(info.seed),
  };
}

/** Whether `dlrm preprocess criteo` wrote the batch file (read from its header only). */
export function isCriteoBatchFile(path: string, access: DataFiles): boolean {
  return safetensorsMetadata(path, access)["format"] === CRITEO_BATCH_FORMAT;
}

/** The preprocessing facts of a batch file, or null when `dlrm preprocess criteo` did not write it. */
export function criteoBatchInfo(path: string, n: number, access: DataFiles): CriteoBatchInfo | null {
  const meta = safetensorsMetadata(path, access);
  if (meta["format"] !== CRITEO_BATCH_FORMAT) return null;
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(meta[key] ?? "null");
    } catch {
      return null;
    }
  };
  if (meta["day_rows"] === undefined) {
    throw new Error(
      `${path}: no day_rows metadata (an earlier dlrm-ts wrote it, before days were recorded): run dlrm preprocess criteo on the raw files again`,
    );
  }
  const rows = parse("day_rows");
  if (
    !Array.isArray(rows) ||
    !rows.every((x) => Number.isInteger(x) && x >= 0) ||
    rows.reduce((a: number, b: number) => a + b, 0) !== n
  ) {
    throw new Error(
      `${path}: metadata day_rows ${JSON.stringify(meta["day_rows"])} does not add up to the file's ${n} samples`,
    );
  }
  const files = parse("files");
  const rate = Number(meta["sub_sample_rate"] ?? 0);
  const seed = Number(meta["seed"] ?? 0);
  if (!(rate >= 0 && rate <= 1) || !Number.isSafeInteger(seed)) {
    throw new Error(
      `${path}: metadata sub_sample_rate ${JSON.stringify(meta["sub_sample_rate"])} / seed ${JSON.stringify(meta["seed"])} are not a rate in [0, 1] and an integer`,
    );
  }
  return {
    dayRows: rows as number[],
    files: Array.isArray(files) ? files.map(String) : [],
    skipped: Number(meta["skipped_lines"] ?? 0),
    subSampleRate: rate,
    seed,
  };
}

/** The metadata key of the random id that a batch file and its dictionary share (dlrm preprocess). */
export const PAIR_ID_KEY = "pair_id";

/** The dictionary file beside a preprocessed batch file, checked to be the one written with
 *  it (the same pair id), or an error naming where it should be. */
export function requireDictionaryBeside(batchPath: string, files: DataFiles): string {
  const p = dictionaryPathFor(batchPath);
  if (!files.exists(p))
    throw new Error(`${batchPath}: a preprocessed Criteo file needs its dictionary beside it, ${p}, which is absent`);
  const batchId = safetensorsMetadata(batchPath, files)[PAIR_ID_KEY];
  const dictId = safetensorsMetadata(p, files)[PAIR_ID_KEY];
  if (batchId !== dictId) {
    throw new Error(
      `${batchPath} and its dictionary ${p} were not written together (pair_id ${JSON.stringify(batchId ?? null)} vs ${JSON.stringify(dictId ?? null)}: one was replaced without the other); run dlrm preprocess again`,
    );
  }
  return p;
}
