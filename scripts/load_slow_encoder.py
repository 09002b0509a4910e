#!/usr/bin/env python3
"""Load the slow encoder g_s of a tempo-bench VTHCL checkpoint into plain PyTorch.

    python scripts/load_slow_encoder.py CHECKPOINT --depth 18|50 --width W [--check]
                                        [--frames 8] [--crop 112]

CHECKPOINT is a safetensors file written by our pretraining (Pretrainer.saveCheckpoint,
metadata format `tempo-bench.vthcl.v1`). Only tensors named `slow.*` are used; `fast.*`,
`head.*`, `bank.*` and `optim.*` are skipped. The `slow.` prefix is stripped and the rest
is loaded with `load_state_dict(strict=True)` into `SlowEncoder` below, whose module
names were chosen so that the stripped names are its state-dict keys unchanged:

    ours (safetensors)                         SlowEncoder state-dict key
    slow.stem.conv.weight                      stem.conv.weight
    slow.stem.bn.{weight,bias,running_mean,running_var}
                                               stem.bn.{...}
    slow.layer{1-4}.{i}.conv1.weight           layer{1-4}.{i}.conv1.weight
    slow.layer{1-4}.{i}.bn1.{...}              layer{1-4}.{i}.bn1.{...}
    slow.layer{1-4}.{i}.conv2.weight, bn2.*    layer{1-4}.{i}.conv2.weight, bn2.*
    slow.layer{1-4}.{i}.conv3.weight, bn3.*    (R50 only) layer{1-4}.{i}.conv3.weight, bn3.*
    slow.layer{1-4}.{i}.down.conv.weight       layer{1-4}.{i}.down.conv.weight
    slow.layer{1-4}.{i}.down.bn.{...}          layer{1-4}.{i}.down.bn.{...}

`layerK` is the paper's res(K+1). Weights are [Co, Ci, kt, kh, kw] in both. PyTorch's
BatchNorm keeps one more buffer, `num_batches_tracked`, which our checkpoints do not
have; PyTorch fills it in itself when a state dict without version metadata lacks it,
so strict loading still checks every other name. docs/checkpoints.md has the same table
with torchvision's r3d_18 names alongside.

Architecture (SPEC §2, ResNet3DConfig.slowFast(depth:pathway: .slow, widthMultiplier: W)):
stem conv 1x7x7 stride 1x2x2 + BN + ReLU + max-pool 1x3x3 stride 1x2x2 pad 0x1x1; stages
res2..res5 with spatial strides 1, 2, 2, 2 and no temporal striding; temporal kernel of
each block's first conv 1, 1, 3, 3; R18 = basic blocks 2-2-2-2 (kt x 3 x 3, then 1 x 3 x 3),
R50 = bottlenecks 3-4-6-3 (kt x 1 x 1, 1 x 3 x 3 with the stride, 1 x 1 x 1 at 4x width).
Widths: max(1, R(c * W)) for c in 64, 128, 256, 512, R rounding half away from zero.

With --check, runs the encoder in eval mode (running statistics) on a fixed input
(torch.manual_seed(0), randn [1, 3, frames, crop, crop]) and prints one JSON object with
the output shape of the stem and of each stage, plus the mean of the res5 output.

Exit status: 0 on success; 2 when the names or shapes do not match (the message names
the missing, unexpected or mismatched tensors); 1 for other errors (unreadable file).
"""

import argparse
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def swift_round(x):
    """Swift's Double.rounded(): to nearest, ties away from zero (Python's round() ties to even)."""
    return int(math.floor(x + 0.5))


