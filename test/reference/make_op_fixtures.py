#!/usr/bin/python3
"""Writes test/fixtures/ops.safetensors: inputs, outputs, upstream gradients and input gradients of every op
the C ABI exposes, computed by PyTorch (Debian python3-torch 1.13, the same libtorch the C# side binds).

Per case NAME the file holds NAME/x0.. (inputs), NAME/out0.. (outputs), NAME/gout0.. (upstream gradients for the
float outputs) and NAME/grad0.. (gradients of the float inputs of sum(out_j * gout_j)). The C# test
(test/MLNet.Attention.Tests/OpParityTests.cs) runs the same op on the same inputs and compares.
Also writes optim.safetensors (SGD/AdamW after 3 steps) and modules.safetensors (state-dict keys, init).

Run: /usr/bin/python3 test/reference/make_op_fixtures.py
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
torch.set_num_threads(1)

cases = {}


def case(name, fn, *inputs, grad=True, seed=None, nograd=()):
    """inputs: tensors; float ones get requires_grad when grad is True (except the indices in nograd)."""
    xs = [x.clone().requires_grad_(grad and x.is_floating_point() and i not in nograd) for i, x in enumerate(inputs)]
    if seed is not None:
        torch.manual_seed(seed)
    out = fn(*xs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    entry = {}
    for i, x in enumerate(inputs):
        entry[f"{name}/x{i}"] = x
    gouts = []
    for j, o in enumerate(outs):
        entry[f"{name}/out{j}"] = o.detach()
        if o.is_floating_point() and o.requires_grad:
            g = torch.randn(o.shape, generator=torch.Generator().manual_seed(1000 + j))
            entry[f"{name}/gout{j}"] = g
            gouts.append((o, g))
    if gouts:
        loss = sum((o * g).sum() for o, g in gouts)
        loss.backward()
        for i, x in enumerate(xs):
            if x.requires_grad and x.grad is not None:
                entry[f"{name}/grad{i}"] = x.grad
    cases.update(entry)


def r(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def pos(*shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 0.5


x4 = r(2, 4, 9, 11, seed=1)

# ---- convolution, linear, matmul ----
case("conv2d_basic", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), x4, r(6, 4, 3, 3, seed=2), r(6, seed=3))
case("conv2d_strided_dilated_grouped", lambda x, w: F.conv2d(x, w, None, stride=(2, 1), padding=(2, 3), dilation=(2, 1), groups=2),
     x4, r(8, 2, 3, 5, seed=4))
case("conv2d_depthwise_7x7", lambda x, w: F.conv2d(x, w, None, stride=2, padding=3, groups=4), x4, r(4, 1, 7, 7, seed=5))
case("conv1d", lambda x, w: F.conv1d(x, w, None, stride=1, padding=1), r(3, 1, 16, seed=6), r(1, 1, 3, seed=7))
case("linear", lambda x, w, b: F.linear(x, w, b), r(5, 7, seed=8), r(3, 7, seed=9), r(3, seed=10))
case("linear_nobias_3d", lambda x, w: F.linear(x, w), r(2, 5, 7, seed=8), r(3, 7, seed=9))
case("matmul_broadcast", lambda a, b: torch.matmul(a, b), r(2, 3, 4, 5, seed=11), r(5, 6, seed=12))
case("bmm", lambda a, b: torch.bmm(a, b), r(3, 4, 5, seed=13), r(3, 5, 2, seed=14))

# ---- normalisation, dropout ----
def bn_train(x, w, b, rm, rv):
    rm = rm.detach().clone(); rv = rv.detach().clone()
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
    return y, rm, rv
case("batch_norm_train", bn_train, x4, pos(4, seed=15), r(4, seed=16), r(4, seed=17) * 0.1, pos(4, seed=18))
case("batch_norm_eval", lambda x, w, b, rm, rv: F.batch_norm(x, rm.detach(), rv.detach(), w, b, training=False, eps=1e-3),
     x4, pos(4, seed=15), r(4, seed=16), r(4, seed=17), pos(4, seed=18))
case("layer_norm", lambda x, w, b: F.layer_norm(x, (9, 11), w, b, eps=1e-5), x4, pos(9, 11, seed=19), r(9, 11, seed=20))
case("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-5), x4, pos(4, seed=21), r(4, seed=22))
case("group_norm_1", lambda x, w, b: F.group_norm(x, 1, w, b, eps=1e-5), x4, pos(4, seed=21), r(4, seed=22))
case("dropout_train_seeded", lambda x: F.dropout(x, 0.3, training=True), x4, seed=123)
case("dropout_eval", lambda x: F.dropout(x, 0.3, training=False), x4)

# ---- activations ----
xa = r(3, 5, 7, seed=23) * 4
for name, fn in [("relu", F.relu), ("relu6", F.relu6), ("sigmoid", torch.sigmoid), ("hardsigmoid", F.hardsigmoid),
                 ("hardswish", F.hardswish), ("silu", F.silu), ("gelu", F.gelu),
                 ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")), ("tanh", torch.tanh),
                 ("leaky_relu", lambda x: F.leaky_relu(x, 0.2)), ("exp", torch.exp), ("neg", torch.neg), ("abs", torch.abs),
                 ("softmax_dim1", lambda x: F.softmax(x, 1)), ("softmax_last", lambda x: F.softmax(x, -1)),
                 ("log_softmax", lambda x: F.log_softmax(x, 1))]:
    case(name, fn, xa)
xp = pos(3, 5, seed=24)
case("log", torch.log, xp)
case("sqrt", torch.sqrt, xp)
case("rsqrt", torch.rsqrt, xp)
case("reciprocal", torch.reciprocal, xp)
case("square", torch.square, xa)

# ---- pooling, resampling, padding ----
case("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1), x4)
case("max_pool2d_ceil_dilated", lambda x: F.max_pool2d(x, (2, 3), (2, 2), (1, 0), dilation=(1, 2), ceil_mode=True), x4)
case("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), x4)
case("avg_pool2d_ceil_nopad", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), x4)
case("avg_pool2d_2x2", lambda x: F.avg_pool2d(x, 2), x4)
case("adaptive_avg_pool2d_1", lambda x: F.adaptive_avg_pool2d(x, 1), x4)
case("adaptive_avg_pool2d_3x5", lambda x: F.adaptive_avg_pool2d(x, (3, 5)), x4)
case("adaptive_avg_pool2d_none_1", lambda x: F.adaptive_avg_pool2d(x, (None, 1)), x4)
case("adaptive_avg_pool2d_1_none", lambda x: F.adaptive_avg_pool2d(x, (1, None)), x4)
case("adaptive_max_pool2d_1", lambda x: F.adaptive_max_pool2d(x, 1), x4)
case("adaptive_max_pool2d_none_1", lambda x: F.adaptive_max_pool2d(x, (None, 1)), x4)
case("upsample_bilinear_size", lambda x: F.interpolate(x, size=(13, 7), mode="bilinear", align_corners=False), x4)
case("upsample_bilinear_align", lambda x: F.interpolate(x, size=(13, 17), mode="bilinear", align_corners=True), x4)
case("upsample_bilinear_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), x4)
case("upsample_nearest_size", lambda x: F.interpolate(x, size=(5, 20), mode="nearest"), x4)
case("upsample_nearest_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), x4)
case("pad_constant", lambda x: F.pad(x, (1, 2, 0, 3), mode="constant", value=0.5), x4)
case("pad_reflect", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), x4)
case("pad_replicate", lambda x: F.pad(x, (2, 1, 1, 2), mode="replicate"), x4)

# ---- shape ----
xs = r(2, 3, 4, seed=25)
case("cat_dim1", lambda a, b: torch.cat([a, b], 1), xs, r(2, 5, 4, seed=26))
case("stack_dim0", lambda a, b: torch.stack([a, b], 0), xs, r(2, 3, 4, seed=27))
case("split_sizes", lambda x: x.split([1, 3, 5], dim=2), x4)
case("split_size", lambda x: x.split(4, dim=3), x4)
case("chunk", lambda x: x.chunk(3, dim=1), x4)
case("view", lambda x: x.view(6, 4), xs)
case("reshape_permuted", lambda x: x.permute(2, 0, 1).reshape(4, -1), xs)
case("transpose", lambda x: x.transpose(0, 2), xs)
case("flatten", lambda x: x.flatten(1), x4)
case("expand", lambda x: x.expand(3, 4, 5), r(3, 1, 5, seed=28))
case("unsqueeze_squeeze", lambda x: x.unsqueeze(1).squeeze(2), r(3, 1, 5, seed=28))
case("index_select", lambda x, i: x.index_select(1, i), xs, torch.tensor([2, 0, 2], dtype=torch.int64))
case("narrow_select", lambda x: x.narrow(2, 1, 2).select(0, 1), xs)

# ---- elementwise with broadcasting, in place ----
a = r(2, 3, 4, seed=29); b = r(3, 1, seed=30)
case("add_alpha", lambda a, b: torch.add(a, b, alpha=2.5), a, b)
case("sub", lambda a, b: a - b, a, b)
case("mul", lambda a, b: a * b, a, b)
case("div", lambda a, b: a / b, a, pos(3, 1, seed=31))
case("pow_scalar", lambda a: a ** 3, a)
case("scalar_ops", lambda a: ((a + 1.5) * 2 - 0.25) / 4, a)
case("rsub_rdiv", lambda a: (2 - a) + 3 / a, pos(2, 3, seed=32))
case("maximum", lambda a, b: torch.maximum(a, b), a, r(2, 3, 4, seed=33))
case("clamp", lambda a: a.clamp(-0.5, 0.7), a)
case("inplace_chain", lambda a, b: (a * 1).add_(b, alpha=0.5).mul_(b).add_(1.0).mul_(2.0).relu_(), a, b)
case("where_masked_fill", lambda a, b: torch.where(a > 0, a, b).masked_fill(a < -1, 3.0), a, r(2, 3, 4, seed=34))

# ---- reductions ----
case("sum_all", lambda x: x.sum(), x4)
case("sum_dims_keep", lambda x: x.sum((2, 3), keepdim=True), x4)
case("mean_dim", lambda x: x.mean(1), x4)
case("mean_dims", lambda x: x.mean((0, 2)), x4)
case("max_dim", lambda x: x.max(1), x4)
case("amax_dims", lambda x: x.amax((1, 3)), x4)
case("min_dim_keep", lambda x: x.min(2, keepdim=True), x4)
case("argmax", lambda x: x.argmax(1), x4, grad=False)
case("topk", lambda x: x.topk(3, dim=-1), x4)
case("var_std", lambda x: (x.var((2, 3)), x.std(1)), x4)
case("big_sum", lambda x: x.sum(), r(64, 64, 64, seed=35))

# ---- losses ----
logits = r(8, 5, seed=36); target = torch.tensor([0, 4, 2, 2, 1, 3, 0, 4])
case("cross_entropy", lambda x, t: F.cross_entropy(x, t), logits, target)
case("cross_entropy_smooth_weighted", lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1), logits, target, pos(5, seed=37), nograd=(2,))
case("cross_entropy_sum_ignore", lambda x, t: F.cross_entropy(x, t, reduction="sum", ignore_index=2), logits, target)
case("cross_entropy_none", lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.2), logits, target)
case("nll_loss", lambda x, t, w: F.nll_loss(F.log_softmax(x, 1), t, weight=w), logits, target, pos(5, seed=38), nograd=(2,))
case("mse_loss", lambda x, y: F.mse_loss(x, y), a, r(2, 3, 4, seed=39))

os.makedirs(OUT, exist_ok=True)
save(os.path.join(OUT, "ops.safetensors"), cases)
print(f"ops.safetensors: {len({k.split('/')[0] for k in cases})} cases, {len(cases)} tensors")

# ---- optimizers: 3 steps with fixed gradients ----
opt = {}
for name, make in [
    ("sgd_plain", lambda ps: torch.optim.SGD(ps, lr=0.1)),
    ("sgd_momentum_wd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    ("sgd_nesterov_wd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("adamw_default", lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
    ("adamw_custom", lambda ps: torch.optim.AdamW(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw_amsgrad", lambda ps: torch.optim.AdamW(ps, lr=1e-2, amsgrad=True)),
]:
    p0, p1 = r(4, 3, seed=40), r(5, seed=41)
    opt[f"{name}/p0_init"], opt[f"{name}/p1_init"] = p0.clone(), p1.clone()
    ps = [nn.Parameter(p0.clone()), nn.Parameter(p1.clone())]
    o = make(ps)
    for step in range(3):
        g0, g1 = r(4, 3, seed=50 + step), r(5, seed=60 + step)
        opt[f"{name}/g0_step{step}"], opt[f"{name}/g1_step{step}"] = g0, g1
        ps[0].grad, ps[1].grad = g0.clone(), g1.clone()
        o.step()
    opt[f"{name}/p0_final"], opt[f"{name}/p1_final"] = ps[0].detach().clone(), ps[1].detach().clone()
save(os.path.join(OUT, "optim.safetensors"), opt)
print(f"optim.safetensors: {len(opt)} tensors")


# ---- modules: state-dict keys/order, default initialisation, forward in train and eval ----
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 8, 1), nn.Sigmoid())
        self.gn = nn.GroupNorm(2, 8)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Block()
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.BatchNorm2d(8)])
        self.norm = nn.LayerNorm([8])
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        s = self.stem
        x = s.relu(s.bn1(s.conv1(x)))
        x = x * s.se(x)
        x = s.gn(x)
        x = self.blocks[1](self.blocks[0](x)).relu()
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.norm(x))


torch.manual_seed(7)
net = Net()
mod = {}
sd = net.state_dict()
for k, v in sd.items():
    mod[f"init/{k}"] = v.clone()
xin = r(2, 3, 8, 8, seed=70)
mod["input"] = xin
net.train()
y_train = net(xin)
mod["out_train"] = y_train.detach()
for k, v in net.state_dict().items():
    mod[f"after_train/{k}"] = v.clone()
net.eval()
mod["out_eval"] = net(xin).detach()
save(os.path.join(OUT, "modules.safetensors"), mod, metadata={"keys": ",".join(sd.keys()), "seed": 7})
print(f"modules.safetensors: {len(sd)} state-dict entries")
