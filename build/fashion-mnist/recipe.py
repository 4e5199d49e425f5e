#!/usr/bin/python3
"""The README's Fashion-MNIST recipe in PyTorch: the same model and the same recipe as
`mlnet-attention fashion-mnist` (src/Cli/FashionMnistBenchmarkRun.cs), for the side-by-side accuracy of issue 5.

Models (the reference classes the C# backbones are tested against, test/reference/make_backbone_fixtures.py):
  epsanet14 / epsanet26   EPSANet with 1,1,1,1 / 2,2,2,2 PSA bottlenecks, stage planes stage_planes(width, 64)
  seresnet18              torchvision BasicBlock ResNet-18 with the SENet SE layer (r16, bias-free) after bn2
Small-image form (3x3 stem, no max-pool), the stem stride given by --stem-stride, channels-last when asked.

Recipe: pad-2 random crop + horizontal flip of the uint8 image (zero fill), pixels / 255, normalised with
mean 0.2860 / std 0.3530; SGD Nesterov momentum 0.9, weight decay on every parameter, OneCycleLR (max lr, 30 %
warm-up, cosine, momentum 0.95 -> 0.85, PyTorch's defaults) stepped per batch, cross-entropy with label smoothing,
batches of 128 shuffled each epoch (the last one partial), the test set scored after every epoch.

usage: recipe.py --model epsanet14 --width 0.5 --stem-stride 2 [--epochs 10] [--json out.json] [--threads 2]
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "reference"))
import make_backbone_fixtures as bb  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class SEBasicBlock(BasicBlock):
    """torchvision's BasicBlock with SE after bn2 (before the residual add), as the C# ResNet's BasicBlock + "se"."""

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1, norm_layer=None):
        super().__init__(inplanes, planes, stride, downsample, groups, base_width, dilation, norm_layer)
        self.se = bb.SELayer(planes, 16)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def build(model, width, stem_stride):
    small = dict(num_classes=10, in_channels=1, small_image=True)
    if model in ("epsanet14", "epsanet26"):
        layers = [1, 1, 1, 1] if model == "epsanet14" else [2, 2, 2, 2]
        m = bb.EPSANet(bb.EPSABlock, layers, planes=bb.stage_planes(width, 64), **small)
    elif model == "seresnet18":
        m = bb.NarrowResNet(SEBasicBlock, [2, 2, 2, 2], bb.stage_planes(width, 16), **small)
    elif model == "resnet18":
        m = bb.NarrowResNet(BasicBlock, [2, 2, 2, 2], bb.stage_planes(width, 16), **small)
    else:
        raise SystemExit(f"recipe.py: no PyTorch model '{model}' (epsanet14, epsanet26, seresnet18, resnet18)")
    if stem_stride:
        m.conv1.stride = (stem_stride, stem_stride)
    return m


def augment(x, gen):
    """Pad-2 random crop and horizontal flip of a uint8 batch [N, 1, 28, 28]."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def to_input(x_uint8, channels_last):
    x = (x_uint8.float() / 255 - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="epsanet14")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--stem-stride", type=int, default=2)
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cl = not a.no_channels_last

    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    if a.train_limit:
        xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]
    xte_in = to_input(xte, cl)

    model = build(a.model, a.width, a.stem_stride)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=a.wd)
    steps = math.ceil(len(xtr) / a.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * steps)
    gen = torch.Generator().manual_seed(a.seed)
    print(f"{a.model} (PyTorch {torch.__version__}, small-image, width {a.width}, stem stride {a.stem_stride}"
          f"{', channels-last' if cl else ''}; {params:,} parameters) on Fashion-MNIST ({len(xtr)} images): {a.epochs} epoch(s), "
          f"batch {a.batch_size}, SGD nesterov lr {a.lr} one-cycle, wd {a.wd}, label smoothing {a.label_smoothing}"
          f"{'' if a.no_augment else ', crop+flip'}, {a.threads} threads", flush=True)

    history, start = [], time.time()
    for epoch in range(1, a.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum, correct = 0.0, 0
        for b in range(steps):
            i = perm[b * a.batch_size:(b + 1) * a.batch_size]
            xb = xtr[i] if a.no_augment else augment(xtr[i], gen)
            logits = model(to_input(xb, cl))
            loss = F.cross_entropy(logits, ytr[i], label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(i)
            correct += (logits.argmax(1) == ytr[i]).sum().item()
        train_seconds = time.time() - t0
        model.eval()
        with torch.inference_mode():
            logits = torch.cat([model(xte_in[j:j + 500]) for j in range(0, len(xte_in), 500)])
            test_loss = F.cross_entropy(logits, yte).item()
            test_acc = (logits.argmax(1) == yte).float().mean().item()
        m = dict(epoch=epoch, trainLoss=loss_sum / len(xtr), trainAccuracy=correct / len(xtr), testLoss=test_loss,
                 testAccuracy=test_acc, imagesPerSecond=len(xtr) / train_seconds, seconds=time.time() - start)
        history.append(m)
        print(f"epoch {epoch}/{a.epochs}: train loss {m['trainLoss']:.4f}, train acc {100 * m['trainAccuracy']:.2f}%, "
              f"test loss {test_loss:.4f}, test acc {100 * test_acc:.2f}%, {m['imagesPerSecond']:.0f} images/s, "
              f"elapsed {m['seconds'] / 60:.1f} min", flush=True)
    minutes = (time.time() - start) / 60
    print(f"test: micro accuracy {100 * history[-1]['testAccuracy']:.2f}%; {minutes:.1f} min", flush=True)
    if a.json:
        doc = dict(framework=f"PyTorch {torch.__version__}", recipe=vars(a), threads=a.threads, parameters=params,
                   testAccuracy=history[-1]["testAccuracy"], testLogLoss=history[-1]["testLoss"], minutes=minutes,
                   epochs=history)
        with open(a.json + ".tmp", "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
