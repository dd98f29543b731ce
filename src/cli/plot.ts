// dlrm plot run.jsonl [more.jsonl ...] --out curves.svg: the training curves of one or more
// `dlrm train --log` files, overlaid in one SVG (src/plot/svg.ts). Each file's runs are named
// after it (its name without .jsonl; the path as given when two files share a name).
// `dlrm train --plot` writes the same picture of its own run through writePlot. The paths are
// checked before any work (src/cli/paths.ts) and the SVG replaces the old one atomically.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { getBool, getString, helpText, parseArgs, UsageError, type FlagSpecs, type Io } from "./args.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { checkOutputs } from "./paths.ts";
import { parseRunLog, type Run } from "../plot/runlog.ts";
import { OpError } from "../tensor/shape.ts";
import { plotRunsSvg } from "../plot/svg.ts";

const PLOT_FLAGS: FlagSpecs = {
  out: { type: "string", placeholder: "curves.svg", help: "the SVG file to write (required)" },
  title: { type: "string", placeholder: "text", help: "a heading above the legend (default none)" },
  help: { type: "bool", help: "show this help" },
};

const USAGE = "Usage: dlrm plot <run.jsonl> [more.jsonl ...] --out <curves.svg> [flags]";
const ABOUT =
  "Draw the training loss (smoothed as the progress bar smooths it) and the held-out AUC, logloss, NE, calibration and accuracy of each evaluation " +
  "from dlrm train --log files, several runs overlaid with a legend, as a plain SVG file.";

export async function runPlot(argv: readonly string[], io: Io): Promise<number> {
  const { flags: f, args: files } = parseArgs("plot", argv, PLOT_FLAGS, true);
  if (getBool(f, "help")) {
    io.stdout.write(helpText(USAGE, ABOUT, PLOT_FLAGS));
    return 0;
  }
  const out = getString(f, "out");
  if (out === undefined) throw new UsageError("plot: --out is required");
  if (files.length === 0) throw new UsageError("plot: name at least one log file (written by dlrm train --log)");
  checkOutputs(
    "plot",
    [{ flag: "--out", path: out }],
    files.map((path) => ({ flag: "log file", path })),
  );
  const names = runNames(files);
  const logs = files.map((file, i) => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`plot: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return { name: names[i], text };
  });
  writePlot(out, logs, io, getString(f, "title"));
  return 0;
}

/** Parse the logs, draw them, write the SVG to `out` and say so on stderr. */
export function writePlot(out: string, logs: readonly { name: string; text: string }[], io: Io, title?: string): void {
  const runs: Run[] = logs.flatMap((l) => parseRunLog(l.text, l.name));
  if (runs.length === 0)
    throw new OpError(
      "plot",
      `no steps or evaluations in ${logs.map((l) => l.name).join(", ")} (is it a dlrm train --log file?)`,
    );
  const svg = plotRunsSvg(runs, title === undefined ? {} : { title });
  const bytes = new TextEncoder().encode(svg);
  try {
    writeFileAtomically(out, (write) => write(bytes)); // a failed write leaves the old picture
  } catch (e) {
    throw new Error(`plot: cannot write ${out}: ${e instanceof Error ? e.message : String(e)}`);
  }
  io.stderr.write(`dlrm plot: wrote ${runs.length} run${runs.length === 1 ? "" : "s"} to ${out}\n`);
}

/** The name of the run a log file holds: the file's name without .jsonl. */
export function runName(file: string): string {
  return basename(file).replace(/\.jsonl$/, "");
}

/** runName of each file; the paths as given when two files would get the same name. */
function runNames(files: readonly string[]): string[] {
  const short = files.map(runName);
  return new Set(short).size === short.length ? short : [...files];
}
