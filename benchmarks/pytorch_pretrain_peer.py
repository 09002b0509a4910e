#!/usr/bin/env python3
"""PyTorch speed peer for `bench perf pretrain` (one VTHCL pretraining step).

    python benchmarks/pytorch_pretrain_peer.py [--json] [--scale ci mini] [--depth 18 50]
                                               [--repeats 5]
    python benchmarks/pytorch_pretrain_peer.py --write-checkpoint PATH --scale ci --depth 18
    python benchmarks/pytorch_pretrain_peer.py --check-names CHECKPOINT

A plain-PyTorch copy of the model in Sources/VTHCL (VTHCLModel, VTHCLObjective,
MemoryBank, ProjectionHead) and Sources/Networks (ResNet3D, ResNet3DConfig.slowFast),
timed on CPU with 2 intra-op threads. Figures (names as `bench perf pretrain`):

  pretrain.r18.ci    pretrain.r50.ci    pretrain.r18.mini    pretrain.r50.mini

value = clips per second of one full step: zero_grad, forward of the slow and the fast
encoder, projection heads, loss against the memory banks, backward, SGD step
(lr 0.01, momentum 0.9, weight decay 1e-4), momentum-0.5 bank update with
re-normalisation. Random clips, fixed for all repeats; negatives drawn afresh each step.
The reported step time is the median over --repeats timed steps after one warm-up step
(mini: max(1, repeats // 3) timed steps, as the Swift bench does).

Model (SPEC §1-§2), identical to ours:
  * two ResNet3D pathways (SlowFast without lateral connections), no temporal striding;
    stem conv kt x 7 x 7 stride 1x2x2 + BN + ReLU + max-pool 1x3x3 stride 1x2x2 pad 0x1x1;
    slow: stem kt 1, 64 ch, conv1 temporal kernel per stage 1, 1, 3, 3;
    fast: stem kt 5, 8 ch (beta = 8), temporal kernel 3, 3, 3, 3;
    stage spatial strides 1, 2, 2, 2 (on the first block's conv1 for basic blocks, on
    conv2 for bottlenecks; the projection shortcut carries it too);
    R18: basic blocks 2-2-2-2, conv1 kt x 3 x 3, conv2 1 x 3 x 3;
    R50: bottleneck 3-4-6-3, conv1 kt x 1 x 1, conv2 1 x 3 x 3, conv3 1 x 1 x 1 (4x width);
    projection shortcut (1x1x1 conv + BN) when channels or stride change;
    last BN of each block zero-initialised; convs without bias, Kaiming-normal fan-out.
  * widths: max(1, R((w // beta) * width)) with R rounding half away from zero
    (Swift's `.rounded()`; Python's round() rounds half to even, which differs at .5).
  * heads per level (res3, res4, res5) and pathway: global average pool -> Linear(C, C)
    -> ReLU -> Linear(C, 128) -> L2 normalise.
  * banks: one per level and pathway, instances x 128, uniform in [-s, s], s = 1/sqrt(128/3).
  * loss: sum over levels of CE(fast . [slow bank positive, negatives] / T)
    + CE(slow . [fast bank positive, negatives] / T), T = 0.07, positive at index 0,
    one shared negative draw of B x N indices with replacement.

Parameter names equal our safetensors names (`slow.stem.conv.weight`,
`fast.layer1.0.bn1.running_mean`, `head.slow.res5.fc1.weight`, ...); BatchNorm's
`num_batches_tracked` is the only extra PyTorch buffer and is not written.

Presets (Sources/VTHCL/PretrainPreset.swift; instances fixed at 4096 as in the bench):
  ci   crop 32,  width 0.25, batch 16, negatives min(4096, 4096)  = 4096
  mini crop 112, width 1,    batch 16, negatives min(16384, 4096) = 4096
  alpha 2, 8 slow frames (16 fast), levels res3-res5, embedding 128.

config of each figure also carries "params" (trainable parameters, all of both encoders
and all heads; buffers not counted) and "forward_gmac_per_clip" (multiply-adds of the
convolutions of both encoders for one clip, counted from the actual output shapes;
heads excluded, as our `forward_gmac_per_clip` excludes them), to compare with ours.

--write-checkpoint writes the (freshly initialised) model of --scale/--depth in our
checkpoint format (model tensors, banks `bank.{slow,fast}.res{3,4,5}`, metadata
`format = tempo-bench.vthcl.v1` and `config`), for interoperability tests.
--check-names compares a checkpoint written by our Swift code with the model built from
the config in its metadata: every model tensor name and shape must agree.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

THREADS = 2
INSTANCES = 4096

PRESETS = {
    # scale: (crop, width multiplier, batch, negatives before the cap)
    "ci": (32, 0.25, 16, 4096),
    "mini": (112, 1.0, 16, 16384),
}


def swift_round(x):
    """Swift's Double.rounded(): to nearest, ties away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def pathway_config(depth, pathway, width=1.0):
    """ResNet3DConfig.slowFast(depth:pathway:widthMultiplier:) as a dict."""
    if depth not in (18, 50):
        raise ValueError(f"SlowFast pathways are defined for depth 18 or 50, got {depth}")
    beta = 1 if pathway == "slow" else 8

    def w(c):
        return max(1, swift_round((c // beta) * width))

    return {
        "block": "bottleneck" if depth == 50 else "basic",
        "stem_channels": w(64),
        "stem_kernel": (1, 7, 7) if pathway == "slow" else (5, 7, 7),
        "stage_blocks": [3, 4, 6, 3] if depth == 50 else [2, 2, 2, 2],
        "stage_widths": [w(c) for c in (64, 128, 256, 512)],
        "stage_strides": [(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2)],
        "conv1_temporal": [1, 1, 3, 3] if pathway == "slow" else [3, 3, 3, 3],
        "conv2_temporal": [1, 1, 1, 1],
    }


def same_padding(k):
    return tuple((x - 1) // 2 for x in k)


def conv3d(ci, co, k, stride=(1, 1, 1)):
    conv = nn.Conv3d(ci, co, k, stride=stride, padding=same_padding(k), bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def batch_norm(c, zero=False):
    bn = nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)
    if zero:
        nn.init.zeros_(bn.weight)
    return bn


class ConvBN(nn.Module):
    """Holds `conv` and `bn` so that names read `stem.conv.weight`, `down.bn.bias`."""

    def __init__(self, ci, co, k, stride=(1, 1, 1)):
        super().__init__()
        self.conv = conv3d(ci, co, k, stride)
        self.bn = batch_norm(co)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, ci, co, stride, kt1, kt2):
        super().__init__()
        self.conv1 = conv3d(ci, co, (kt1, 3, 3), stride)
        self.bn1 = batch_norm(co)
        self.conv2 = conv3d(co, co, (kt2, 3, 3))
        self.bn2 = batch_norm(co, zero=True)
        self.down = ConvBN(ci, co, (1, 1, 1), stride) if ci != co or stride != (1, 1, 1) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, ci, inner, stride, kt):
        super().__init__()
        out = inner * 4
        self.conv1 = conv3d(ci, inner, (kt, 1, 1))
        self.bn1 = batch_norm(inner)
        self.conv2 = conv3d(inner, inner, (1, 3, 3), stride)
        self.bn2 = batch_norm(inner)
        self.conv3 = conv3d(inner, out, (1, 1, 1))
        self.bn3 = batch_norm(out, zero=True)
        self.down = ConvBN(ci, out, (1, 1, 1), stride) if ci != out or stride != (1, 1, 1) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNet3D(nn.Module):
    """One pathway; `features` returns the outputs of res2..res5."""

    def __init__(self, cfg):
        super().__init__()
        self.stem = ConvBN(3, cfg["stem_channels"], cfg["stem_kernel"], (1, 2, 2))
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        channels = cfg["stem_channels"]
        expansion = 4 if cfg["block"] == "bottleneck" else 1
        self.stage_outputs = []
        for s in range(4):
            blocks = []
            for b in range(cfg["stage_blocks"][s]):
                stride = cfg["stage_strides"][s] if b == 0 else (1, 1, 1)
                if cfg["block"] == "basic":
                    blocks.append(BasicBlock(channels, cfg["stage_widths"][s], stride,
                                             cfg["conv1_temporal"][s], cfg["conv2_temporal"][s]))
                else:
                    blocks.append(Bottleneck(channels, cfg["stage_widths"][s], stride, cfg["conv1_temporal"][s]))
                channels = cfg["stage_widths"][s] * expansion
            self.stage_outputs.append(channels)
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))

    def features(self, x):
        y = self.pool(F.relu(self.stem(x)))
        outs = []
        for s in range(4):
            y = getattr(self, f"layer{s + 1}")(y)
            outs.append(y)
        return outs


