"""The PyTorch anchor of bench/cli_train.bench.ts: the Kaggle-shaped DLRM trained with plain
PyTorch, written from the description of the reference DLRM_Net (facebookresearch/dlrm,
dlrm_s_pytorch.py) rather than copied from it, so that `dlrm train` can be compared with
what the reference model gets from the same machine in the same minutes.

The model, as the reference builds it for `--arch-interaction-op=dot --loss-function=bce`:
  - 26 nn.EmbeddingBag(R, E, mode="sum", sparse=True) tables, weights uniform in
    ±sqrt(1/R) (the reference draws them with numpy in float64 and copies; here they are
    drawn in place with uniform_, the same distribution without a float64 temporary of
    the biggest table);
  - bottom and top MLPs of nn.Linear + ReLU, weights normal(0, sqrt(2/(m+n))), biases
    normal(0, sqrt(1/m)), a sigmoid after the last top layer;
  - dot interaction: T = [x, pooled_1 … pooled_F] as (B, F+1, E), Z = T·Tᵀ, the strict
    lower triangle of Z (no self-interaction) after x;
  - BCE loss (mean), torch.optim.SGD: the tables get sparse gradients, the MLPs dense ones.

Data: random, like `dlrm train --data random --num-indices-per-lookup 1
--num-indices-per-lookup-fixed`: dense features uniform in [0, 1), one index per bag,
labels 0/1, generated before the first step (steps × batch samples).

    python3 bench/pytorch_dlrm.py --batch 128 --steps 500 --warmup 300 [--threads 2]
        [--rows-cap R] [--log steps.jsonl] [--seed 7]
    python3 bench/pytorch_dlrm.py --predict 1,64,2048 [--threads 1] [--seconds 2]
    python3 bench/pytorch_dlrm.py --probe

Any Python with torch runs it: bench/torch_anchor.ts runs it under every torch of the machine
(pip's for `python3`, Debian's for /usr/bin/python3), stock and tuned. It installs nothing.

Prints progress on stderr and one JSON object on the last stdout line: samples/s from the
median step after the warm-up, start to first step (from this process's start, read from
/proc), the run's wall time, peak RSS (ru_maxrss), and `runtime`: what this very process
loaded and ran with (runtime_info below), so that every row of a benchmark says which BLAS,
kernels and allocator it measured. With --log, one JSON line per step ({"step", "loss",
"t_ms"}) is flushed as the step ends, so the caller can watch it. --probe prints only the
runtime, plus which code path MKL and oneDNN report for one GEMM (their verbose modes, in a
child process) and this torch's GEMM rate on the MLP shapes.

Glossary: B batch, Dd dense features, E embedding dim, F tables, R rows of a table.
"""

import argparse
import ctypes
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

KAGGLE_TABLES = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15,
    286181, 105, 142572,
]
BOTTOM = [13, 512, 256, 64, 16]
TOP = [367, 512, 256, 1]
E = 16


# Shared libraries whose presence says which BLAS, threading runtime and allocator a process runs.
INTERESTING_LIBS = re.compile(r"blas|lapack|mkl|gomp|iomp|dnnl|fbgemm|jemalloc|tcmalloc")
# Environment variables that change what those libraries do.
INTERESTING_ENV = re.compile(r"^(OPENBLAS_|OMP_|MKL_|KMP_|GOMP_|MALLOC_CONF$|LD_PRELOAD$|ONEDNN_|DNNL_|ATEN_)")


