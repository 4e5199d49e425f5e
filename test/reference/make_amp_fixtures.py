#!/usr/bin/python3
"""Fixtures of CPU autocast (test/MLNet.Attention.Tests/Amp): a tiny conv + batch-norm + ReLU + pool + linear network
run under torch.autocast("cpu", torch.bfloat16) in training mode, its cross-entropy loss and gradients, and the same
network in float32 (for the size of the bfloat16 error).

Writes test/fixtures/amp/autocast_cpu_bf16.safetensors:
  x, y                         the batch (float32 images, int64 labels)
  param.<name>                 the weights (PyTorch state-dict names of the C# net: conv, bn, fc)
  bf16.conv / bf16.bn / bf16.logits   activations under autocast, in their autocast dtype (bfloat16)
  bf16.loss                    the loss under autocast (float32: cross entropy runs in float32)
  bf16.grad.<name>             gradients of the loss computed under autocast (float32, as the weights)
  bf16.running_mean / bf16.running_var   the batch-norm statistics after that forward pass
  fp32.logits, fp32.loss, fp32.grad.<name>   the same without autocast

It then checks the bounds AutocastTests uses (|Δ| <= sqrt(n) * eps_bf16 * the sum of |terms|, see magnitudes()) between
the fixture and ATen's own bfloat16 convolution (oneDNN disabled), the path libtorch takes on CPUs without AVX-512,
where bfloat16 GEMM rounds as it accumulates; it prints each worst ratio to its bound.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_io import save

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "amp", "autocast_cpu_bf16.safetensors")
torch.set_num_threads(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x, record=None):
        c = self.conv(x)
        b = self.bn(c)
        h = F.relu(b)
        h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        logits = self.fc(h)
        if record is not None:
            record.update(conv=c, bn=b, logits=logits)
        return logits


def run(net, x, y, autocast):
    net.zero_grad(set_to_none=True)
    rec = {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = net(x, rec)
        loss = F.cross_entropy(logits, y)
    loss.backward()
    return rec, loss, {n: p.grad.clone() for n, p in net.named_parameters()}


EPS_BF16 = 2.0 ** -7
CONV_TERMS, BATCH_TERMS = 3 * 3 * 3 + 1, 4 * 10 * 10


def magnitudes(t):
    """The sum of |terms| of each value, in float64 from the bfloat16-rounded weights and input (as AutocastTests)."""
    b = lambda v: v.bfloat16().double()  # noqa: E731
    x, w, bias = b(t["x"]), b(t["param.conv.weight"]), b(t["param.conv.bias"])
    gamma, beta = t["param.bn.weight"].double().view(1, -1, 1, 1), t["param.bn.bias"].double().view(1, -1, 1, 1)
    fw, fb = b(t["param.fc.weight"]), b(t["param.fc.bias"])
    c = F.conv2d(x, w, bias, padding=1).requires_grad_()
    mu = c.mean((0, 2, 3), keepdim=True)
    sigma = ((c - mu) ** 2).mean((0, 2, 3), keepdim=True).add(1e-5).sqrt()
    xhat = (c - mu) / sigma
    bn = xhat * gamma + beta
    bn.retain_grad()
    logits = F.linear(F.relu(bn).mean((2, 3)), fw, fb)
    logits.retain_grad()
    F.cross_entropy(logits, t["y"]).backward()
    dl, dbn, dc = logits.grad.abs(), bn.grad.abs(), c.grad.abs()
    conv = F.conv2d(x.abs(), w.abs(), bias.abs(), padding=1)
    bn_mag = gamma.abs() / sigma.detach() * (conv + mu.detach().abs()) + beta.abs()
    pooled = bn_mag.mean((2, 3))
    return {"conv": conv, "bn": bn_mag, "logits": F.linear(pooled, fw.abs(), fb.abs()),
            "grad.fc.bias": dl.sum(0), "grad.fc.weight": dl.t() @ pooled, "grad.bn.bias": dbn.sum((0, 2, 3)),
            "grad.bn.weight": (dbn * xhat.detach().abs()).sum((0, 2, 3)), "grad.conv.bias": dc.sum((0, 2, 3)),
            "grad.conv.weight": torch.nn.grad.conv2d_weight(x.abs(), w.shape, dc, padding=1)}


def check_other_path(t):
    net = Net().train()
    net.load_state_dict({n[len("param."):]: v for n, v in t.items() if n.startswith("param.")})
    with torch.backends.mkldnn.flags(enabled=False):
        rec, _, grads = run(net, t["x"], t["y"], autocast=True)
    got = {k: rec[k] for k in ("conv", "bn", "logits")}
    got.update({"grad." + n: g for n, g in grads.items()})
    mag = magnitudes(t)
    for k, v in got.items():
        n = BATCH_TERMS if k.startswith(("grad.conv", "grad.bn")) else CONV_TERMS
        err = (v.double() - t["bf16." + k].double()).abs()
        ratio = (err / (math.sqrt(n) * EPS_BF16 * mag[k])).nan_to_num(0.0).max().item()
        print(f"ATen bf16 path vs fixture, {k}: {ratio:.2f} of the bound (n = {n})")
        assert ratio <= 1, k


def main():
    torch.manual_seed(0)
    net = Net().train()
    x = torch.randn(4, 3, 10, 10)
    y = torch.tensor([0, 3, 1, 4])
    t = {"x": x, "y": y}
    for n, v in net.state_dict().items():
        t["param." + n] = v.clone()
    rec, loss, grads = run(net, x, y, autocast=True)
    assert rec["conv"].dtype == torch.bfloat16 and rec["logits"].dtype == torch.bfloat16 and loss.dtype == torch.float32
    for k in ("conv", "bn", "logits"):
        t["bf16." + k] = rec[k].detach()
    t["bf16.loss"] = loss.detach()
    for n, g in grads.items():
        t["bf16.grad." + n] = g
    t["bf16.running_mean"] = net.bn.running_mean.clone()
    t["bf16.running_var"] = net.bn.running_var.clone()

    net.load_state_dict({n[len("param."):]: v for n, v in t.items() if n.startswith("param.")})
    rec, loss, grads = run(net, x, y, autocast=False)
    t["fp32.logits"] = rec["logits"].detach()
    t["fp32.loss"] = loss.detach()
    for n, g in grads.items():
        t["fp32.grad." + n] = g
    check_other_path(t)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save(OUT, t, {"torch": torch.__version__})
    print("wrote", os.path.normpath(OUT), len(t), "tensors")


if __name__ == "__main__":
    main()
