#!/usr/bin/python3
"""Writes test/fixtures/axial.safetensors: the row/column separable self-attention of seed 004 in PyTorch
(the C# layer is src/Backbones/Layers/AxialSelfAttention.cs), its state dict, input, train/eval outputs and the
input gradient. Run: /usr/bin/python3 test/reference/make_axial_fixture.py"""
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402


class AxialSelfAttention(nn.Module):
    """softmax(QK^T/sqrt(d))V along rows and along columns (seed 004), summed, projected, residual."""

    def __init__(self, channels, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        d = c // self.heads
        qkv = self.qkv(x).view(n, 3, self.heads, d, h, w).permute(1, 0, 2, 4, 5, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]                                   # (N, heads, H, W, d)
        rows = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ v
        qc, kc, vc = q.transpose(2, 3), k.transpose(2, 3), v.transpose(2, 3)
        cols = (torch.softmax(qc @ kc.transpose(-1, -2) / math.sqrt(d), -1) @ vc).transpose(2, 3)
        y = (rows + cols).permute(0, 1, 4, 2, 3).reshape(n, c, h, w)
        return x + self.proj(y)


torch.manual_seed(0)
m = AxialSelfAttention(32, 4)
x = torch.randn(2, 32, 7, 9)
out = {f"sd/{k}": v.clone() for k, v in m.state_dict().items()}
out["x"] = x
xi = x.clone().requires_grad_()
y = m(xi)
g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
(y * g).sum().backward()
out["out"] = y.detach()
out["gout"] = g
out["grad"] = xi.grad
save(os.path.join(os.path.dirname(__file__), "..", "fixtures", "axial.safetensors"), out,
     metadata={"keys": ",".join(m.state_dict().keys())})
print("axial.safetensors written")
