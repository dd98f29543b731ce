// Raw Criteo logs straight to the MLPerf .bin format (src/data/mlperf_bin.ts), streaming:
// each line is parsed (src/data/criteo_parse.ts: the reference's rules), its categorical
// values numbered in order of first appearance (or through a given dictionary, unseen values
// to the unknown row), and its 40 int32 written at once. Memory is one chunk of lines, one
// block of output and the dictionary; with --max-ind-range R the dictionary holds at most R
// values per feature.
//
// The .bin keeps the integer features as integers (the reader takes the log), so each must
// fit int32, as the reference's numpy_to_binary warns; a larger one is a malformed line.
//
// Glossary: F = 26 tables, R max index range.

import { readLineChunks } from "./lines.ts";
import { CRITEO_SPARSE, criteoFieldName } from "./criteo_fields.ts";
import { criteoLineProblemAt, parseCriteoBytes, ParsedRow } from "./criteo_line.ts";
import type { CriteoDictionary } from "./criteo_parse.ts";
import { IdMap } from "./id_map.ts";
import { writeMlperfBin } from "./mlperf_bin_writer.ts";
import { Rng } from "../tensor/rng.ts";
import type { DataFiles } from "./files.ts";

export interface CriteoBinOptions {
  maxIndRange?: number;
  onBadLine?: "error" | "skip";
  /** Number through this dictionary without extending it (eval data). */
  dictionary?: CriteoDictionary;
  subSampleRate?: number;
  seed?: number;
  onProgress?: (linesRead: number, bytesRead: number, fileIndex: number) => void;
}

export interface CriteoBinResult {
  rows: number;
  lines: number;
  skipped: number;
  /** Samples written from each file. */
  fileRows: number[];
  dictionary: CriteoDictionary;
}

const INT32_MAX = 0x7fffffff;

/** Writes the samples of `files`, in order, to `out` in the MLPerf .bin format. */
export async function criteoToMlperfBin(
  files: readonly string[],
  access: DataFiles,
  out: string,
  opts: CriteoBinOptions = {},
): Promise<CriteoBinResult> {
  const given = opts.dictionary;
  const R = opts.maxIndRange ?? given?.maxIndRange ?? 0;
  if (given !== undefined && given.maxIndRange !== R)
    throw new Error(`criteo: the dictionary was built with maxIndRange ${given.maxIndRange}, but ${R} was given`);
  const dictionary: CriteoDictionary = given ?? {
    maxIndRange: R,
    features: Array.from({ length: CRITEO_SPARSE }, () => new IdMap(1024)),
  };
  const unknown = dictionary.features.map((m) => m.size);
  const p = opts.subSampleRate ?? 0;
  const rng = new Rng(opts.seed ?? 0);
  const skipBad = opts.onBadLine === "skip";
  const row = new ParsedRow();
  const ids = new Int32Array(CRITEO_SPARSE);
  let lines = 0;
  let skipped = 0;
  const fileRows: number[] = [];
  const rows = await writeMlperfBin(out, async (append) => {
    for (let f = 0; f < files.length; f++) {
      const file = files[f];
      let kept = 0;
      let fileLines = 0;
      for await (const chunk of readLineChunks(file, access)) {
        const b = chunk.bytes;
        for (let pos = 0; pos < b.length;) {
          lines++;
          fileLines++;
          const next = parseCriteoBytes(b, pos, R, row);
          let problem: string | null = null;
          if (next === -1) {
            const bad = criteoLineProblemAt(b, pos, R);
            problem = bad.problem;
            pos = bad.next;
          } else {
            pos = next;
            const d = row.ints.findIndex((x) => x > INT32_MAX);
            if (d !== -1)
              problem = `field ${criteoFieldName(1 + d)} is ${row.ints[d]}, more than the int32 of the MLPerf .bin format holds`;
          }
          if (problem !== null) {
            if (skipBad) {
              skipped++;
              continue;
            }
            throw new Error(`criteo: ${file}:${fileLines}: ${problem}`);
          }
          if (p > 0 && rng.uniform() < p && row.label === 0) continue; // one draw per well-formed line, as readCriteo
          for (let t = 0; t < CRITEO_SPARSE; t++) {
            const m = dictionary.features[t];
            const raw = row.cats[t];
            if (given === undefined) ids[t] = m.add(raw);
            else {
              const id = m.get(raw);
              ids[t] = id === -1 ? unknown[t] : id;
            }
          }
          append(row.label, row.ints, ids);
          kept++;
        }
        opts.onProgress?.(lines, chunk.bytesRead, f);
      }
      fileRows.push(kept);
    }
  });
  return { rows, lines, skipped, fileRows, dictionary };
}
