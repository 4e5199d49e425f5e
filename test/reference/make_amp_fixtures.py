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
"""
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
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save(OUT, t, {"torch": torch.__version__})
    print("wrote", os.path.normpath(OUT), len(t), "tensors")


if __name__ == "__main__":
    main()
