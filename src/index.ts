// dlrm-ts public API: re-exports only.

export {
  Tensor,
  IndexTensor,
  indexTensor,
  empty,
  zeros,
  ones,
  full,
  fromArray,
  scalar,
  rand,
  randn,
  toDType,
} from "./tensor/tensor.ts";
export type { DType, FloatArray, NestedArray, RowSparseGrad, TensorOptions } from "./tensor/tensor.ts";
export { Rng } from "./tensor/rng.ts";
export { OpError, formatShape } from "./tensor/shape.ts";
export { noGrad, isGradEnabled, type BackwardOptions } from "./autograd/tape.ts";
export { gradcheck, type GradcheckOptions, type GradcheckResult } from "./autograd/gradcheck.ts";

export { add, sub, mul, div, neg, exp, log, relu, sigmoid, tanh } from "./ops/elementwise.ts";
export { sum, mean } from "./ops/reduce.ts";
export { reshape, transpose, permute, concat, slice, indexSelect, gather } from "./ops/shape.ts";
export { matmul, linear } from "./ops/matmul.ts";
export { embeddingBag, type Bags, type EmbeddingBagOptions } from "./ops/embedding_bag.ts";
export { combineQR, type QROperation } from "./ops/qr_embedding_bag.ts";
export {
  quantizedEmbeddingBag,
  quantizeTable,
  type QuantizedBagOptions,
  type QuantizedTable,
} from "./interop/quantized/quantized_embedding_bag.ts";
export { dotInteraction, catInteraction, interactionWidth } from "./ops/interaction.ts";
export { bce, bceWithLogits, mse, type Reduction } from "./ops/loss.ts";

export { Module, parameter } from "./nn/module.ts";
export { Linear, MLP } from "./nn/linear.ts";
export { LowRankCrossNet, VectorCrossNet, lowRankCross, vectorCross } from "./nn/crossnet.ts";
export type { Optimizer } from "./optim/optimizer.ts";
export { SGD } from "./optim/sgd.ts";
export { Adagrad } from "./optim/adagrad.ts";
export { RowWiseAdagrad } from "./optim/rowwise_adagrad.ts";
export { LRPolicyScheduler } from "./optim/schedule.ts";

export {
  readSafetensors,
  writeSafetensors,
  parseSafetensors,
  serializeSafetensors,
  SafetensorsError,
} from "./io/safetensors.ts";
export type { Dataset, SparseFeature } from "./data/dataset.ts";
export { readBatchFile, writeBatchFile } from "./data/batch_file.ts";
export { BatchFileWriter } from "./data/batch_writer.ts";
export { DatasetSource, type BatchSource } from "./data/batch_source.ts";
export { batchOf, batchOfRows, type Batch } from "./data/batch.ts";
export { randomDataset } from "./data/random.ts";
export { parseSchema, type TabularSchema } from "./data/tabular_schema.ts";
export { scanTabular, tabularChunks, type TabularStats, type TabularChunk } from "./data/tabular.ts";
export { MlperfBinSource } from "./data/mlperf_bin.ts";
export { TorchrecNpySource } from "./data/torchrec_npy.ts";

export { DLRM } from "./dlrm/model.ts";
export { parseConfig, topInputWidth, type DLRMConfig } from "./dlrm/config.ts";
export { readConfig } from "./dlrm/config_file.ts";
export { defaultConfig } from "./dlrm/defaults.ts";
export { saveCheckpoint, loadCheckpoint } from "./dlrm/checkpoint.ts";
export { safetensorsFormat, type CheckpointFormat } from "./dlrm/checkpoint_format.ts";
export { checkpointFormat } from "./interop/checkpoint_file.ts";
export { ptFormat } from "./interop/torch/checkpoint_pt.ts";
export { syntheticData } from "./dlrm/synthetic.ts";
export { QuantizedDLRM, loadQuantizedCheckpoint } from "./interop/quantized/quantized.ts";
export { quantizeRows, dequantizeRows, fusedRowBytes, type QuantBits } from "./kernels/fused_rows.ts";
export { train, evaluate, predict } from "./train/trainer.ts";
export { LocalExecutor } from "./train/local.ts";
export type { Executor, StepOutcome } from "./train/executor.ts";
export { HybridExecutor, ParallelError, type HybridOptions } from "./parallel/hybrid.ts";
export { makeOptimizer, optimizerSpec, type OptimizerSpec } from "./optim/make.ts";
export { openExecutor, runOptimizer, evalBatchSize, type ExecutorRecipe } from "./run/recipe.ts";
export { readMovieLens } from "./data/movielens.ts";
export { readCriteo } from "./data/criteo.ts";
// The file access the data readers are handed: Node's files, or bytes held in memory.
export type { DataFiles, ReadableFile } from "./data/files.ts";
export { nodeDataFiles } from "./cli/node_files.ts";
export { byteDataFiles } from "./data/byte_files.ts";
export { auc, logloss, accuracy, normalizedEntropy, calibration, computeMetrics } from "./metrics/metrics.ts";

// The kernels: opt in to the relaxed-SIMD GEMM (sets a V8 flag of the whole process; see docs/kernels.md).
export { enableRelaxedSimd, wasmFallbacks, type FallbackReason } from "./kernels/wasm.ts";