def loaded_libs():
    """The shared objects mapped into this process (/proc/self/maps) that matter for speed."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if INTERESTING_LIBS.search(os.path.basename(p)))


def openblas_info(libs):
    """OpenBLAS's own account of itself (build, the core whose kernels it picked, threading), from
    whichever loaded library exports openblas_get_config (Debian names it libblas.so.3), or None."""
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            get_config = lib.openblas_get_config
        except (OSError, AttributeError):
            continue
        get_config.restype = ctypes.c_char_p
        corename = lib.openblas_get_corename
        corename.restype = ctypes.c_char_p
        parallel = {0: "sequential", 1: "pthreads", 2: "OpenMP"}.get(lib.openblas_get_parallel(), "unknown")
        return {"library": path, "config": get_config().decode(), "core": corename().decode(), "parallel": parallel}
    return None


def thp_info():
    """The machine's transparent-huge-page mode and how much of this process's memory is in huge pages."""
    out = {}
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            out["mode"] = re.search(r"\[(\w+)\]", f.read()).group(1)
    except (OSError, AttributeError):
        out["mode"] = None
    try:
        with open("/proc/self/smaps_rollup") as f:
            m = re.search(r"^AnonHugePages:\s+(\d+) kB", f.read(), re.M)
        out["anonHugePagesMiB"] = None if m is None else round(int(m.group(1)) / 1024.0, 1)
    except OSError:
        out["anonHugePagesMiB"] = None
    return out


def runtime_info():
    """What this process runs with: torch's build (BLAS, CPU capability, MKL, oneDNN), the BLAS,
    threading and allocator libraries it loaded, OpenBLAS's chosen core, the environment that
    steers them, and transparent huge pages."""
    config = torch.__config__.show()
    build = dict(re.findall(r"(BLAS_INFO|LAPACK_INFO|USE_MKL|USE_MKLDNN|USE_FBGEMM|USE_OPENMP)=([^,\s]+)", config))
    capability = re.search(r"CPU capability usage: (\S+)", config)
    mkl = re.search(r"(Intel\(R\) (?:oneAPI )?Math Kernel Library[^\n]*)", config)
    dnnl = re.search(r"(Intel\(R\) MKL-DNN v[\d.]+)", config)
    libs = loaded_libs()
    return {
        "python": sys.executable,
        "torch": torch.__version__,
        "torchPath": os.path.dirname(torch.__file__),
        "build": build,
        "cpuCapability": capability.group(1) if capability else None,
        "mkl": mkl.group(1).strip() if mkl else None,
        "mklAvailable": torch.backends.mkl.is_available(),
        "onednn": dnnl.group(1) if dnnl else None,
        "onednnAvailable": torch.backends.mkldnn.is_available(),
        "threads": torch.get_num_threads(),
        "libs": libs,
        "openblas": openblas_info(libs),
        "jemalloc": any("jemalloc" in p for p in libs),
        "env": {k: v for k, v in sorted(os.environ.items()) if INTERESTING_ENV.search(k)},
        "thp": thp_info(),
    }


def verbose_paths():
    """Which code path MKL and oneDNN report for one float32 Linear, from their verbose modes
    (MKL_VERBOSE names the instruction set it dispatched to in its first line; ONEDNN_VERBOSE
    its `isa`). Run in a child: both read the variable when they load."""
    code = "import torch; x = torch.rand(256, 367); w = torch.rand(512, 367); torch.nn.functional.linear(x, w)"
    env = dict(os.environ, MKL_VERBOSE="1", ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    lines = (r.stdout + r.stderr).splitlines()
    mkl = [l for l in lines if l.startswith("MKL_VERBOSE")]
    isa = [l for l in lines if re.search(r"(onednn|dnnl)_verbose,.*isa", l)]
    return {"mkl": mkl[:3], "onednn": isa[:1]}


def gemm_rates(threads):
    """GFLOP/s of this torch's float32 Linear forward on the MLP's widest shapes (fastest of 20 calls)."""
    torch.set_num_threads(threads)
    out = []
    for M, K, N in [(128, 367, 512), (2048, 367, 512), (2048, 512, 256), (512, 512, 512)]:
        x, w = torch.rand(M, K), torch.rand(N, K)
        for _ in range(5):
            torch.nn.functional.linear(x, w)
        best = float("inf")
        for _ in range(20):
            t0 = time.perf_counter()
            torch.nn.functional.linear(x, w)
            best = min(best, time.perf_counter() - t0)
        out.append({"M": M, "K": K, "N": N, "threads": threads, "gflops": round(2 * M * N * K / best / 1e9, 1)})
    return out


def process_start_ms_ago():
    """How long ago (ms) the kernel started this process: /proc/self/stat field 22 (clock ticks since boot) against /proc/uptime."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            uptime_s = float(f.read().split()[0])
        return (uptime_s - start_s) * 1000.0
    except (OSError, ValueError, IndexError):
        return 0.0


# The script's clock starts at the process's start, as Node's performance.now() does.
T0 = time.perf_counter() - process_start_ms_ago() / 1000.0


def now_ms():
    return (time.perf_counter() - T0) * 1000.0


def mlp(widths, sigmoid_last):
    layers = []
    for n, m in zip(widths[:-1], widths[1:]):
        lin = nn.Linear(n, m, bias=True)
        with torch.no_grad():
            lin.weight.normal_(0.0, (2.0 / (m + n)) ** 0.5)
            lin.bias.normal_(0.0, (1.0 / m) ** 0.5)
        layers.append(lin)
        layers.append(nn.ReLU())
    if sigmoid_last:
        layers[-1] = nn.Sigmoid()
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self, table_sizes):
        super().__init__()
        self.bottom = mlp(BOTTOM, sigmoid_last=False)
        self.top = mlp(TOP, sigmoid_last=True)
        self.tables = nn.ModuleList()
        for R in table_sizes:
            bag = nn.EmbeddingBag(R, E, mode="sum", sparse=True)
            with torch.no_grad():
                bag.weight.uniform_(-((1.0 / R) ** 0.5), (1.0 / R) ** 0.5)
            self.tables.append(bag)
        F1 = len(table_sizes) + 1
        # strict lower triangle of the (F+1, F+1) dot products, row by row
        rows, cols = torch.tril_indices(F1, F1, offset=-1)
        self.register_buffer("tri_rows", rows)
        self.register_buffer("tri_cols", cols)

    def forward(self, dense, indices, offsets):
        x = self.bottom(dense)  # (B, E)
        pooled = [t(indices[k], offsets) for k, t in enumerate(self.tables)]  # F × (B, E)
        B = dense.shape[0]
        T = torch.cat([x] + pooled, dim=1).view(B, -1, E)  # (B, F+1, E)
        Z = torch.bmm(T, T.transpose(1, 2))  # (B, F+1, F+1)
        R = torch.cat([x, Z[:, self.tri_rows, self.tri_cols]], dim=1)  # (B, 367)
        return self.top(R).view(-1)  # (B,)


