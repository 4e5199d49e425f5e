#!/usr/bin/python3
"""Writes test/fixtures/layers.safetensors: the attention layers of src/Backbones/Layers computed by PyTorch
(Debian python3-torch 1.13, the same libtorch the C# side binds).

Each reference class below is written here to reproduce its published implementation: the same attribute names
(so the same state-dict keys, in the same order), the same default initialisation and the same forward pass. The
repository each one follows is named in its docstring.

Per layer NAME the file holds
  NAME/sd/<key>          the state dict the C# layer loads (BN statistics and zero-initialised parts perturbed so
                         that every parameter matters),
  NAME/x                 the input,
  NAME/out_train         the output in training mode (batch statistics),
  NAME/gout, NAME/grad_x an upstream gradient and the input gradient of sum(out_train * gout),
  NAME/after_train/<key> every buffer after that training forward (running statistics),
  NAME/out_eval          the output in eval mode, from the state dict reloaded (running statistics),
and the metadata entry NAME/keys holds the state-dict keys in PyTorch's order, comma-separated.

Run: /usr/bin/python3 test/reference/make_layer_fixtures.py
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "layers.safetensors")
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------------
# SENet (seeds 000/001; Hu et al. 2018): the common SELayer with fc = Sequential(Linear, ReLU, Linear, Sigmoid).
class SELayer(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = channel // reduction
        self.fc = nn.Sequential(nn.Linear(channel, hidden, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channel, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c = x.shape[:2]
        w = self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)
        return x * w.expand_as(x)


# ---------------------------------------------------------------------------------------------------------------
# EPSANet (seed 002; murufeng/EPSANet models/SE_weight_module.py and models/epsanet.py).
class SEWeightModule(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


def _psa_conv(cin, cout, k, stride, groups):
    return nn.Conv2d(cin, cout, kernel_size=k, stride=stride, padding=k // 2, groups=groups, bias=False)


class PSAModule(nn.Module):
    def __init__(self, inplans, planes, conv_kernels=(3, 5, 7, 9), stride=1, conv_groups=(1, 4, 8, 16)):
        super().__init__()
        for i in range(4):
            setattr(self, f"conv_{i + 1}", _psa_conv(inplans, planes // 4, conv_kernels[i], stride, conv_groups[i]))
        self.se = SEWeightModule(planes // 4)
        self.split_channel = planes // 4
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        b = x.shape[0]
        xs = [self.conv_1(x), self.conv_2(x), self.conv_3(x), self.conv_4(x)]
        feats = torch.cat(xs, dim=1)
        feats = feats.view(b, 4, self.split_channel, feats.shape[2], feats.shape[3])
        x_se = torch.cat([self.se(t) for t in xs], dim=1)
        attention = self.softmax(x_se.view(b, 4, self.split_channel, 1, 1))
        weighted = feats * attention
        out = None
        for i in range(4):  # the official loop prepends each branch: the result is (x4, x3, x2, x1)
            part = weighted[:, i, :, :]
            out = part if out is None else torch.cat((part, out), 1)
        return out


# ---------------------------------------------------------------------------------------------------------------
# CBAM (Woo et al. 2018; Jongchan/attention-module MODELS/cbam.py).
class BasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, relu=True, bn=True, bias=False):
        super().__init__()
        self.out_channels = out_planes
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, padding=padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


class CbamChannelGate(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.gate_channels = gate_channels
        self.mlp = nn.Sequential(Flatten(), nn.Linear(gate_channels, gate_channels // reduction_ratio), nn.ReLU(),
                                 nn.Linear(gate_channels // reduction_ratio, gate_channels))

    def forward(self, x):
        hw = (x.size(2), x.size(3))
        att = self.mlp(F.avg_pool2d(x, hw, stride=hw)) + self.mlp(F.max_pool2d(x, hw, stride=hw))
        return x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)


class CbamSpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = BasicConv(2, 1, 7, stride=1, padding=3, relu=False)

    def forward(self, x):
        compressed = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        return x * torch.sigmoid(self.spatial(compressed))


class CBAM(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, no_spatial=False):
        super().__init__()
        self.ChannelGate = CbamChannelGate(gate_channels, reduction_ratio)
        self.no_spatial = no_spatial
        if not no_spatial:
            self.SpatialGate = CbamSpatialGate()

    def forward(self, x):
        out = self.ChannelGate(x)
        if not self.no_spatial:
            out = self.SpatialGate(out)
        return out


# ---------------------------------------------------------------------------------------------------------------
# BAM (Park et al. 2018; Jongchan/attention-module MODELS/bam.py, num_layers=1, dilation 4, two dilated convs).
class BamChannelGate(nn.Module):
    def __init__(self, gate_channel, reduction_ratio=16):
        super().__init__()
        mid = gate_channel // reduction_ratio
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("flatten", Flatten())
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(gate_channel, mid))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(mid))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(mid, gate_channel))

    def forward(self, x):
        # The official code pools with a square window of x.size(2): the global average for the square inputs used
        # here (and by the C# layer, which always pools globally).
        pooled = F.avg_pool2d(x, x.size(2), stride=x.size(2))
        return self.gate_c(pooled).unsqueeze(2).unsqueeze(3).expand_as(x)


class BamSpatialGate(nn.Module):
    def __init__(self, gate_channel, reduction_ratio=16, dilation_conv_num=2, dilation_val=4):
        super().__init__()
        mid = gate_channel // reduction_ratio
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(gate_channel, mid, kernel_size=1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(mid))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module(f"gate_s_conv_di_{i}",
                                   nn.Conv2d(mid, mid, kernel_size=3, padding=dilation_val, dilation=dilation_val))
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(mid))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(mid, 1, kernel_size=1))

    def forward(self, x):
        return self.gate_s(x).expand_as(x)


class BAM(nn.Module):
    def __init__(self, gate_channel):
        super().__init__()
        self.channel_att = BamChannelGate(gate_channel)
        self.spatial_att = BamSpatialGate(gate_channel)

    def forward(self, x):
        return (1 + torch.sigmoid(self.channel_att(x) * self.spatial_att(x))) * x


# ---------------------------------------------------------------------------------------------------------------
# Coordinate attention (Hou et al. 2021; Andrew-Qibin/CoordAttention coordatt.py, published as houqb/CoordAttention).
class HSigmoid(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.relu = nn.ReLU6(inplace=inplace)

    def forward(self, x):
        return self.relu(x + 3) / 6


class HSwish(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.sigmoid = HSigmoid(inplace=inplace)

    def forward(self, x):
        return x * self.sigmoid(x)


class CoordAtt(nn.Module):
    def __init__(self, inp, oup, reduction=32):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        y = torch.cat([self.pool_h(x), self.pool_w(x).permute(0, 1, 3, 2)], dim=2)
        y = self.act(self.bn1(self.conv1(y)))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(y_h).sigmoid()
        a_w = self.conv_w(y_w.permute(0, 1, 3, 2)).sigmoid()
        return x * a_w * a_h


# ---------------------------------------------------------------------------------------------------------------
# ECA (Wang et al. 2020; BangguWu/ECANet models/eca_module.py).
class EcaLayer(nn.Module):
    def __init__(self, channel, k_size=3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y).expand_as(x)


# ---------------------------------------------------------------------------------------------------------------
# Selective kernel (Li et al. 2019; the PyTorch SKConv of pppLang/SKNet: M paths of 3x3 with dilation 1+i,
# fc = 1x1 conv + BN + ReLU to d = max(C/r, L), one 1x1 conv per path, softmax over the paths).
class SKConv(nn.Module):
    def __init__(self, features, M=2, G=32, r=16, stride=1, L=32):
        super().__init__()
        d = max(int(features / r), L)
        self.M = M
        self.features = features
        self.convs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(features, features, kernel_size=3, stride=stride, padding=1 + i, dilation=1 + i,
                                    groups=G, bias=False),
                          nn.BatchNorm2d(features), nn.ReLU(inplace=True))
            for i in range(M)])
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Sequential(nn.Conv2d(features, d, kernel_size=1, stride=1, bias=False), nn.BatchNorm2d(d),
                                nn.ReLU(inplace=True))
        self.fcs = nn.ModuleList([nn.Conv2d(d, features, kernel_size=1, stride=1) for _ in range(M)])
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        b = x.shape[0]
        feats = torch.cat([conv(x) for conv in self.convs], dim=1)
        feats = feats.view(b, self.M, self.features, feats.shape[2], feats.shape[3])
        z = self.fc(self.gap(torch.sum(feats, dim=1)))
        attention = torch.cat([fc(z) for fc in self.fcs], dim=1).view(b, self.M, self.features, 1, 1)
        return torch.sum(feats * self.softmax(attention), dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Global context block (Cao et al. 2019; xvjiarui/GCNet mmdet/ops/ct/context_block.py, pool='att',
# fusions=['channel_add']; mmcv kaiming_init(fan_in) of conv_mask, last conv of the transform zero-initialised).
class ContextBlock2d(nn.Module):
    def __init__(self, inplanes, planes):
        super().__init__()
        self.inplanes = inplanes
        self.planes = planes
        self.conv_mask = nn.Conv2d(inplanes, 1, kernel_size=1)
        self.softmax = nn.Softmax(dim=2)
        self.channel_add_conv = nn.Sequential(nn.Conv2d(inplanes, planes, kernel_size=1), nn.LayerNorm([planes, 1, 1]),
                                              nn.ReLU(inplace=True), nn.Conv2d(planes, inplanes, kernel_size=1))
        nn.init.kaiming_normal_(self.conv_mask.weight, a=0, mode="fan_in", nonlinearity="relu")
        nn.init.constant_(self.conv_mask.bias, 0)
        nn.init.constant_(self.channel_add_conv[-1].weight, 0)
        nn.init.constant_(self.channel_add_conv[-1].bias, 0)

    def forward(self, x):
        b, c, h, w = x.shape
        input_x = x.view(b, c, h * w).unsqueeze(1)
        mask = self.softmax(self.conv_mask(x).view(b, 1, h * w)).unsqueeze(3)
        context = torch.matmul(input_x, mask).view(b, c, 1, 1)
        return x + self.channel_add_conv(context)


# ---------------------------------------------------------------------------------------------------------------
# Non-local block, embedded Gaussian (Wang et al. 2018; AlexHex7/Non-local_pytorch lib/non_local_embedded_gaussian.py,
# 2-D, bn_layer=True: W = Sequential(conv, BN) with BN gamma = beta = 0).
class NonLocalBlock2D(nn.Module):
    def __init__(self, in_channels, inter_channels=None, sub_sample=True):
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = inter_channels if inter_channels is not None else max(1, in_channels // 2)
        self.g = nn.Conv2d(in_channels, self.inter_channels, kernel_size=1, stride=1, padding=0)
        self.W = nn.Sequential(nn.Conv2d(self.inter_channels, in_channels, kernel_size=1, stride=1, padding=0),
                               nn.BatchNorm2d(in_channels))
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)
        self.theta = nn.Conv2d(in_channels, self.inter_channels, kernel_size=1, stride=1, padding=0)
        self.phi = nn.Conv2d(in_channels, self.inter_channels, kernel_size=1, stride=1, padding=0)
        if sub_sample:
            self.g = nn.Sequential(self.g, nn.MaxPool2d(kernel_size=(2, 2)))
            self.phi = nn.Sequential(self.phi, nn.MaxPool2d(kernel_size=(2, 2)))

    def forward(self, x):
        b = x.size(0)
        g_x = self.g(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        phi_x = self.phi(x).view(b, self.inter_channels, -1)
        f = F.softmax(torch.matmul(theta_x, phi_x), dim=-1)
        y = torch.matmul(f, g_x).permute(0, 2, 1).contiguous().view(b, self.inter_channels, *x.size()[2:])
        return self.W(y) + x


# ---------------------------------------------------------------------------------------------------------------
tensors = {}
metadata = {}


def perturb(module, gen, zero_init=()):
    """Non-trivial BN/LN affine parameters and running statistics, and random values for the parameters the
    reference initialises to zero (named in zero_init), so that every parameter and buffer affects the output."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(5)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
        params = dict(module.named_parameters())
        for name in zero_init:
            p = params[name]
            p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if p.dim() > 1 else 0.2))


