#!/usr/bin/env python3
"""Generate the RoIAlign golden fixture for the Protocols tests.

Run from the repository root (needs torch, torchvision and safetensors):

    python Tests/ProtocolsTests/Fixtures/generate_roialign.py

Writes `roialign.safetensors` next to this script: float32 feature maps `x`
[N, C, H, W], boxes `boxes` [R, 5] (batch index, x1, y1, x2, y2 in input-image
pixels) and, for every case NAME below, the reference output `y_NAME`
[R, C, 7, 7] of `torchvision.ops.roi_align`, a random upstream gradient
`gy_NAME` and the feature gradient `gx_NAME` of `y.backward(gy)`. The
settings of each case are in the header metadata (`NAME.aligned`,
`NAME.sampling_ratio`), next to `output_size` and `spatial_scale`.
"""

import json
import os
import struct

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.ops import roi_align

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
OUTPUT_SIZE = 7
SPATIAL_SCALE = 1.0 / 16

# (name, aligned, sampling_ratio): 0 = adaptive (ceil(bin size) samples per axis).
CASES = [
    ("aligned_adaptive", True, 0),
    ("aligned_fixed2", True, 2),
    ("legacy_fixed2", False, 2),
]


def canonicalize_header(path):
    """Rewrite the JSON header with sorted metadata keys (save_file writes them in hash
    order), so regeneration is byte-for-byte reproducible with the same torch version."""
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", None)
        out = {}
        if meta is not None:
            out["__metadata__"] = dict(sorted(meta.items()))
        out.update(header)
        text = json.dumps(out, separators=(",", ":")).encode()
        assert len(text) <= n, "canonical header longer than original"
        f.seek(8)
        f.write(text + b" " * (n - len(text)))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # Feature map of a 320×384 image at stride 16.
    x = torch.randn(2, 3, 20, 24, dtype=torch.float32)
    boxes = torch.tensor(
        [
            [0, 10.0, 20.0, 100.0, 130.0],      # ordinary box
            [1, 0.0, 0.0, 384.0, 320.0],        # the whole image: 4×4 adaptive samples per bin
            [0, -30.0, -20.0, 40.0, 50.0],      # partly above and left of the image
            [1, 330.0, 280.0, 420.0, 360.0],    # partly below and right of the image
            [0, 50.0, 60.0, 55.0, 62.0],        # smaller than a feature cell
            [1, 30.5, 40.25, 120.75, 90.1],     # fractional corners
            [0, 200.0, 100.0, 380.0, 310.0],    # large, 2-3 adaptive samples per axis
            [1, -40.0, -40.0, -20.0, -24.0],    # entirely outside: samples beyond one cell read 0
        ],
        dtype=torch.float32,
    )
    tensors = {"x": x, "boxes": boxes}
    meta = {
        "generator": "generate_roialign.py",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "output_size": str(OUTPUT_SIZE),
        "spatial_scale": repr(SPATIAL_SCALE),
        "cases": ",".join(name for name, _, _ in CASES),
    }
    for name, aligned, ratio in CASES:
        xv = x.clone().requires_grad_(True)
        y = roi_align(xv, boxes, output_size=OUTPUT_SIZE, spatial_scale=SPATIAL_SCALE,
                      sampling_ratio=ratio, aligned=aligned)
        gy = torch.randn_like(y)
        y.backward(gy)
        tensors[f"y_{name}"] = y.detach()
        tensors[f"gy_{name}"] = gy
        tensors[f"gx_{name}"] = xv.grad.detach()
        meta[f"{name}.aligned"] = "true" if aligned else "false"
        meta[f"{name}.sampling_ratio"] = str(ratio)

    path = os.path.join(OUT_DIR, "roialign.safetensors")
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, path, metadata=meta)
    canonicalize_header(path)
    os.chmod(path, 0o644)
    print(f"roialign.safetensors: {os.path.getsize(path)} bytes, tensors={sorted(tensors)}")


if __name__ == "__main__":
    main()
