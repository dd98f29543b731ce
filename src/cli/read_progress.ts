// Progress of reading a big text file, by bytes: what `dlrm preprocess` and `dlrm train
// --data criteo:…` show while a Criteo file streams in (the Kaggle file is 11 GB). On a
// terminal one line is redrawn in place, at most every 100 ms:
//
//   read criteo [=========               ] 38%  4.1/11.0 GB  17.2M lines  98k lines/s  eta 1m10s
//
// elsewhere (a pipe, a log file, CI) a plain line each time another tenth of the bytes is
// read, and one at the end. Output goes to stderr so that stdout keeps only results.

import { CLEAR_TO_EOL, formatDuration, progressBar, REDRAW_MS } from "../train/progress.ts";

export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class ReadProgress {
  readonly #out: ProgressSink;
  readonly #tty: boolean;
  readonly #label: string;
  readonly #now: () => number;
  readonly #start: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastTenth = -1;
  #drawn = false;
  #lines = 0;
  #bytes = 0;
  #total = 0;

  constructor(out: ProgressSink, label: string, now: () => number = () => performance.now()) {
    this.#out = out;
    this.#tty = out.isTTY === true;
    this.#label = label;
    this.#now = now;
    this.#start = now();
  }

  /** Lines and bytes read so far, of bytesTotal. */
  update(lines: number, bytesRead: number, bytesTotal: number): void {
    this.#lines = lines;
    this.#bytes = bytesRead;
    this.#total = bytesTotal;
    const t = this.#now();
    if (this.#tty) {
      if (t - this.#lastDraw < REDRAW_MS && bytesRead < bytesTotal) return;
      this.#lastDraw = t;
      this.#out.write(`\r${this.#line(t)}${CLEAR_TO_EOL}`);
      this.#drawn = true;
      return;
    }
    const tenth = bytesTotal > 0 ? Math.floor((10 * bytesRead) / bytesTotal) : 10;
    if (tenth > this.#lastTenth) {
      this.#lastTenth = tenth;
      this.#out.write(`${this.#line(t)}\n`);
    }
  }

  /** Ends the display; on a terminal the line is finished with a newline. */
  done(): void {
    if (this.#tty && this.#drawn) this.#out.write(`\r${this.#line(this.#now())}${CLEAR_TO_EOL}\n`);
    this.#drawn = false;
  }

  #line(t: number): string {
    const seconds = (t - this.#start) / 1000;
    const fraction = this.#total > 0 ? Math.min(1, this.#bytes / this.#total) : 1;
    const rate = seconds > 0 ? `${count(this.#lines / seconds)} lines/s` : "- lines/s";
    const eta =
      fraction >= 1 ? "0s" : fraction > 0 && seconds > 0 ? formatDuration((seconds * (1 - fraction)) / fraction) : "-";
    return `${this.#label} ${progressBar(fraction)} ${Math.floor(100 * fraction)}%  ${bytesText(this.#bytes, this.#total)}  ${count(this.#lines)} lines  ${rate}  eta ${eta}`;
  }
}

/** "4.1/11.0 GB", in the unit of the total. */
function bytesText(bytes: number, total: number): string {
  const units: [number, string][] = [
    [1e9, "GB"],
    [1e6, "MB"],
    [1e3, "kB"],
  ];
  for (const [size, unit] of units) {
    if (total >= size) return `${(bytes / size).toFixed(1)}/${(total / size).toFixed(1)} ${unit}`;
  }
  return `${bytes}/${total} B`;
}

/** 17234567 → "17.2M", 98123 → "98k", 512 → "512". */
function count(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e4) return `${Math.round(x / 1e3)}k`;
  return String(Math.round(x));
}
