#!/usr/bin/env python3
"""Generate the AVA frame-mAP cross-check fixture for the Protocols tests.

Run from the repository root (needs numpy only):

    python Tests/ProtocolsTests/Fixtures/generate_ava.py

Writes next to this script a small random AVA-format problem and the answer of an
independent numpy implementation of the official ActivityNet evaluator
(`Evaluation/get_ava_performance.py` and its `ava/` helpers):

- `ava_labelmap.pbtxt`      8 evaluated classes (ids 1..12 with gaps)
- `ava_groundtruth.csv`     video_id,timestamp,x1,y1,x2,y2,action_id,person_id
- `ava_detections.csv`      video_id,timestamp,x1,y1,x2,y2,action_id,score
- `ava_exclusions.csv`      video_id,timestamp
- `ava_expected.json`       {"mAP": X, "per_class": {"ID": AP}} (classes with ground truth)

The problem exercises what the official evaluator does beyond plain matching: rows of
classes outside the label map, more than 50 detections in some keyframes, excluded
keyframes, detections in keyframes without ground truth, flipped (invalid) detection
boxes, duplicates, and a class of the label map without ground truth. Scores are
distinct, so the result does not depend on how ties are ordered.
"""

import heapq
import json
import os
from collections import defaultdict

import numpy as np

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
LABELS = {1: "bend/bow (at the waist)", 3: "dance", 4: "fall down", 5: "get up",
          7: "jump/leap", 9: "lie/sleep", 11: "sit", 12: "stand"}
CAP = 50


def make_problem(rng):
    videos = ["clipA_x1", "clipB-y2", "clipC_z3"]
    keyframes = [(v, t) for v in videos for t in range(902, 909)]
    gt, det = [], []
    all_classes = list(LABELS) + [2, 6, 60]          # 2, 6, 60 are not in the label map
    gt_classes = [c for c in LABELS if c != 9]       # class 9 never has ground truth
    for (v, t) in keyframes:
        if rng.random() < 0.15:
            continue                                  # keyframe without ground truth
        people = rng.integers(1, 5)
        for person in range(people):
            x1, y1 = rng.uniform(0, 0.6, size=2)
            w, h = rng.uniform(0.1, 0.4, size=2)
            box = [x1, y1, min(x1 + w, 1.0), min(y1 + h, 1.0)]
            actions = rng.choice(gt_classes + [2, 60], size=rng.integers(1, 4), replace=False)
            for a in actions:
                gt.append((v, t, *box, int(a), person))
            # Detections near this person for some of its actions and some others.
            for a in set(int(a) for a in actions) | set(int(c) for c in rng.choice(all_classes, size=2)):
                for _ in range(rng.integers(1, 3)):
                    jitter = rng.normal(0, 0.03, size=4)
                    det.append((v, t, *(np.array(box) + jitter), a, rng.random()))
    # Crowded keyframes: more than 50 detection rows of evaluated classes.
    for (v, t) in [keyframes[1], keyframes[9]]:
        for _ in range(80):
            x1, y1 = rng.uniform(0, 0.7, size=2)
            det.append((v, t, x1, y1, x1 + 0.2, y1 + 0.25, int(rng.choice(all_classes)), rng.uniform(0.3, 1.0)))
    # Detections in a keyframe that has no ground truth, and flipped boxes.
    for _ in range(6):
        det.append(("clipD_none", 905, 0.1, 0.1, 0.4, 0.5, int(rng.choice(list(LABELS))), rng.random()))
    for i in range(4):
        v, t = keyframes[3 * i]
        det.append((v, t, 0.5, 0.2, 0.3, 0.6, 11, rng.random()))
    order = rng.permutation(len(det))
    det = [det[i] for i in order]
    exclusions = [keyframes[2], keyframes[9], ("clipZ_unused", 1000)]
    return gt, det, exclusions


def write_csv(name, rows):
    with open(os.path.join(OUT_DIR, name), "w") as f:
        for row in rows:
            f.write(",".join(f"{float(c):.10f}" if isinstance(c, (float, np.floating)) else str(c) for c in row) + "\n")


# ---- Independent implementation of the official evaluation -------------------------

def key(v, t):
    return f"{v},{int(t):04d}"


