#!/usr/bin/python3
"""Writes test/fixtures/viz/gradcam.safetensors: Grad-CAM of a tiny fixed network computed by PyTorch
(Debian python3-torch 1.13), for the C# Grad-CAM (src/Visualization/Explain/GradCam.cs).

The network is an nn.Sequential the C# test rebuilds with the same keys:
  0 Conv2d(3, 8, 3, padding=1), 1 BatchNorm2d(8), 2 ReLU, 3 Conv2d(8, 16, 3, stride=2, padding=1), 4 ReLU,
  5 AdaptiveAvgPool2d(1), 6 Flatten, 7 Linear(16, 5)
in eval mode (BN running statistics perturbed so that they matter).

Grad-CAM as Selvaraju et al. (2017) and pytorch-grad-cam compute it: a forward hook keeps the layer's output A
(retain_grad), the target logit is back-propagated, alpha_k = mean over the map of dy/dA_k, cam = relu(sum_k alpha_k A_k),
normalised to [0, 1] by (cam - min) / (max - min), and resampled to the image with
F.interpolate(mode="bilinear", align_corners=False).

Per case NAME the file holds NAME/alpha, NAME/cam, NAME/normalized, NAME/upsampled, NAME/logits and NAME/target (int64);
the model's state dict under sd/<key> and the input under x. The metadata names each case's layer.

Run: /usr/bin/python3 test/reference/make_viz_fixtures.py
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "viz", "gradcam.safetensors")
torch.set_num_threads(1)
torch.manual_seed(7)


def model():
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    with torch.no_grad():
        bn = m[1]
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
        bn.num_batches_tracked.fill_(10)
    return m.eval()


def grad_cam(m, x, layer, target):
    store = {}

    def hook(_, __, out):
        out.retain_grad()
        store["a"] = out

    h = m[layer].register_forward_hook(hook)
    logits = m(x)
    h.remove()
    if target is None:
        target = int(logits[0].argmax())
    m.zero_grad()
    logits[0, target].backward()
    a, g = store["a"].detach(), store["a"].grad.detach()
    alpha = g.mean(dim=(2, 3))[0]
    cam = F.relu((alpha[:, None, None] * a[0]).sum(0))
    lo, hi = cam.min(), cam.max()
    norm = (cam - lo) / (hi - lo) if hi > lo else torch.zeros_like(cam)
    up = F.interpolate(norm[None, None], size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    return dict(alpha=alpha, cam=cam, normalized=norm, upsampled=up, logits=logits.detach()[0],
                target=torch.tensor(target, dtype=torch.int64))


def main():
    m = model()
    x = torch.randn(1, 3, 12, 12)
    out = {f"sd/{k}": v for k, v in m.state_dict().items()}
    out["x"] = x
    cases = {"default": (4, None), "layer2_class3": (2, 3)}
    for name, (layer, target) in cases.items():
        for k, v in grad_cam(m, x, layer, target).items():
            out[f"{name}/{k}"] = v
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save(OUT, out, {f"{n}/layer": str(l) for n, (l, _) in cases.items()})
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    main()
