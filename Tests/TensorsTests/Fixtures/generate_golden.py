#!/usr/bin/env python3
"""Generate golden reference fixtures for the Tensors test suite.

Run from the repository root:

    python Tests/TensorsTests/Fixtures/generate_golden.py

Writes small float32 safetensors files next to this script. Layout is NCDHW
throughout. Every backward pass uses a random upstream gradient `gy` with the
output's shape, i.e. gradients are those of `y.backward(gy)`.
"""

import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
DTYPE = torch.float32


def triple(v):
    return ",".join(str(int(a)) for a in v)


def save(name, tensors, metadata):
    path = os.path.join(OUT_DIR, name)
    tensors = {k: v.detach().to(DTYPE).contiguous().clone() for k, v in tensors.items()}
    meta = {k: str(v) for k, v in metadata.items()}
    meta.setdefault("generator", "generate_golden.py")
    meta.setdefault("torch_version", torch.__version__)
    meta.setdefault("layout", "NCDHW")
    save_file(tensors, path, metadata=meta)
    canonicalize_header(path)
    os.chmod(path, 0o644)
    print(f"{name}: {os.path.getsize(path)} bytes, tensors={sorted(tensors)}")


def canonicalize_header(path):
    """Rewrite the safetensors JSON header with sorted metadata keys.

    save_file emits `__metadata__` in hash-map order, which varies from run to
    run; sorting it (same length, same tensor offsets) makes regeneration
    byte-for-byte reproducible.
    """
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
        header = json.loads(raw)
        meta = header.pop("__metadata__", None)
        out = {}
        if meta is not None:
            out["__metadata__"] = dict(sorted(meta.items()))
        out.update(header)
        text = json.dumps(out, separators=(",", ":")).encode()
        assert len(text) <= n, "canonical header longer than original"
        text += b" " * (n - len(text))
        f.seek(8)
        f.write(text)


# ---------------------------------------------------------------- conv3d ---

CONV_CASES = [
    # name,       ci, co, input shape (N,Ci,D,H,W), kernel,     stride,    padding,   dilation,  bias
    ("basic",      3, 4, (2, 3, 5, 6, 7),   (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), True),
    ("strided",    4, 5, (2, 4, 6, 9, 8),   (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), False),
    ("dilated",    3, 4, (1, 3, 7, 8, 9),   (3, 3, 3), (1, 1, 1), (2, 2, 2), (2, 2, 2), True),
    ("stem",       3, 8, (2, 3, 4, 16, 16), (1, 7, 7), (1, 2, 2), (0, 3, 3), (1, 1, 1), False),
    ("pointwise",  8, 6, (2, 8, 3, 5, 5),   (1, 1, 1), (1, 2, 2), (0, 0, 0), (1, 1, 1), False),
    ("mixed",      4, 3, (1, 4, 5, 7, 6),   (3, 1, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1), True),
]


def gen_conv3d():
    for name, ci, co, xshape, k, s, p, d, bias in CONV_CASES:
        assert xshape[1] == ci
        x = torch.randn(*xshape, dtype=DTYPE, requires_grad=True)
        w = (torch.randn(co, ci, *k, dtype=DTYPE) * 0.3).requires_grad_(True)
        b = (torch.randn(co, dtype=DTYPE) * 0.5).requires_grad_(True) if bias else None
        y = F.conv3d(x, w, b, stride=s, padding=p, dilation=d)
        gy = torch.randn_like(y)
        y.backward(gy)
        t = {"x": x, "w": w, "y": y, "gy": gy, "gx": x.grad, "gw": w.grad}
        if bias:
            t["b"] = b
            t["gb"] = b.grad
        save(f"conv3d_{name}.safetensors", t, {
            "stride": triple(s), "padding": triple(p), "dilation": triple(d),
            "bias": "true" if bias else "false",
            "kernel": triple(k), "in_channels": ci, "out_channels": co,
        })


# ------------------------------------------------------------- batchnorm ---

