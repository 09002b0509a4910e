#!/usr/bin/env python3
"""PyTorch speed peer for the tempo-bench tensor engine.

    python benchmarks/pytorch_peer.py [--json]

Measures, on CPU with 2 intra-op threads, the same figures the Swift bench
reports so the two can be compared side by side:

  gemm.1024       GFLOPS of a 1024^3 float32 matmul (best of several runs)
  conv3d.fwd      GFLOPS, Conv3d(64, 64, 3, padding=1, bias=False), input 8x64x8x32x32
  conv3d.bwd      GFLOPS of the backward pass (input + weight grads = 2x fwd FLOPs),
                  time = median(fwd+bwd) - median(fwd)
  r3d18.step.32   ms per SGD training step of torchvision r3d_18(num_classes=128),
  r3d18.step.64   batch 8, input 3x8x32x32 resp. 3x8x64x64, loss = (out**2).mean()

With --json, one JSON object per line:
  {"figure": NAME, "value": X, "unit": U, "config": {...}}
otherwise a readable table.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torchvision

THREADS = 2


def now():
    return time.perf_counter()


def timeit(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = now()
        fn()
        times.append(now() - t0)
    return times


def bench_gemm(n=1024, warmup=3, runs=10):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g, dtype=torch.float32)
    b = torch.randn(n, n, generator=g, dtype=torch.float32)
    c = torch.empty(n, n, dtype=torch.float32)

    def run():
        torch.mm(a, b, out=c)

    times = timeit(run, warmup, runs)
    flops = 2.0 * n * n * n
    best = min(times)
    return {
        "figure": f"gemm.{n}",
        "value": round(flops / best / 1e9, 2),
        "unit": "GFLOPS",
        "config": {"m": n, "n": n, "k": n, "dtype": "float32", "stat": "best",
                   "runs": runs, "warmup": warmup,
                   "best_ms": round(best * 1e3, 3),
                   "median_ms": round(statistics.median(times) * 1e3, 3)},
    }


def bench_conv3d(warmup=2, runs=7):
    N, C, D, H, W = 8, 64, 8, 32, 32
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(C, C, 3, padding=1, bias=False)
    x = torch.randn(N, C, D, H, W, requires_grad=True)
    y = conv(x)
    gy = torch.randn_like(y)
    _, Co, Do, Ho, Wo = y.shape
    fwd_flops = 2.0 * N * Co * Do * Ho * Wo * C * 27
    bwd_flops = 2.0 * fwd_flops

    def fwd():
        with torch.no_grad():
            conv(x)

    def fwd_bwd():
        x.grad = None
        conv.weight.grad = None
        out = conv(x)
        out.backward(gy)

    # Interleave so that slow drifts (other load, thermal) hit both equally.
    for _ in range(warmup):
        fwd()
        fwd_bwd()
    t_f, t_fb = [], []
    for _ in range(runs):
        t0 = now(); fwd(); t_f.append(now() - t0)
        t0 = now(); fwd_bwd(); t_fb.append(now() - t0)
    mf = statistics.median(t_f)
    mfb = statistics.median(t_fb)
    mb = mfb - mf
    cfg = {"N": N, "Ci": C, "Co": C, "D": D, "H": H, "W": W, "kernel": "3,3,3",
           "padding": "1,1,1", "bias": False, "stat": "median", "runs": runs,
           "warmup": warmup}
    return [
        {"figure": "conv3d.fwd", "value": round(fwd_flops / mf / 1e9, 2), "unit": "GFLOPS",
         "config": dict(cfg, flops=fwd_flops, median_ms=round(mf * 1e3, 2),
                        forward="torch.no_grad()")},
        {"figure": "conv3d.bwd", "value": round(bwd_flops / mb / 1e9, 2), "unit": "GFLOPS",
         "config": dict(cfg, flops=bwd_flops, median_ms=round(mb * 1e3, 2),
                        fwd_bwd_median_ms=round(mfb * 1e3, 2),
                        method="median(fwd+bwd) - median(fwd)",
                        grads="input + weight")},
    ]


def bench_r3d18(size, batch=8, frames=8, warmup=2, runs=5):
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    model = r3d_18(weights=None, num_classes=128)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, frames, size, size)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = (out ** 2).mean()
        loss.backward()
        opt.step()

    times = timeit(step, warmup, runs)
    med = statistics.median(times)
    return {
        "figure": f"r3d18.step.{size}",
        "value": round(med * 1e3, 1),
        "unit": "ms",
        "config": {"model": "torchvision.models.video.r3d_18", "num_classes": 128,
                   "mode": "train", "batch": batch, "input": f"3x{frames}x{size}x{size}",
                   "loss": "(out**2).mean()", "optimizer": "SGD lr=0.01 momentum=0.9",
                   "step": "zero_grad+forward+backward+step", "stat": "median",
                   "runs": runs, "warmup": warmup,
                   "min_ms": round(min(times) * 1e3, 1),
                   "max_ms": round(max(times) * 1e3, 1)},
    }


def parallel_backend():
    for line in torch.__config__.parallel_info().splitlines():
        if line.startswith("ATen parallel backend:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args()

    torch.set_num_threads(THREADS)

    def emit(rec):
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            cfg = rec.get("config", {})
            extra = ""
            if cfg.get("stat") == "best":
                extra = f"best {cfg['best_ms']} ms, median {cfg['median_ms']} ms"
            elif "median_ms" in cfg:
                extra = f"median {cfg['median_ms']} ms"
            elif "min_ms" in cfg:
                extra = f"min {cfg['min_ms']} / max {cfg['max_ms']} ms"
            print(f"{rec['figure']:<16} {str(rec['value']):>14} {rec.get('unit', ''):<7} {extra}",
                  flush=True)

    if not args.json:
        print(f"{'figure':<16} {'value':>14} {'unit':<7} detail")
        print("-" * 60)

    emit({"figure": "torch.version", "value": torch.__version__, "unit": "",
          "config": {"torchvision": torchvision.__version__, "python": platform.python_version(),
                     "mkldnn": torch.backends.mkldnn.is_available(),
                     "parallel_backend": parallel_backend(),
                     "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                     "blas": "mkl" if torch.backends.mkl.is_available() else "other"}})
    emit({"figure": "torch.threads", "value": torch.get_num_threads(), "unit": "threads",
          "config": {"interop_threads": torch.get_num_interop_threads(),
                     "cpu_count": os.cpu_count()}})
    emit(bench_gemm())
    for rec in bench_conv3d():
        emit(rec)
    emit(bench_r3d18(32))
    emit(bench_r3d18(64))
    return 0


if __name__ == "__main__":
    sys.exit(main())