class Head(nn.Module):
    """ProjectionHead(kind: .mlp): GAP -> fc1 (C -> C) -> ReLU -> fc2 (C -> dim) -> L2."""

    def __init__(self, c, dim):
        super().__init__()
        self.fc1 = nn.Linear(c, c)
        self.fc2 = nn.Linear(c, dim)

    def forward(self, x):
        return F.normalize(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3, 4))))), dim=1, eps=1e-12)


def level_name(stage):
    return f"res{stage + 1}"


class VTHCL(nn.Module):
    def __init__(self, depth, width, levels=(2, 3, 4), dim=128):
        super().__init__()
        self.levels = list(levels)
        self.slow = ResNet3D(pathway_config(depth, "slow", width))
        self.fast = ResNet3D(pathway_config(depth, "fast", width))
        self.head = nn.Module()
        self.head.slow = nn.Module()
        self.head.fast = nn.Module()
        for lv in self.levels:
            setattr(self.head.slow, level_name(lv), Head(self.slow.stage_outputs[lv - 1], dim))
            setattr(self.head.fast, level_name(lv), Head(self.fast.stage_outputs[lv - 1], dim))

    def forward(self, slow_clips, fast_clips):
        s = self.slow.features(slow_clips)
        f = self.fast.features(fast_clips)
        es = [getattr(self.head.slow, level_name(lv))(s[lv - 1]) for lv in self.levels]
        ef = [getattr(self.head.fast, level_name(lv))(f[lv - 1]) for lv in self.levels]
        return es, ef

    def checkpoint_state(self):
        """Model tensors under our checkpoint names (no num_batches_tracked)."""
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()
                if not k.endswith("num_batches_tracked")}


