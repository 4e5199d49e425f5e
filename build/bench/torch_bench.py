#!/usr/bin/env python3
"""PyTorch half of the side-by-side benchmark (build/bench/run.sh runs it interleaved with TorchBench).

The models, the measurement protocol and the output format are those of TorchBench/Program.cs, op for op:
  convstack  conv3x3(3->64)-bn-relu stem, 4 conv3x3-bn-relu blocks (64, 128/s2, 128, 128/s2), avgpool, fc(10); 32x32 input
  seresnet   conv3x3(3->64)/s2-bn-relu stem, 3 SE basic blocks (64, 128/s2, 256/s2), avgpool, fc(10); 64x64 input
  overhead   not a model: 1000 additions of 1-element tensors per iteration, so its ms/iteration is us per op call
train: forward, cross-entropy, backward, SGD(momentum=0.9, foreach=False) step, zero_grad(set_to_none=True)
infer: forward in eval mode under torch.inference_mode()
Each: warm-up iterations, then timed iterations, each timed alone; median ms and images/s.
"""
import argparse
import ctypes
import gc
import json
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SIZE = {"convstack": 32, "seresnet": 64, "overhead": 0}
OVERHEAD_OPS = 1000
NUM_CLASSES = 10


def conv_bn_relu(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def conv_stack():
    return nn.Sequential(
        conv_bn_relu(3, 64, 1),
        conv_bn_relu(64, 64, 1),
        conv_bn_relu(64, 128, 2),
        conv_bn_relu(128, 128, 1),
        conv_bn_relu(128, 128, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(128, NUM_CLASSES),
    )


class SqueezeExcite(nn.Module):
    """pool -> fc(C, C/16, no bias) -> relu -> fc(C/16, C, no bias) -> sigmoid -> scale."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.channels = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, channels // reduction, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(channels // reduction, channels, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        s = self.pool(x).flatten(1)
        s = self.sigmoid(self.fc2(self.relu(self.fc1(s))))
        return x * s.view(-1, self.channels, 1, 1)


class SEBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcite(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return self.relu(out)


class SEResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = SEBasicBlock(64, 64, 1)
        self.layer2 = SEBasicBlock(64, 128, 2)
        self.layer3 = SEBasicBlock(128, 256, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, NUM_CLASSES)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


def build(name):
    if name == "convstack":
        return conv_stack()
    if name == "seresnet":
        return SEResNet()
    raise SystemExit(f"unknown model '{name}' (convstack, seresnet, overhead, all)")


def rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_in_use_mb():
    """Bytes the C heap has handed out (glibc mallinfo2: in-use chunks of every arena plus mmapped blocks)."""
    try:
        f = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return float("nan")
    f.restype = _MallInfo2
    m = f()
    return (m.uordblks + m.hblkhd) / (1024.0 * 1024.0)


def minor_faults():
    with open("/proc/self/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[7])


def overhead_step(mode):
    """Per-op cost: OVERHEAD_OPS additions of 1-element tensors, recording autograd (train) or in inference mode."""
    a = torch.ones(1, requires_grad=(mode == "train"))
    b = torch.ones(1)
    add = torch.add
    if mode == "train":
        def step():
            for _ in range(OVERHEAD_OPS):
                add(a, b)
    else:
        def step():
            with torch.inference_mode():
                for _ in range(OVERHEAD_OPS):
                    add(a, b)
    return step


def build_step(name, mode, batch):
    if name == "overhead":
        return overhead_step(mode), 0
    model = build(name)
    size = IMAGE_SIZE[name]
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    params = sum(p.numel() for p in model.parameters())

    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)

        def step():
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)
    return step, params


def measure(name, mode, batch, warmup, iters):
    torch.manual_seed(0)
    size = IMAGE_SIZE[name]
    step, params = build_step(name, mode, batch)
    for _ in range(warmup):
        step()
    gc.collect()  # as the C# side collects before its timed loop
    rss_before, heap_before = rss_mb(), heap_in_use_mb()
    faults = minor_faults()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
    faults = (minor_faults() - faults) / iters
    gc.collect()
    rss_after, heap_after = rss_mb(), heap_in_use_mb()
    median = statistics.median(times)
    return {
        "model": name, "mode": mode, "batch": batch, "threads": torch.get_num_threads(), "image_size": size,
        "parameters": params, "warmup": warmup, "iters": iters,
        "median_ms": median, "mean_ms": statistics.fmean(times), "min_ms": min(times), "max_ms": max(times),
        "images_per_s": batch * 1000.0 / median, "times_ms": times,
        "rss_mb_before": rss_before, "rss_mb_after": rss_after,
        "heap_mb_before": heap_before, "heap_mb_after": heap_after, "minor_faults_per_iter": faults,
    }


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="all", choices=["convstack", "seresnet", "overhead", "all"])
    ap.add_argument("--mode", default="all", choices=["train", "infer", "all"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--json", default=None, help="write the results to this file")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    models = ["convstack", "seresnet", "overhead"] if a.model == "all" else [a.model]
    modes = ["train", "infer"] if a.mode == "all" else [a.mode]
    results = []
    for m in models:
        for mode in modes:
            r = measure(m, mode, a.batch, a.warmup, a.iters)
            results.append(r)
            print(f"pytorch  {m:<10} {mode:<6} batch={r['batch']} threads={r['threads']} params={r['parameters']} iters={r['iters']} "
                  f"median={r['median_ms']:.2f} ms  min={r['min_ms']:.2f} ms  {r['images_per_s']:.1f} img/s  "
                  f"rss {r['rss_mb_before']:.0f}->{r['rss_mb_after']:.0f} MB  heap in use {r['heap_mb_before']:.2f}->{r['heap_mb_after']:.2f} MB  faults/iter {r['minor_faults_per_iter']:.0f}", flush=True)
    if a.json:
        doc = {"impl": "pytorch", "runtime": f"python {platform.python_version()}", "torch": torch.__version__,
               "results": results}
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
