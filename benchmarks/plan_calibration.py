#!/usr/bin/env python3
"""Fits `bench plan`'s CPU cost model to the stage wall times of a finished run.

    .build/release/bench plan all --scale ci --json > plan.jsonl
    python3 benchmarks/plan_calibration.py plan.jsonl [more.jsonl ...]

Each line is a distinct stage with its training and evaluation multiply-adds
(`train_macs`, `eval_macs`) and, once it ran, its stored `wall_seconds`. The model is

    seconds = train_macs / R_train + eval_macs / R_eval + c

fitted by least squares on the relative error (each stage weighs the same, whatever its
length) with all three terms non-negative. It prints R_train, R_eval (GMAC/s) and c (s),
then each stage's measured and predicted seconds, and the whole run's total both ways.
No dependency beyond the standard library.
"""
import json
import sys


def solve3(a, b):
    """Solves the 3x3 system a x = b (Gaussian elimination with partial pivoting)."""
    m = [row[:] + [v] for row, v in zip(a, b)]
    n = len(m)
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        if abs(m[i][i]) < 1e-300:
            raise ValueError("singular system")
        for r in range(n):
            if r != i:
                f = m[r][i] / m[i][i]
                m[r] = [x - f * y for x, y in zip(m[r], m[i])]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(rows, use):
    """Weighted least squares over the columns in `use` (subset of 0: train, 1: eval, 2: constant)."""
    k = len(use)
    ata = [[0.0] * k for _ in range(k)]
    atb = [0.0] * k
    for x, y in rows:
        w = 1.0 / y  # between absolute (long stages dominate) and relative error
        for i in range(k):
            atb[i] += w * x[use[i]] * y
            for j in range(k):
                ata[i][j] += w * x[use[i]] * x[use[j]]
    sol = solve3(ata, atb) if k == 3 else solve_small(ata, atb)
    coef = [0.0, 0.0, 0.0]
    for i, c in zip(use, sol):
        coef[i] = c
    return coef


def solve_small(a, b):
    k = len(b)
    if k == 1:
        return [b[0] / a[0][0]]
    det = a[0][0] * a[1][1] - a[0][1] * a[1][0]
    return [(b[0] * a[1][1] - a[0][1] * b[1]) / det, (a[0][0] * b[1] - a[1][0] * b[0]) / det]


def main(paths):
    stages = []
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    stages.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: not a JSON line: {e}")
    rows = [((s["train_macs"], s["eval_macs"], 1.0), s["wall_seconds"], s)
            for s in stages if "wall_seconds" in s and "train_macs" in s and s["wall_seconds"] > 0]
    if len(rows) < 3:
        sys.exit("need at least 3 finished stages with estimates")
    data = [(x, y) for x, y, _ in rows]
    best = None
    # Every subset of non-negative terms; keep the feasible one with the least squared relative error.
    for use in ([0, 1, 2], [0, 1], [0, 2], [1, 2], [0], [1], [2]):
        try:
            coef = fit(data, use)
        except (ValueError, ZeroDivisionError):
            continue
        if any(c < 0 for c in coef):
            continue
        err = sum(((sum(c * v for c, v in zip(coef, x)) - y) / y) ** 2 for x, y in data)
        if best is None or err < best[0]:
            best = (err, coef)
    _, (a, b, c) = best
    print(f"R_train = {1 / a / 1e9:.2f} GMAC/s" if a > 0 else "R_train = unbounded (no training term)")
    print(f"R_eval  = {1 / b / 1e9:.2f} GMAC/s" if b > 0 else "R_eval  = unbounded (no evaluation term)")
    print(f"c       = {c:.2f} s a stage")
    measured = predicted = 0.0
    for x, y, s in sorted(rows, key=lambda r: r[2]["key"]):
        p = a * x[0] + b * x[1] + c
        measured += y
        predicted += p
        print(f"  {s['key']:<55} measured {y:7.1f} s  model {p:7.1f} s  ({100 * (p - y) / y:+.0f} %)")
    print(f"total over {len(rows)} stages: measured {measured / 60:.1f} min, model {predicted / 60:.1f} min "
          f"({100 * (predicted - measured) / measured:+.1f} %)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