class Banks:
    """2 * |K| memory banks and the tempo-contrastive loss (VTHCLObjective)."""

    def __init__(self, levels, instances, dim=128, momentum=0.5, temperature=0.07, generator=None):
        s = 1.0 / math.sqrt(dim / 3.0)
        self.slow = [torch.empty(instances, dim).uniform_(-s, s, generator=generator) for _ in levels]
        self.fast = [torch.empty(instances, dim).uniform_(-s, s, generator=generator) for _ in levels]
        self.momentum = momentum
        self.temperature = temperature
        self.instances = instances

    @staticmethod
    def _direction(queries, bank, rows):
        # rows: [B, N + 1] bank indices, positive first.
        keys = bank[rows]                                        # [B, N + 1, dim]
        return torch.bmm(keys, queries.unsqueeze(2)).squeeze(2)  # [B, N + 1]

    def loss(self, es, ef, ids, negatives):
        b = ids.numel()
        rows = torch.cat([ids.view(b, 1), negatives.view(b, -1)], dim=1)
        target = torch.zeros(b, dtype=torch.long)
        total = 0
        for k in range(len(es)):
            lf = F.cross_entropy(self._direction(ef[k], self.slow[k], rows) / self.temperature, target)
            ls = F.cross_entropy(self._direction(es[k], self.fast[k], rows) / self.temperature, target)
            total = total + (lf + ls)
        return total

    @torch.no_grad()
    def update(self, es, ef, ids):
        m = self.momentum
        for banks, emb in ((self.slow, es), (self.fast, ef)):
            for bank, x in zip(banks, emb):
                v = m * bank[ids] + (1 - m) * x.detach()
                bank[ids] = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def count_params(module):
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def conv_macs(net, shape):
    """Multiply-adds of every Conv3d of `net` for one input of `shape`, from output shapes."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size
        total[0] += out.numel() * (mod.in_channels // mod.groups) * k[0] * k[1] * k[2]

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv3d)]
    was_training = net.training
    net.eval()
    net.features(torch.zeros(shape))
    net.train(was_training)
    for h in handles:
        h.remove()
    return total[0]


def step_time(depth, scale, repeats, alpha=2, slow_frames=8, seed=5):
    crop, width, batch, neg = PRESETS[scale]
    negatives = min(neg, INSTANCES)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = VTHCL(depth, width)
    model.train()
    banks = Banks(model.levels, INSTANCES, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    slow = torch.randn(batch, 3, slow_frames, crop, crop, generator=g)
    fast = torch.randn(batch, 3, slow_frames * alpha, crop, crop, generator=g)
    ids = torch.tensor([i * 7 % INSTANCES for i in range(batch)], dtype=torch.long)

    def step():
        opt.zero_grad(set_to_none=True)
        es, ef = model(slow, fast)
        neg_ids = torch.randint(0, INSTANCES, (batch * negatives,), generator=g)
        loss = banks.loss(es, ef, ids, neg_ids)
        loss.backward()
        opt.step()
        banks.update(es, ef, ids)
        return loss

    timed = repeats if scale == "ci" else max(1, repeats // 3)
    step()  # warm-up
    times = []
    for _ in range(timed):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    macs = conv_macs(model.slow, (1, 3, slow_frames, crop, crop)) \
        + conv_macs(model.fast, (1, 3, slow_frames * alpha, crop, crop))
    heads = sum(count_params(h) for h in model.head.modules() if isinstance(h, Head))
    return {
        "figure": f"pretrain.r{depth}.{scale}",
        "value": round(batch / med, 3),
        "unit": "clips/s",
        "config": {"batch": batch, "crop": crop, "width": width, "alpha": alpha, "levels": model.levels,
                   "negatives": negatives, "instances": INSTANCES, "step_ms": round(med * 1e3, 1),
                   "forward_gmac_per_clip": round(macs / 1e9, 6), "threads": torch.get_num_threads(),
                   "params": count_params(model), "params_slow": count_params(model.slow),
                   "params_fast": count_params(model.fast), "params_heads": heads,
                   "stat": "median", "repeats": timed, "warmup": 1,
                   "min_ms": round(min(times) * 1e3, 1), "max_ms": round(max(times) * 1e3, 1),
                   "optimizer": "SGD lr=0.01 momentum=0.9 wd=1e-4", "peer": "pytorch"},
    }


def write_checkpoint(path, depth, scale, seed=5):
    from safetensors.torch import save_file

    crop, width, batch, neg = PRESETS[scale]
    torch.manual_seed(seed)
    model = VTHCL(depth, width)
    banks = Banks(model.levels, INSTANCES, generator=torch.Generator().manual_seed(seed))
    tensors = model.checkpoint_state()
    for k, lv in enumerate(model.levels):
        tensors[f"bank.slow.{level_name(lv)}"] = banks.slow[k]
        tensors[f"bank.fast.{level_name(lv)}"] = banks.fast[k]
    config = {"depth": depth, "widthMultiplier": width, "alpha": 2, "slowFrames": 8, "tau": 8,
              "levels": model.levels, "projection": "mlp", "embeddingDimension": 128,
              "temperature": 0.07, "negatives": neg, "bankMomentum": 0.5}
    save_file(tensors, path, metadata={"format": "tempo-bench.vthcl.v1", "epoch": "0", "step": "0",
                                       "seed": str(seed), "config": json.dumps(config),
                                       "writer": "benchmarks/pytorch_pretrain_peer.py"})
    print(json.dumps({"written": path, "depth": depth, "scale": scale, "tensors": len(tensors)}))


def check_names(path):
    """Our checkpoint's model tensors vs. the model built from its metadata config."""
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    if "config" not in meta:
        print(f"{path}: no 'config' in the metadata", file=sys.stderr)
        return 2
    cfg = json.loads(meta["config"])
    if cfg.get("projection", "mlp") != "mlp":
        print(f"{path}: projection '{cfg['projection']}' is not modelled here (mlp only)", file=sys.stderr)
        return 2
    model = VTHCL(cfg["depth"], cfg["widthMultiplier"], cfg["levels"], cfg["embeddingDimension"])
    ours = {k: list(v.shape) for k, v in model.checkpoint_state().items()}
    theirs = {k: s for k, s in shapes.items() if not (k.startswith("bank.") or k.startswith("optim."))}
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    wrong = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    banks = sorted(k for k in shapes if k.startswith("bank."))
    report = {"checkpoint": path, "config": cfg, "model_tensors": len(theirs), "matching": len(ours) - len(missing) - len(wrong),
              "missing": missing, "unexpected": unexpected,
              "shape_mismatch": {k: {"checkpoint": theirs[k], "peer": ours[k]} for k in wrong},
              "banks": {k: shapes[k] for k in banks},
              "params": count_params(model)}
    print(json.dumps(report))
    return 1 if missing or unexpected or wrong else 0