def same_padding(k):
    return tuple((x - 1) // 2 for x in k)


class ConvBN(nn.Module):
    def __init__(self, ci, co, k, stride=(1, 1, 1)):
        super().__init__()
        self.conv = nn.Conv3d(ci, co, k, stride=stride, padding=same_padding(k), bias=False)
        self.bn = nn.BatchNorm3d(co)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, ci, co, stride, kt):
        super().__init__()
        self.conv1 = nn.Conv3d(ci, co, (kt, 3, 3), stride=stride, padding=same_padding((kt, 3, 3)), bias=False)
        self.bn1 = nn.BatchNorm3d(co)
        self.conv2 = nn.Conv3d(co, co, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(co)
        self.down = ConvBN(ci, co, (1, 1, 1), stride) if ci != co or stride != (1, 1, 1) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, ci, inner, stride, kt):
        super().__init__()
        out = inner * 4
        self.conv1 = nn.Conv3d(ci, inner, (kt, 1, 1), padding=same_padding((kt, 1, 1)), bias=False)
        self.bn1 = nn.BatchNorm3d(inner)
        self.conv2 = nn.Conv3d(inner, inner, (1, 3, 3), stride=stride, padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(inner)
        self.conv3 = nn.Conv3d(inner, out, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out)
        self.down = ConvBN(ci, out, (1, 1, 1), stride) if ci != out or stride != (1, 1, 1) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class SlowEncoder(nn.Module):
    """The slow pathway; `forward` returns the outputs of res2..res5 (layer1..layer4)."""

    def __init__(self, depth, width):
        super().__init__()
        if depth not in (18, 50):
            raise ValueError(f"depth must be 18 or 50, got {depth}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        widths = [max(1, swift_round(c * width)) for c in (64, 128, 256, 512)]
        stem = max(1, swift_round(64 * width))
        temporal = [1, 1, 3, 3]
        strides = [(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2)]
        self.stem = ConvBN(3, stem, (1, 7, 7), (1, 2, 2))
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        channels = stem
        for s in range(4):
            blocks = []
            for b in range([2, 2, 2, 2][s] if depth == 18 else [3, 4, 6, 3][s]):
                stride = strides[s] if b == 0 else (1, 1, 1)
                if depth == 18:
                    blocks.append(BasicBlock(channels, widths[s], stride, temporal[s]))
                    channels = widths[s]
                else:
                    blocks.append(Bottleneck(channels, widths[s], stride, temporal[s]))
                    channels = widths[s] * 4
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.out_channels = channels

    def forward(self, x, with_stem=False):
        y = self.pool(F.relu(self.stem(x)))
        outs = [y] if with_stem else []
        for s in range(4):
            y = getattr(self, f"layer{s + 1}")(y)
            outs.append(y)
        return outs


LIST_LIMIT = 40


def names(keys):
    shown = ", ".join("slow." + k for k in keys[:LIST_LIMIT])
    return shown + (f", ... and {len(keys) - LIST_LIMIT} more" if len(keys) > LIST_LIMIT else "")


def fail(message, code=2):
    print(f"load_slow_encoder: {message}", file=sys.stderr)
    sys.exit(code)


def load(path, depth, width):
    """SlowEncoder with the `slow.*` tensors of `path`; exits 2 naming any mismatch."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as e:  # noqa: BLE001 - report any read error with the path
        fail(f"{path}: cannot read as safetensors: {e}", 1)
    if meta.get("config"):
        try:
            cfg = json.loads(meta["config"])
            if cfg.get("depth") != depth or float(cfg.get("widthMultiplier", width)) != float(width):
                print(f"load_slow_encoder: note: {path} was written with depth {cfg.get('depth')}, "
                      f"width {cfg.get('widthMultiplier')}; loading as depth {depth}, width {width}",
                      file=sys.stderr)
        except (ValueError, TypeError):
            pass
    state = {k[len("slow."):]: v for k, v in tensors.items() if k.startswith("slow.")}
    if not state:
        fail(f"{path}: no tensors named 'slow.*' (found {len(tensors)} tensors, e.g. "
             f"{', '.join(sorted(tensors)[:5])})")
    model = SlowEncoder(depth, width)
    expected = {k: v.shape for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k]) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        lines = [f"{path}: the checkpoint's slow.* tensors do not match a slow R{depth} encoder of width {width}"]
        if missing:
            lines.append(f"  missing ({len(missing)}): " + names(missing))
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): " + names(unexpected))
        for k in wrong[:LIST_LIMIT]:
            lines.append(f"  shape of slow.{k}: checkpoint {list(state[k].shape)}, module {list(expected[k])}")
        if len(wrong) > LIST_LIMIT:
            lines.append(f"  ... and {len(wrong) - LIST_LIMIT} more tensors of another shape")
        fail("\n".join(lines))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(f"{path}: {e}")
    return model, len(state), len(tensors) - len(state)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--depth", type=int, required=True, choices=[18, 50])
    ap.add_argument("--width", type=float, required=True, help="width multiplier the checkpoint was trained with")
    ap.add_argument("--check", action="store_true", help="forward a fixed input and print per-stage shapes as JSON")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--crop", type=int, default=112)
    args = ap.parse_args()

    model, loaded, skipped = load(args.checkpoint, args.depth, args.width)
    if not args.check:
        print(json.dumps({"checkpoint": args.checkpoint, "loaded": loaded, "skipped": skipped,
                          "params": sum(p.numel() for p in model.parameters())}))
        return 0
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.frames, args.crop, args.crop)
    model.eval()
    with torch.no_grad():
        outs = model(x, with_stem=True)
    names = ["stem", "res2", "res3", "res4", "res5"]
    print(json.dumps({"checkpoint": args.checkpoint, "depth": args.depth, "width": args.width,
                      "loaded": loaded, "skipped": skipped,
                      "params": sum(p.numel() for p in model.parameters()),
                      "input": list(x.shape),
                      "shapes": {n: list(o.shape) for n, o in zip(names, outs)},
                      "res5_mean": float(outs[-1].mean())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
