// The `dlrm` command: preprocess data, train and predict with DLRM from the command line.
//
//   dlrm train      [--model config.json] [--data file|random|synthetic|criteo:…|movielens:…|synthetic-trace:…] ...
//   dlrm predict    --model config.json --checkpoint ckpt.safetensors --data batches --out preds.safetensors [--quantize-emb-with-bit 8|4]
//   dlrm preprocess criteo <file...> --out batches.safetensors [--max-ind-range R] [--dictionary dict]
//   dlrm preprocess csv <file.csv|.tsv|.jsonl...> --schema schema.json --out batches.safetensors
//   dlrm convert    in.safetensors out.safetensors --to reference|torchrec [--dtype f32|f16|bf16 | --quantize-emb-with-bit 8|4]
//   dlrm export     --checkpoint ckpt.safetensors [--model config.json] --out model.onnx [--bag-size L]
//   dlrm plot       run.jsonl [more.jsonl ...] --out curves.svg
//   dlrm serve-demo [--dir docs/demo] [--host 127.0.0.1] [--port 8080]
//
// Results go to stdout (the last line of `train` is a JSON object); progress goes to
// stderr. Exit codes: 0 success, 1 an error in the inputs or the run, 2 a usage error.

import { fileURLToPath } from "node:url";
import { didYouMean, UsageError, type Io } from "./args.ts";
import { DataRequestError } from "../data/sources/registry.ts";
import { packageInfo } from "./package_root.ts";
import { runConvert } from "./convert.ts";
import { runExport } from "./export.ts";
import { runPlot } from "./plot.ts";
import { runPredict } from "./predict.ts";
import { runPreprocess } from "./preprocess.ts";
import { runServeDemo } from "./serve_demo.ts";
import { translateReferenceFlags } from "./reference_flags.ts";
import { runTrain } from "./train.ts";
import { enableRelaxedSimd } from "../kernels/wasm.ts";

const USAGE = `dlrm: train and run the Deep Learning Recommendation Model

Usage:
  dlrm train [flags]                 train a model
  dlrm predict [flags]               click probabilities for a batch file or a data set's test
                                     split, also with int8/int4 tables; --metrics: AUC, logloss
  dlrm preprocess criteo <file...>   raw Criteo logs to a batch file (or .bin) and its dictionary
  dlrm preprocess csv <file...>      your own click log through a schema to batch files
  dlrm convert <in> <out> --to reference|torchrec
                                     rename a checkpoint to TorchRec's DLRM names and back, or
                                     change its dtype; --quantize-emb-with-bit 8|4: int8/int4 tables
  dlrm export [flags]                a checkpoint's model as ONNX, for ONNX Runtime
  dlrm plot <run.jsonl...> --out f.svg
                                     training curves of dlrm train --log files as SVG
  dlrm serve-demo                    serve the browser demo, cross-origin isolated, on 127.0.0.1
  dlrm --version                     the version of dlrm-ts

dlrm <verb> --help lists a verb's flags. Held-out metrics (AUC, logloss, accuracy) come with
dlrm train's eval lines, and for a checkpoint with dlrm predict --metrics.
`;

export const VERBS = ["train", "predict", "preprocess", "convert", "export", "plot", "serve-demo"] as const;

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const [verb, ...rest] = argv;
  enableRelaxedSimd(); // the command, unlike the library, may set V8's process-wide flag (src/kernels/wasm.ts)
  try {
    if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
      io.stdout.write(USAGE);
      return verb === undefined ? 2 : 0;
    }
    if (verb === "--version" || verb === "-v" || verb === "version") {
      io.stdout.write(`dlrm-ts ${packageInfo().version}\n`);
      return 0;
    }
    if (verb === "train")
      return await runTrain(
        translateReferenceFlags("train", rest, (l) => io.stderr.write(l)),
        io,
      );
    if (verb === "predict")
      return await runPredict(
        translateReferenceFlags("predict", rest, (l) => io.stderr.write(l)),
        io,
      );
    if (verb === "preprocess") return await runPreprocess(rest, io);
    if (verb === "convert") return await runConvert(rest, io);
    if (verb === "export") return runExport(rest, io);
    if (verb === "plot") return await runPlot(rest, io);
    if (verb === "serve-demo") return await runServeDemo(rest, io);
    const near = /^eval(uate)?$/.test(verb) ? "predict --metrics" : didYouMean(verb, [...VERBS, "--version"]);
    throw new UsageError(
      `unknown verb "${verb}"${near === undefined ? "" : ` (did you mean ${near}?)`} (expected ${VERBS.slice(0, -1).join(", ")} or ${VERBS.at(-1)}; see dlrm --help)`,
    );
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr.write(`dlrm: ${escapeControl(err.message.split("\n")[0])}\n`);
    if (process.env.DLRM_DEBUG) io.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError || err instanceof DataRequestError ? 2 : 1;
  }
}

/** A message with the control characters a file may carry (in a name or a line echoed back)
 *  written as \xNN, so that printing it cannot move the cursor or recolour the terminal. */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// Run when executed directly (npm run dlrm, npm start); bin/dlrm.js imports main instead.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