def parallel_backend():
    for line in torch.__config__.parallel_info().splitlines():
        if line.startswith("ATen parallel backend:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--scale", nargs="+", default=["ci", "mini"], choices=sorted(PRESETS))
    ap.add_argument("--depth", nargs="+", type=int, default=[18, 50], choices=[18, 50])
    ap.add_argument("--repeats", type=int, default=5, help="timed steps at ci (mini: max(1, repeats // 3))")
    ap.add_argument("--write-checkpoint", metavar="PATH",
                    help="write the first --scale/--depth model in our checkpoint format and exit")
    ap.add_argument("--check-names", metavar="CHECKPOINT",
                    help="compare our checkpoint's tensor names/shapes with this model and exit")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    torch.set_num_threads(THREADS)
    if args.check_names:
        return check_names(args.check_names)
    if args.write_checkpoint:
        write_checkpoint(args.write_checkpoint, args.depth[0], args.scale[0])
        return 0

    def emit(rec):
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            cfg = rec.get("config", {})
            extra = ""
            if "step_ms" in cfg:
                extra = (f"step {cfg['step_ms']} ms (min {cfg['min_ms']}, max {cfg['max_ms']}, n={cfg['repeats']}), "
                         f"{cfg['params']} params, {cfg['forward_gmac_per_clip']:.3f} GMAC/clip")
            print(f"{rec['figure']:<18} {str(rec['value']):>12} {rec.get('unit', ''):<8} {extra}", flush=True)

    emit({"figure": "torch.version", "value": torch.__version__, "unit": "",
          "config": {"python": platform.python_version(), "mkldnn": torch.backends.mkldnn.is_available(),
                     "parallel_backend": parallel_backend(),
                     "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                     "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}})
    for scale in args.scale:
        for depth in args.depth:
            emit(step_time(depth, scale, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
