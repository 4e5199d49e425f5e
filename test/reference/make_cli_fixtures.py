"""Fixtures of the command line's `import` test (test/MLNet.Attention.Tests/Cli): a PyTorch checkpoint and the
probabilities PyTorch computes for a few images with it.

  resnet18_w00625.pth   torch.save(state_dict) of torchvision's ResNet-18 in the small-image form (3x3 stride-1 stem,
                        no max-pool), 3 input channels, 3 classes, stage widths for WidthMultiplier 0.0625
                        (planes 16, 16, 16, 32; the same NarrowResNet as make_backbone_fixtures.py), with perturbed
                        batch-norm parameters and running statistics so that every tensor matters.
  images/*.png          four 32x32 RGB images (gradients, stripes and noise, fixed seed).
  expected.json         labels, mean/std, image size, and per image the softmax probabilities of the model in eval mode
                        on  (pixels / 255 - mean) / std  (torchvision's ToTensor + Normalize, no resize: the images
                        already have the model's size).

Run with Debian's python3-torch:  /usr/bin/python3 test/reference/make_cli_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(__file__))
from make_backbone_fixtures import NarrowResNet, stage_planes  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "cli")
WIDTH = 0.0625
SIZE = 32
LABELS = ["cat", "dog", "bird"]
MEAN = [0.5, 0.4, 0.3]
STD = [0.25, 0.2, 0.3]
torch.set_num_threads(1)


def images(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    out = {
        "gradient.png": np.stack([x * 8, y * 8, (x + y) * 4], -1),
        "stripes.png": np.stack([(x // 4 % 2) * 255, (y // 3 % 2) * 200, np.full_like(x, 90)], -1),
        "noise.png": rng.integers(0, 256, (SIZE, SIZE, 3)),
        "blob.png": np.stack([255 * np.exp(-((x - 10) ** 2 + (y - 20) ** 2) / 60)] * 2 + [np.full_like(x, 30)], -1),
    }
    return {k: np.clip(v, 0, 255).astype(np.uint8) for k, v in out.items()}


def main():
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(11)
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], stage_planes(WIDTH, 16), num_classes=len(LABELS), in_channels=3, small_image=True)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(1 + 0.3 * torch.rand(n, generator=gen))
    model.eval()
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    pictures = images(np.random.default_rng(3))

    def prepare(pixels):
        x = torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255
        return (x - mean) / std

    # A random head gives every image the same class (the pooled features of these images point the same way);
    # a head made of the first three images' centred features tells them apart, so the test sees different labels.
    with torch.no_grad():
        fc, model.fc = model.fc, torch.nn.Identity()
        feats = torch.cat([model(prepare(p)) for p in pictures.values()])
        model.fc = fc
        centred = feats - feats.mean(0)
        rows = centred[: len(LABELS)]
        fc.weight.copy_(3 * rows / rows.norm(dim=1, keepdim=True) ** 2)
        fc.bias.copy_(-fc.weight @ feats.mean(0))
    weights = os.path.join(OUT, "resnet18_w00625.pth")
    torch.save(model.state_dict(), weights)

    expected = {"arch": "resnet18", "width": WIDTH, "smallImage": True, "imageSize": SIZE, "labels": LABELS,
                "mean": MEAN, "std": STD, "weights": os.path.basename(weights), "probabilities": {}}
    for name, pixels in pictures.items():
        path = os.path.join(OUT, "images", name)
        Image.fromarray(pixels, "RGB").save(path)
        back = np.asarray(Image.open(path).convert("RGB"))           # what was written, read back
        assert (back == pixels).all()
        with torch.no_grad():
            p = torch.softmax(model(prepare(back)), 1)[0]
        expected["probabilities"][name] = [float(v) for v in p]
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
    print(f"wrote {OUT}: {os.path.getsize(weights) / 1e3:.0f} kB of weights; probabilities {expected['probabilities']}")


if __name__ == "__main__":
    main()
