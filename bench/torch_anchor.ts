// The PyTorch anchor of the benchmarks (issue 26): the strongest PyTorch this machine has, not
// one configuration picked by hand. bench/cli_train.bench.ts and bench/predict.bench.ts run
// bench/pytorch_dlrm.py under every configuration listed here and compare with the best one.
//
// Configurations: every torch found (pip's, for the `python3` on PATH, and Debian's
// python3-torch, for /usr/bin/python3; the same interpreter found twice counts once) × stock
// or tuned × each thread count.
//   stock  the environment as it is, less OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: set here to
//          pin OpenBLAS to a core, they make it skip the kernels it would pick for this CPU
//          (an earlier anchor ran with them and measured a handicapped PyTorch). They are
//          removed for the PyTorch child process alone, never for tests or CI.
//   tuned  stock + what PyTorch's CPU performance tuning guide recommends for the allocator:
//          jemalloc through LD_PRELOAD with the guide's MALLOC_CONF, and transparent huge
//          pages where a process may ask for them (the machine's mode is `always` or
//          `madvise`): jemalloc's thp:always and torch's THP_MEM_ALLOC_ENABLE=1 (torch ≥ 2.1
//          madvises its large CPU buffers). The machine's THP mode itself is never changed.
// Nothing is installed from here. What installs the pieces (docs/benchmarks.md says the same):
//   apt-get install -y python3-torch libopenblas0-openmp libjemalloc2   # Debian's torch, its OpenMP OpenBLAS, jemalloc
//   python3 -m pip install torch                                         # pip's torch for the pyenv python3
// Every PyTorch process reports what it loaded (pytorch_dlrm.py's `runtime`): checkRuntime
// turns that into the checks a row is reported with (which BLAS and core, jemalloc, huge pages).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PYTORCH_SCRIPT = fileURLToPath(new URL("./pytorch_dlrm.py", import.meta.url));

/** The variables that pin OpenBLAS to a core: removed for every PyTorch child. */
const OPENBLAS_PINS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] as const;

/** MALLOC_CONF of PyTorch's CPU tuning guide (jemalloc section). */
const GUIDE_MALLOC_CONF =
  "oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:9000000000,muzzy_decay_ms:9000000000";

/** One torch installation: the interpreter that imports it and what it is. */
export interface TorchInstall {
  /** "pip" (site-packages of a Python of its own) or "Debian" (python3-torch). */
  source: "pip" | "Debian";
  python: string;
  version: string;
}

/** One PyTorch configuration to run. */
export interface TorchConfig {
  /** Short, unique: "pip 2.13.0+cpu, tuned, 2 threads". */
  label: string;
  install: TorchInstall;
  tuned: boolean;
  threads: number;
  env: NodeJS.ProcessEnv;
}

/** What bench/pytorch_dlrm.py's runtime_info() reports (the fields read here). */
export interface TorchRuntime {
  torch: string;
  cpuCapability: string | null;
  build: Record<string, string>;
  mkl: string | null;
  onednn: string | null;
  libs: string[];
  openblas: { library: string; config: string; core: string; parallel: string } | null;
  jemalloc: boolean;
  env: Record<string, string>;
  thp: { mode: string | null; anonHugePagesMiB: number | null };
}

/** The torches of this machine, and why any expected one is missing. */
export function findTorches(): { installs: TorchInstall[]; missing: string[] } {
  const installs: TorchInstall[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(
      candidate,
      [
        "-c",
        "import os, sys, torch; print(sys.executable); print(torch.__version__); print(os.path.dirname(torch.__file__))",
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) {
      const why = r.error?.message ?? (r.stderr ?? "").trim().split("\n").pop() ?? "";
      missing.push(`\`${candidate} -c "import torch"\` failed: ${why}`);
      continue;
    }
    const [python, version, dir] = r.stdout.trim().split("\n") as [string, string, string];
    if (seen.has(dir)) continue;
    seen.add(dir);
    installs.push({ source: dir.startsWith("/usr/lib/python3/") ? "Debian" : "pip", python, version });
  }
  return { installs, missing };
}

/** jemalloc's shared library as the dynamic linker knows it, or null. */
function jemallocPath(): string | null {
  const r = spawnSync("ldconfig", ["-p"], { encoding: "utf8" });
  const m = /libjemalloc\.so\.2 \([^)]*\) => (\S+)/.exec(r.stdout ?? "");
  return m?.[1] !== undefined && existsSync(m[1]) ? m[1] : null;
}

/** The machine's transparent-huge-page mode (always, madvise, never), or null. */
export function thpMode(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The OPENBLAS_* pins this process's environment has (reported: they are what handicapped the old anchor). */
export function openblasPinsSet(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of OPENBLAS_PINS) if (process.env[k] !== undefined) out[k] = process.env[k] as string;
  return out;
}