def main():
    ap = argparse.ArgumentParser(description="PyTorch DLRM anchor for bench/cli_train.bench.ts")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=500, help="steps in all, warm-up included")
    ap.add_argument("--warmup", type=int, default=100, help="first steps left out of the rate")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--rows-cap", type=int, default=0, help="at most this many rows per table (0: the full Kaggle tables)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--log", default=None)
    ap.add_argument("--predict", default=None, help="batch sizes, comma-separated: time inference (no_grad, eval) instead of training")
    ap.add_argument("--seconds", type=float, default=2.0, help="--predict: time spent per batch size")
    ap.add_argument("--probe", action="store_true", help="print what this torch runs with, its GEMM paths and rates")
    a = ap.parse_args()
    if a.probe:
        print(json.dumps({"runtime": runtime_info(), "verbose": verbose_paths(), "gemm": gemm_rates(1) + gemm_rates(2)}))
        return
    if a.predict is not None:
        predict_bench(a)
        return
    if a.steps < 1 or a.warmup < 0 or a.steps <= a.warmup:
        sys.exit(f"pytorch_dlrm.py: need 0 <= --warmup ({a.warmup}) < --steps ({a.steps})")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sizes = [min(R, a.rows_cap) if a.rows_cap > 0 else R for R in KAGGLE_TABLES]
    model = DLRM(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = nn.BCELoss(reduction="mean")

    B, S = a.batch, a.steps
    dense = torch.rand(S * B, BOTTOM[0])  # (S·B, Dd)
    indices = torch.stack([torch.randint(0, R, (S * B,)) for R in sizes])  # (F, S·B), one per bag
    labels = torch.randint(0, 2, (S * B,)).float()  # (S·B,)
    offsets = torch.arange(B)  # one index per bag
    print(f"pytorch_dlrm: {len(sizes)} tables, {sum(sizes):,} rows, batch {B}, {S} steps, {a.threads} threads, torch {torch.__version__}", file=sys.stderr)

    log = open(a.log, "w") if a.log else None
    ends = []
    for s in range(S):
        lo, hi = s * B, (s + 1) * B
        opt.zero_grad(set_to_none=True)
        p = model(dense[lo:hi], indices[:, lo:hi], offsets)
        loss = loss_fn(p, labels[lo:hi])
        loss.backward()
        opt.step()
        t = now_ms()
        ends.append(t)
        if log is not None:
            log.write(json.dumps({"step": s, "loss": loss.item(), "t_ms": t}) + "\n")
            log.flush()
    if log is not None:
        log.close()

    steps_ms = [b - a_ for a_, b in zip(ends[a.warmup:-1], ends[a.warmup + 1:])]
    med = statistics.median(steps_ms) if steps_ms else None  # a 1-step run has no step interval
    out = {
        "program": "pytorch",
        "torch": torch.__version__,
        "threads": a.threads,
        "batch": B,
        "steps": S,
        "warmup": a.warmup,
        "rowsCap": a.rows_cap,
        "msPerStepMedian": None if med is None else round(med, 3),
        "samplesPerSec": None if med is None else round(B / (med / 1000.0), 1),
        "firstStepMs": round(ends[0], 1),
        "wallMs": round(now_ms(), 1),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "runtime": runtime_info(),
    }
    print(json.dumps(out))


def predict_bench(a):
    """Inference of the same model: per batch size, forward passes under torch.no_grad() for
    about --seconds (after up to 50 warm-up calls); samples/s from the median call, and at each size
    the p50 and p99 latency of one call in ms."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sizes = [min(R, a.rows_cap) if a.rows_cap > 0 else R for R in KAGGLE_TABLES]
    model = DLRM(sizes).eval()
    results = []
    with torch.no_grad():
        for B in [int(x) for x in a.predict.split(",")]:
            dense = torch.rand(B, BOTTOM[0])
            indices = torch.stack([torch.randint(0, R, (B,)) for R in sizes])
            offsets = torch.arange(B)
            w0 = time.perf_counter()
            for i in range(50):  # 50 warm-up calls, or as many as fit in --seconds (at least 5)
                if i >= 5 and time.perf_counter() - w0 > a.seconds:
                    break
                model(dense, indices, offsets)
            times = []
            start = time.perf_counter()
            while time.perf_counter() - start < a.seconds or len(times) < 20:
                t0 = time.perf_counter()
                model(dense, indices, offsets)
                times.append((time.perf_counter() - t0) * 1000.0)
            times.sort()
            med = statistics.median(times)
            results.append({
                "batch": B,
                "calls": len(times),
                "samplesPerSec": round(B / (med / 1000.0), 1),
                "p50Ms": round(med, 4),
                "p99Ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 4),
            })
    print(json.dumps({"program": "pytorch", "torch": torch.__version__, "threads": a.threads, "rowsCap": a.rows_cap, "results": results, "runtime": runtime_info()}))


if __name__ == "__main__":
    main()
