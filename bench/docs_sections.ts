// docs/benchmarks.md is written by several programs: bench/run.ts (kernels and one-thread
// training) renders the whole file, and bench/parallel.bench.ts, bench/cli_train.bench.ts and
// bench/predict.bench.ts --docs each render one section. Each section that another program (or
// a hand-written record of earlier runs) owns sits between two marker comments, so that each
// program can rewrite its part and keep the others'.

/** The marked sections bench/run.ts keeps when it rewrites the file, in their order there. */
export const KEPT_SECTIONS = [
  "parallel", // bench/parallel.bench.ts --docs
  "pytorch-anchor", // by hand: what the PyTorch anchor is, and what the earlier one got wrong (issue 26)
  "cli-train", // bench/cli_train.bench.ts --docs
  "cli-train-history", // by hand: earlier runs of the command
  "step-profile", // by hand: bench/step_profile.ts, where a step's time goes
  "sgemm-dlrm", // by hand: bench/sgemm_ab.ts and bench/cli_ab.ts, the GEMM on the DLRM shapes and its ceiling (issue 26)
  "worker-scaling", // by hand: bench/cli_ab.ts and bench/scaling_limit.ts, 2 workers against 1 (issue 26)
  "predict", // bench/predict.bench.ts --docs
  "serving-history", // by hand: earlier inference runs
  "refactors", // by hand: refactors measured through the command
  "generated-data", // bench/generated_data.bench.ts --docs
  "stream", // by hand: bench/stream.bench.ts, the streamed data path (issue 23)
  "table-store", // bench/table_store.bench.ts --docs: tables on disk (issue 27)
  "table-store-quiet", // by hand: bench/table_store.bench.ts, look-ahead vs LRU with nothing else running
  "table-store-policy", // by hand: bench/table_store.bench.ts with a cache smaller than the working set (look-ahead vs LRU)
  "dcn-mlperf", // bench/dcn_mlperf.bench.ts --docs: the MLPerf DLRM-DCNv2 shape on 2 workers (issue 28)
  "table-store-policy-small-cache", // by hand: look-ahead vs LRU with a 4 MiB cache, on the shared machine
  "table-memories", // bench/table_memories.bench.ts --docs: one thread past 4 GiB of tables in memory (issue 27)
  "table-store-past-ram", // bench/table_store_past_ram.bench.ts --docs: tables and optimizer state 1.5× RAM (issue 27)
  "table-store-past-ram-notes", // by hand: the first 1.5×-RAM run, bench/table_files.bench.ts, the disk counters
] as const;

const begin = (name: string): string => `<!-- section ${name}: begin -->`;
const end = (name: string): string => `<!-- section ${name}: end -->`;

/** The marked section `name` of doc, markers included, or null when doc has none. */
export function extractSection(doc: string, name: string): string | null {
  const a = doc.indexOf(begin(name));
  const b = doc.indexOf(end(name));
  if (a < 0 || b < a) return null;
  return doc.slice(a, b + end(name).length);
}

/** doc with section `name` set to body (between markers): replaced where it is, else appended. */
export function replaceSection(doc: string, name: string, body: string): string {
  const marked = `${begin(name)}\n${body.trim()}\n${end(name)}`;
  const old = extractSection(doc, name);
  if (old !== null) return doc.replace(old, () => marked);
  return `${doc.trimEnd()}\n\n${marked}\n`;
}
