#!/usr/bin/env python3
"""PyTorch half of the GPU throughput comparison (build/gpu/run-on-gpu.sh runs it beside `mlnet-attention-gpu bench`).

The models are the reference classes the fixture scripts check the C# backbones against
(test/reference/make_backbone_fixtures.py: NarrowResNet + SEBottleneck, EPSANet + EPSABlock), in their ImageNet form
(7x7 stride-2 stem and max-pool, 1000 classes, full width): the same networks as ModelRegistry.Create(name,
new BackboneOptions(1000, 3)). The parameter counts are printed and written so the report can show both sides hold the
same model (SE-ResNet-50 28.07 M, EPSANet-50 22.56 M, ResNet-50 25.56 M).

The measurement is the runner's, step for step:
  train: model.train(); SGD(lr 0.01, momentum 0.9); zero_grad(set_to_none=True); forward + cross entropy under
         torch.autocast(device, dtype) for bf16/fp16; backward (outside autocast); step.
  infer: model.eval(); torch.inference_mode(); forward under autocast.
  warm-up iterations, then `rounds` rounds of `iters` iterations each timed between device synchronisations;
  images/s = batch * iters / round time; the median round is reported.
libtorch's defaults are left as they are on both sides (cuDNN TF32 on for convolutions, cudnn.benchmark off).
--foreach off makes SGD run per parameter (torch.optim.SGD(foreach=False)), as the C# optimizer's native step does.

  torch_bench.py [--device cuda:0] [--models seresnet50,epsanet50] [--size 224] [--batch 64] [--precisions fp32,bf16]
                 [--modes train,infer] [--channels-last] [--warmup 10] [--iters 30] [--rounds 3] [--foreach on|off]
                 [--json FILE]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.normpath(os.path.join(HERE, "..", "..", "test", "reference"))
sys.path.insert(0, REFERENCE)
_threads = torch.get_num_threads()
import make_backbone_fixtures as bb  # noqa: E402  (guards its main; sets one thread at import, restored below)
torch.set_num_threads(_threads)

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def build(name):
    """The ImageNet-form reference model of registry name `name` (1000 classes, 3 channels, full width)."""
    full = dict(num_classes=1000, in_channels=3, small_image=False)
    if name == "seresnet50":
        return bb.NarrowResNet(bb.SEBottleneck, [3, 4, 6, 3], bb.stage_planes(1.0, 16), **full)
    if name == "resnet50":
        from torchvision.models.resnet import Bottleneck
        return bb.NarrowResNet(Bottleneck, [3, 4, 6, 3], bb.stage_planes(1.0, 16), **full)
    if name in ("epsanet50", "epsanet101"):
        layers = [3, 4, 23, 3] if name == "epsanet101" else [3, 4, 6, 3]
        return bb.EPSANet(bb.EPSABlock, layers, planes=bb.stage_planes(1.0, 64), **full)
    raise SystemExit(f"torch_bench.py: no reference model for '{name}' (seresnet50, epsanet50, epsanet101, resnet50)")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(name, device, precision, mode, channels_last, batch, size, warmup, iters, rounds, foreach):
    torch.manual_seed(0)
    model = build(name).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters())
    x = torch.randn(batch, 3, size, size).to(device).contiguous(memory_format=fmt)
    y = (torch.arange(batch) * 7 % 1000).to(device)
    dtype = DTYPES[precision]
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, **({} if foreach is None else {"foreach": foreach}))

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                model(x)
    for _ in range(warmup):
        step()
    sync(device)
    per_round = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        sync(device)
        per_round.append(batch * iters / (time.perf_counter() - t0))
    med = statistics.median(per_round)
    return {"Impl": "pytorch", "Model": name, "Precision": precision, "Mode": mode,
            "Format": "channels_last" if channels_last else "contiguous", "Batch": batch, "Size": size, "Parameters": params,
            "ImagesPerSecond": med, "MsPerIter": 1000.0 * batch / med, "RoundImagesPerSecond": per_round, "Device": str(device),
            "Torch": torch.__version__, "Foreach": "default" if foreach is None else str(foreach).lower()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="seresnet50,epsanet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--foreach", choices=["default", "on", "off"], default="default")
    ap.add_argument("--json")
    a = ap.parse_args()
    device = torch.device(a.device)
    gpu = device.type == "cuda"
    batch = a.batch or (64 if gpu else 8)
    warmup = a.warmup if a.warmup is not None else (10 if gpu else 2)
    iters = a.iters or (30 if gpu else 3)
    foreach = {"default": None, "on": True, "off": False}[a.foreach]
    print(f"torch_bench: torch {torch.__version__}, {device}"
          f"{' (' + torch.cuda.get_device_name(device) + ')' if gpu else ''}, batch {batch}, {a.size}px, "
          f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}")
    results = []
    for name in a.models.split(","):
        for precision in a.precisions.split(","):
            if precision not in DTYPES:
                raise SystemExit(f"precision '{precision}' is not one of {', '.join(DTYPES)}")
            for mode in a.modes.split(","):
                r = bench_one(name, device, precision, mode, a.channels_last, batch, a.size, warmup, iters, a.rounds, foreach)
                results.append(r)
                print(f"  {name:<12} {precision} {mode:<5} {r['ImagesPerSecond']:9.1f} images/s ({r['MsPerIter']:.2f} ms/iter; "
                      f"{r['Parameters'] / 1e6:.2f} M params; rounds {', '.join(f'{v:.1f}' for v in r['RoundImagesPerSecond'])})", flush=True)
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
