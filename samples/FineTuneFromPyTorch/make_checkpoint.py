#!/usr/bin/python3
"""Writes resnet18_w025_fmnist6.pth, the PyTorch checkpoint the FineTuneFromPyTorch sample imports.

torchvision's ResNet-18 (its BasicBlock and _make_layer, hence its state-dict keys: conv1, bn1, layer1.0.conv1, ...,
fc) at quarter width (16, 32, 64, 128 channels, MLNet.Attention's WidthMultiplier 0.25) in the small-image form
(3x3 stride-1 stem, no max-pool; SmallImage = true), 1 input channel, trained in PyTorch on the Fashion-MNIST
classes 0-5 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal) only. The sample then fine-tunes it in .NET on the
other four classes (Shirt, Sneaker, Bag, Ankle boot), which this network has never seen.

Run once (about a minute on 2 cores): /usr/bin/python3 samples/FineTuneFromPyTorch/make_checkpoint.py
Needs python3-torch 1.13 and python3-torchvision (build/install-deps.sh --with-reference); not needed at run time.
"""
import gzip
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
OUT = os.path.join(HERE, "resnet18_w025_fmnist6.pth")
CLASSES = 6            # pretrain on labels 0..5
PER_CLASS = 2000       # training images per class
EPOCHS = 2
MEAN, STD = 0.286, 0.353   # the sample's NormalizeImage


class SmallResNet18(ResNet):
    """torchvision's ResNet with stage widths 64*2^s*width and the small-image stem (keys unchanged)."""

    def __init__(self, width=0.25, in_channels=1, num_classes=CLASSES):
        nn.Module.__init__(self)
        planes = [int(64 * 2 ** s * width) for s in range(4)]
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = planes[0], 1, 1, 64
        self.conv1 = nn.Conv2d(in_channels, planes[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, planes[0], 2)
        self.layer2 = self._make_layer(BasicBlock, planes[1], 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, planes[2], 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, planes[3], 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3], num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        magic, n = struct.unpack(">II", f.read(8))
        dims = struct.unpack(">II", f.read(8)) if magic == 2051 else ()
        return np.frombuffer(f.read(), dtype=np.uint8).reshape((n,) + dims)


def subset(images, labels, per_class):
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(CLASSES)])
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN) / STD, torch.from_numpy(labels[keep].astype(np.int64))


def main():
    torch.manual_seed(1)
    torch.set_num_threads(os.cpu_count() or 1)
    x, y = subset(idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz"), PER_CLASS)
    tx, ty = subset(idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz"), 10_000)
    model = SmallResNet18()
    steps = EPOCHS * ((len(x) + 63) // 64)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = sum((model(tx[i:i + 500]).argmax(1) == ty[i:i + 500]).sum().item() for i in range(0, len(tx), 500)) / len(tx)
        print(f"epoch {epoch + 1}/{EPOCHS}: test accuracy on classes 0-{CLASSES - 1}: {100 * acc:.2f}% ({len(tx)} images)")
    tmp = OUT + ".tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    sys.exit(main())