def record(name, module, x_shape, seed, zero_init=()):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(module, gen, zero_init)
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    metadata[f"{name}/keys"] = ",".join(sd.keys())
    for k, v in sd.items():
        tensors[f"{name}/sd/{k}"] = v
    x = torch.randn(x_shape, generator=gen)
    tensors[f"{name}/x"] = x

    module.train()
    xg = x.clone().requires_grad_(True)
    out = module(xg)
    gout = torch.randn(out.shape, generator=gen)
    (out * gout).sum().backward()
    tensors[f"{name}/out_train"] = out.detach()
    tensors[f"{name}/gout"] = gout
    tensors[f"{name}/grad_x"] = xg.grad.detach()
    for k, v in module.named_buffers():
        tensors[f"{name}/after_train/{k}"] = v.detach().clone()

    module.load_state_dict(sd)
    module.eval()
    with torch.no_grad():
        tensors[f"{name}/out_eval"] = module(x.clone())


torch.manual_seed(0)
record("se", SELayer(32, 16), (2, 32, 7, 9), seed=10)
torch.manual_seed(1)
record("seweight", SEWeightModule(32, 8), (2, 32, 7, 9), seed=11)
torch.manual_seed(2)
record("psa", PSAModule(64, 64), (2, 64, 7, 9), seed=12)
torch.manual_seed(3)
record("psa_stride2", PSAModule(16, 64, stride=2), (2, 16, 7, 9), seed=13)
torch.manual_seed(4)
record("cbam", CBAM(32, 16), (2, 32, 7, 9), seed=14)
torch.manual_seed(5)
record("ca", CoordAtt(32, 32, 32), (2, 32, 7, 9), seed=15)
torch.manual_seed(6)
record("eca", EcaLayer(32, 5), (2, 32, 7, 9), seed=16)
torch.manual_seed(7)
record("bam", BAM(32), (2, 32, 8, 8), seed=17)  # square: see BamChannelGate.forward
torch.manual_seed(8)
record("gc", ContextBlock2d(32, 8), (2, 32, 7, 9), seed=18, zero_init=("channel_add_conv.3.weight", "channel_add_conv.3.bias"))
torch.manual_seed(9)
record("sk", SKConv(64, M=2, G=32, r=16, stride=1, L=32), (2, 64, 7, 9), seed=19)
torch.manual_seed(10)
record("sk_stride2", SKConv(32, M=2, G=8, r=4, stride=2, L=4), (2, 32, 7, 9), seed=20)
torch.manual_seed(11)
record("nonlocal", NonLocalBlock2D(32), (2, 32, 7, 9), seed=21)
torch.manual_seed(12)
record("nonlocal_nosub", NonLocalBlock2D(32, inter_channels=8, sub_sample=False), (2, 32, 7, 9), seed=22)

save(OUT, tensors, metadata)
print(f"wrote {OUT}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")