/** The tuned environment's additions, or why there is none. */
export function tuning(): { env: Record<string, string>; note: string } | { env: null; note: string } {
  const jemalloc = jemallocPath();
  if (jemalloc === null) return { env: null, note: "not run: no libjemalloc.so.2 (apt-get install -y libjemalloc2)" };
  const mode = thpMode();
  const thp = mode === "always" || mode === "madvise";
  const env: Record<string, string> = {
    LD_PRELOAD: [jemalloc, process.env["LD_PRELOAD"]].filter((x) => x !== undefined && x !== "").join(":"),
    MALLOC_CONF: thp ? `${GUIDE_MALLOC_CONF},thp:always` : GUIDE_MALLOC_CONF,
  };
  if (thp) env["THP_MEM_ALLOC_ENABLE"] = "1";
  return {
    env,
    note: `LD_PRELOAD=${jemalloc}, MALLOC_CONF=${env["MALLOC_CONF"]}${thp ? ", THP_MEM_ALLOC_ENABLE=1" : ""} (machine THP mode: ${mode ?? "unknown"}${thp ? "" : ", so no huge pages"})`,
  };
}

/** Every configuration: each install × stock/tuned × each thread count. */
export function torchConfigs(installs: readonly TorchInstall[], threads: readonly number[]): TorchConfig[] {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of OPENBLAS_PINS) delete base[k];
  const tuned = tuning();
  const out: TorchConfig[] = [];
  for (const install of installs)
    for (const isTuned of tuned.env === null ? [false] : [false, true])
      for (const t of threads)
        out.push({
          label: `${install.source} torch ${install.version}, ${isTuned ? "tuned" : "stock"}, ${t} thread${t === 1 ? "" : "s"}`,
          install,
          tuned: isTuned,
          threads: t,
          env: isTuned ? { ...base, ...tuned.env } : base,
        });
  return out;
}

/**
 * What a row ran with, checked against what its configuration meant to run: a handicap found
 * here (a reference BLAS, an OpenBLAS pin, a tuned row without jemalloc or huge pages) is
 * printed with the row, so that no figure silently compares against a handicapped peer.
 */
export function checkRuntime(config: TorchConfig, rt: TorchRuntime | undefined): { found: string; problems: string[] } {
  if (rt === undefined) return { found: "no runtime report", problems: ["the process printed no runtime report"] };
  const problems: string[] = [];
  const blas =
    rt.openblas !== null
      ? `OpenBLAS (${rt.openblas.parallel}, core ${rt.openblas.core}; ${rt.openblas.config.trim()})`
      : rt.build["BLAS_INFO"] === "mkl"
        ? `MKL (${rt.mkl ?? "version unknown"})`
        : `BLAS_INFO=${rt.build["BLAS_INFO"] ?? "?"}, loaded: ${rt.libs.filter((l) => /blas/.test(l)).join(", ") || "none"}`;
  if (rt.openblas === null && rt.build["BLAS_INFO"] !== "mkl")
    problems.push(`no optimised BLAS loaded (${blas}): apt-get install -y libopenblas0-openmp`);
  if (rt.openblas !== null && rt.openblas.parallel !== "OpenMP")
    problems.push(`OpenBLAS is the ${rt.openblas.parallel} build, not the OpenMP one torch's threads share`);
  for (const k of OPENBLAS_PINS) if (rt.env[k] !== undefined) problems.push(`${k}=${rt.env[k]} was set`);
  if (config.tuned && !rt.jemalloc) problems.push("tuned, but jemalloc is not loaded");
  const huge = rt.thp.anonHugePagesMiB;
  if (config.tuned && (rt.thp.mode === "always" || rt.thp.mode === "madvise") && !(huge !== null && huge > 0))
    problems.push("tuned, but no memory in transparent huge pages");
  const found =
    `torch ${rt.torch}, ${blas}, CPU capability ${rt.cpuCapability ?? "?"}, oneDNN ${rt.onednn ?? "none"}; ` +
    `${rt.jemalloc ? "jemalloc" : "glibc malloc"}; huge pages ${huge === null ? "?" : `${huge} MiB`} (THP ${rt.thp.mode ?? "?"})`;
  return { found, problems };
}

/** The last stdout line of pytorch_dlrm.py as JSON, or null. */
export function lastJson<T>(stdout: string): T | null {
  const line = stdout.trim().split("\n").pop() ?? "";
  if (!line.startsWith("{")) return null;
  try {
    return JSON.parse(line) as T;
  } catch {
    return null;
  }
}

/** pytorch_dlrm.py --probe under one install: its runtime, MKL/oneDNN verbose lines and GEMM rates. */
export function probeTorch(install: TorchInstall, env: NodeJS.ProcessEnv): unknown {
  const r = spawnSync(install.python, [PYTORCH_SCRIPT, "--probe"], { encoding: "utf8", env, timeout: 300_000 });
  return lastJson(r.stdout ?? "") ?? { error: (r.stderr ?? "").trim().split("\n").slice(-3).join(" | ") };
}