def read_rows(path, whitelist, capacity):
    """Per keyframe, (score, action, y1, x1, y2, x2) in descending score; a min-heap of
    `capacity` entries when capacity > 0 (a row enters a full heap only with a higher
    score than the heap's least tuple)."""
    entries = defaultdict(list)
    with open(path) as f:
        for line in f:
            cols = line.strip().split(",")
            assert len(cols) in (7, 8)
            k = key(cols[0], cols[1])
            x1, y1, x2, y2 = map(float, cols[2:6])
            a = int(cols[6])
            if a not in whitelist:
                continue
            s = float(cols[7]) if len(cols) == 8 else 1.0
            item = (s, a, y1, x1, y2, x2)
            if capacity < 1 or len(entries[k]) < capacity:
                heapq.heappush(entries[k], item)
            elif s > entries[k][0][0]:
                heapq.heapreplace(entries[k], item)
    return {k: sorted(v, key=lambda e: -e[0]) for k, v in entries.items()}


def iou_matrix(a, b):
    a, b = np.asarray(a, dtype=float).reshape(-1, 4), np.asarray(b, dtype=float).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    ih = np.maximum(0.0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]))
    iw = np.maximum(0.0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]))
    inter = ih * iw
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def evaluate(gt_path, det_path, excl_path, whitelist):
    excluded = set()
    with open(excl_path) as f:
        for line in f:
            v, t = line.strip().split(",")
            excluded.add(key(v, t))
    gt = {k: v for k, v in read_rows(gt_path, whitelist, 0).items() if k not in excluded}
    det = {k: v for k, v in read_rows(det_path, whitelist, CAP).items() if k not in excluded}
    n_gt = defaultdict(int)
    for rows in gt.values():
        for r in rows:
            n_gt[r[1]] += 1
    scores, tps = defaultdict(list), defaultdict(list)
    for k, rows in det.items():
        rows = [r for r in rows if r[2] < r[4] and r[3] < r[5]]
        truth = gt.get(k, [])
        for c in sorted(set(r[1] for r in rows)):
            d = [r for r in rows if r[1] == c]
            g = [r[2:] for r in truth if r[1] == c]
            tp = np.zeros(len(d), dtype=bool)
            if g:
                iou = iou_matrix([r[2:] for r in d], g)
                best = np.argmax(iou, axis=1)
                taken = np.zeros(len(g), dtype=bool)
                for i in range(len(d)):
                    j = best[i]
                    if iou[i, j] >= 0.5 and not taken[j]:
                        tp[i] = taken[j] = True
            scores[c].extend(r[0] for r in d)
            tps[c].extend(tp.tolist())
    ap = {}
    for c in sorted(n_gt):
        s, t = np.array(scores[c], dtype=float), np.array(tps[c], dtype=int)
        if s.size == 0:
            ap[c] = 0.0
            continue
        order = np.argsort(-s, kind="stable")
        t = t[order]
        ctp = np.cumsum(t)
        precision = ctp / np.arange(1, len(t) + 1)
        recall = ctp / n_gt[c]
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[0.0], precision, [0.0]])
        for i in range(len(p) - 2, -1, -1):
            p[i] = max(p[i], p[i + 1])
        idx = np.where(r[1:] != r[:-1])[0] + 1
        ap[c] = float(np.sum((r[idx] - r[idx - 1]) * p[idx]))
    return float(np.mean(list(ap.values()))), ap


def main():
    rng = np.random.default_rng(2024)
    gt, det, exclusions = make_problem(rng)
    with open(os.path.join(OUT_DIR, "ava_labelmap.pbtxt"), "w") as f:
        for i, name in LABELS.items():
            f.write(f'item {{\n  name: "{name}"\n  id: {i}\n}}\n')
    write_csv("ava_groundtruth.csv", gt)
    write_csv("ava_detections.csv", det)
    write_csv("ava_exclusions.csv", exclusions)
    assert len(set(f"{d[-1]:.10f}" for d in det)) == len(det), "tied scores"
    paths = [os.path.join(OUT_DIR, n) for n in ("ava_groundtruth.csv", "ava_detections.csv", "ava_exclusions.csv")]
    m, ap = evaluate(*paths, set(LABELS))
    with open(os.path.join(OUT_DIR, "ava_expected.json"), "w") as f:
        json.dump({"mAP": m, "per_class": {str(c): v for c, v in ap.items()}}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(gt)} ground-truth rows, {len(det)} detection rows; mAP {m:.6f}; per class {ap}")


if __name__ == "__main__":
    main()