def gen_batchnorm3d():
    momentum, eps = 0.1, 1e-5
    c = 4
    bn = nn.BatchNorm3d(c, eps=eps, momentum=momentum).to(DTYPE)
    with torch.no_grad():
        bn.weight.copy_(1.0 + 0.2 * torch.randn(c))
        bn.bias.copy_(0.3 * torch.randn(c))
    rm_in = bn.running_mean.clone()
    rv_in = bn.running_var.clone()
    # Non-zero mean and non-unit spread per channel.
    x = (torch.randn(3, c, 2, 3, 5) * 1.7 + 0.8).requires_grad_(True)
    bn.train()
    y = bn(x)
    gy = torch.randn_like(y)
    y.backward(gy)
    bn.eval()
    with torch.no_grad():
        y_eval = bn(x)
    save("batchnorm3d.safetensors", {
        "x": x, "gamma": bn.weight, "beta": bn.bias,
        "running_mean_in": rm_in, "running_var_in": rv_in,
        "y": y,
        "running_mean_out": bn.running_mean, "running_var_out": bn.running_var,
        "gy": gy, "gx": x.grad, "ggamma": bn.weight.grad, "gbeta": bn.bias.grad,
        "y_eval": y_eval,
    }, {
        "momentum": momentum, "eps": eps,
        "running_var": "unbiased (n/(n-1)) batch variance, as PyTorch",
        "y": "training mode (batch statistics, biased variance)",
        "y_eval": "eval mode with running_mean_out/running_var_out",
    })


# --------------------------------------------------------------- maxpool ---

def gen_maxpool(name, xshape, k, s, p):
    # Continuous random input: ties have probability zero.
    x = torch.randn(*xshape, dtype=DTYPE, requires_grad=True)
    y = F.max_pool3d(x, kernel_size=k, stride=s, padding=p)
    gy = torch.randn_like(y)
    y.backward(gy)
    save(name, {"x": x, "y": y, "gy": gy, "gx": x.grad},
         {"kernel": triple(k), "stride": triple(s), "padding": triple(p)})


# ----------------------------------------------------------- resnet stem ---

class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Down(nn.Module):
    def __init__(self, ci, co, stride):
        super().__init__()
        self.conv = nn.Conv3d(ci, co, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm3d(co)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, ci, co, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(ci, co, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(co)
        self.conv2 = nn.Conv3d(co, co, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(co)
        needs_down = ci != co or any(v != 1 for v in (stride if isinstance(stride, tuple) else (stride,)))
        self.down = Down(ci, co, stride) if needs_down else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.down(x) if self.down is not None else x
        return F.relu(out + identity)


class ResNetStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, (1, 2, 2))

    def forward(self, x):
        return self.block2(self.block1(self.stem(x)))


def gen_resnet_stem():
    model = ResNetStem().to(DTYPE)
    bn_names = []
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.BatchNorm3d):
                bn_names.append(name)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    model.train()
    x = torch.randn(2, 3, 4, 16, 16, dtype=DTYPE, requires_grad=True)
    y = model(x)
    gy = torch.randn_like(y)
    y.backward(gy)

    t = {"x": x, "y": y, "gy": gy, "gx": x.grad}
    for name, p in model.named_parameters():
        t[f"param.{name}"] = p
        t[f"grad.{name}"] = p.grad
    for name in bn_names:
        m = model.get_submodule(name)
        t[f"running_mean.{name}"] = m.running_mean
        t[f"running_var.{name}"] = m.running_var
    save("resnet_stem.safetensors", t, {
        "momentum": 0.1, "eps": 1e-5, "mode": "train",
        "bn_modules": ",".join(bn_names),
        "running_stats_init": "mean 0, var 1",
        "architecture": "stem.conv(3->8,k3x7x7,s1x2x2,p1x3x3)+bn+relu; "
                        "block1 BasicBlock(8->8,s1); "
                        "block2 BasicBlock(8->16,s1x2x2) with down.conv(1x1x1)+down.bn",
    })


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    gen_conv3d()
    gen_batchnorm3d()
    gen_maxpool("maxpool3d.safetensors", (2, 3, 4, 9, 9), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    gen_maxpool("maxpool3d_b.safetensors", (1, 2, 4, 6, 6), (2, 2, 2), (2, 2, 2), (0, 0, 0))
    gen_resnet_stem()
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f))
                for f in os.listdir(OUT_DIR) if f.endswith(".safetensors"))
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
