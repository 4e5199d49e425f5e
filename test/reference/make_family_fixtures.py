#!/usr/bin/python3
"""Writes test/fixtures/families.safetensors: the backbone families of src/Backbones/Models computed by PyTorch
(Debian python3-torch 1.13 / python3-torchvision 0.14, the same libtorch the C# side binds).

Each family is either torchvision's own code (MobileNetV2) or a re-implementation here of its published code, with
the same attribute names (so the same state-dict keys, in the same order) and the same forward pass. The repository
each one follows is named above its classes.

Two kinds of entries:

* Full-size models (the registry's defaults: 1000 classes, 3 channels, 224 px): the metadata entry
  FULL/<model>/keys lists every state-dict key with its shape ("key:d0xd1x...", comma-separated), and
  FULL/<model>/params and FULL/<model>/macs give the parameter count and the multiply-adds of one 224 px forward pass
  (convolutions and linear layers as the C# FlopCounter counts them, plus the attention matrix products);
  FULL/mobilevitv2_*/macs256 the same at 256 px, timm's size for those models.
* Reduced models (small width, 10 classes, batch 2) with weights, for numerical parity; per NAME the file holds
    NAME/sd                  the state dict as one flat float16 tensor (BN/GN affine parameters and running statistics
                             perturbed; every value rounded to float16 precision before anything is computed, so the
                             storage loses nothing),
    NAME/x                   the input (float16, exact),
    NAME/out_train           the output in training mode (batch statistics),
    NAME/gout, NAME/grad_x   an upstream gradient (float16, exact) and the input gradient of sum(out_train * gout),
                             computed with the model in float64 (training mode) and stored as float32,
    NAME/out_eval            the output in eval mode, from the state dict reloaded,
  and the metadata NAME/keys ("key:d0xd1x...", the state dict's keys and shapes in PyTorch's order, which cut
  NAME/sd) and NAME/config (how the C# test builds the same model; "sd" names another entry whose weights it loads).

Run: /usr/bin/python3 test/reference/make_family_fixtures.py [mobilenetv2 c2f mobilevitv2 ran botnet]
(the families to write; all by default)
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.ops.misc import Conv2dNormActivation

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "families.safetensors")
torch.set_num_threads(4)


# ---------------------------------------------------------------------------------------------------------------
# Multiply-add counting: conv and linear layers through hooks (output elements x fan-in, as the C# layers count),
# attention matrix products through add_macs() calls in the forward passes below.
class _Macs:
    active = False
    total = 0


def add_macs(n):
    if _Macs.active:
        _Macs.total += int(n)


def count_macs(model, x):
    hooks = []

    def conv_hook(m, inp, out):
        add_macs(out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])

    def linear_hook(m, inp, out):
        add_macs(out.numel() * m.in_features)

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    model.eval()
    _Macs.active, _Macs.total = True, 0
    with torch.no_grad():
        model(x)
    _Macs.active = False
    for h in hooks:
        h.remove()
    return _Macs.total


# ---------------------------------------------------------------------------------------------------------------
# MobileNetV2 (Sandler et al. 2018): torchvision.models.mobilenet_v2. The small-image form follows the usual CIFAR
# adaptation (kuangliu/pytorch-cifar): stride-1 stem and stride 1 in the first stride-2 stage (24 channels).
MBV2_SETTINGS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


def tv_mobilenet_v2(num_classes=1000, in_chans=3, small=False, width=1.0, settings=None, last_channel=None, dropout=0.2):
    settings = [list(r) for r in (settings or MBV2_SETTINGS)]
    if small:
        settings[1][3] = 1
    m = torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=width, inverted_residual_setting=settings,
                                        dropout=dropout)
    if small or in_chans != 3:
        stem = m.features[0][0]
        m.features[0][0] = nn.Conv2d(in_chans, stem.out_channels, 3, 1 if small else 2, 1, bias=False)
    if last_channel is not None:
        prev = m.features[-1][0].in_channels
        m.features[-1] = Conv2dNormActivation(prev, last_channel, kernel_size=1, norm_layer=nn.BatchNorm2d,
                                              activation_layer=nn.ReLU6)
        m.classifier[1] = nn.Linear(last_channel, num_classes)
    return m


# ---------------------------------------------------------------------------------------------------------------
# MobileNetV2 with coordinate attention: houqb/CoordAttention (Andrew-Qibin/CoordAttention) mbv2_ca.py. Its own
# CoordAtt names the two output convs conv2/conv3 and the activation relu (coordatt.py: conv_h/conv_w, act).
def _make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class h_sigmoid(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.relu = nn.ReLU6(inplace=inplace)

    def forward(self, x):
        return self.relu(x + 3) / 6


class h_swish(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.sigmoid = h_sigmoid(inplace=inplace)

    def forward(self, x):
        return x * self.sigmoid(x)


class MbCoordAtt(nn.Module):
    def __init__(self, inp, oup, groups=32):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // groups)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv2 = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv3 = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.relu = h_swish()

    def forward(self, x):
        identity = x
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = torch.cat([x_h, x_w], dim=2)
        y = self.relu(self.bn1(self.conv1(y)))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        x_h = self.conv2(x_h).sigmoid().expand(-1, -1, h, w)
        x_w = self.conv3(x_w).sigmoid().expand(-1, -1, h, w)
        return identity * x_w * x_h


class CaInvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = round(inp * expand_ratio)
        self.identity = stride == 1 and inp == oup
        if expand_ratio == 1:
            self.conv = nn.Sequential(
                nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1, groups=hidden_dim, bias=False),
                nn.BatchNorm2d(hidden_dim), nn.ReLU6(inplace=True),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup))
        else:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim), nn.ReLU6(inplace=True),
                nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1, groups=hidden_dim, bias=False),
                nn.BatchNorm2d(hidden_dim), nn.ReLU6(inplace=True),
                MbCoordAtt(hidden_dim, hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.identity else y


class MBV2_CA(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1., in_chans=3, small=False, settings=None, last_channel=None,
                 dropout=0.1):
        super().__init__()
        self.cfgs = [list(r) for r in (settings or MBV2_SETTINGS)]
        if small:
            self.cfgs[1][3] = 1
        div = 4 if width_mult == 0.1 else 8
        input_channel = _make_divisible(32 * width_mult, div)
        layers = [nn.Sequential(nn.Conv2d(in_chans, input_channel, 3, 1 if small else 2, 1, bias=False),
                                nn.BatchNorm2d(input_channel), nn.ReLU6(inplace=True))]
        for t, c, n, s in self.cfgs:
            output_channel = _make_divisible(c * width_mult, div)
            for i in range(n):
                layers.append(CaInvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        self.features = nn.Sequential(*layers)
        output_channel = _make_divisible(1280 * width_mult, div) if width_mult > 1.0 else 1280
        if last_channel is not None:
            output_channel = last_channel
        self.conv = nn.Sequential(nn.Conv2d(input_channel, output_channel, 1, 1, 0, bias=False),
                                  nn.BatchNorm2d(output_channel), nn.ReLU6(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(output_channel, num_classes))

    def forward(self, x):
        x = self.avgpool(self.conv(self.features(x)))
        return self.classifier(x.view(x.size(0), -1))


# ---------------------------------------------------------------------------------------------------------------
# C2f classification backbone: ultralytics nn/modules (Conv, Bottleneck, C2f, Classify) arranged as
# cfg/models/v8/yolov8-cls.yaml; BN eps 1e-3 / momentum 0.03 as ultralytics' initialize_weights sets them.
# Differences, shared with the C# model: Classify returns logits in eval mode too (ultralytics applies softmax
# there), and its hidden width (1280) is an argument so the fixtures stay small. The CA variant appends coordatt.py's
# CoordAtt (as `ca`) after each C2f's cv2, keeping the layer indices of yolov8-cls.
def autopad(k, p=None, d=1):
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


# Coordinate attention as in houqb/CoordAttention coordatt.py (the C# CoordAttention layer).
class CoordAtt(nn.Module):
    def __init__(self, inp, oup, reduction=32):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = h_swish()
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


class C2fCA(C2f):
    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.ca = CoordAtt(c2, c2)

    def forward(self, x):
        return self.ca(super().forward(x))


class Classify(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, c_=1280):
        super().__init__()
        self.conv = Conv(c1, c_, k, s, p, g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0, inplace=True)
        self.linear = nn.Linear(c_, c2)

    def forward(self, x):
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))


C2F_SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024)}


class C2fCls(nn.Module):
    def __init__(self, scale="n", num_classes=1000, in_chans=3, small=False, width_mult=1.0, ca=False, head=1280):
        super().__init__()
        depth, width, max_ch = C2F_SCALES[scale]
        width *= width_mult

        def ch(c):
            return int(math.ceil(min(c, max_ch) * width / 8) * 8)

        def rep(n):
            return max(round(n * depth), 1) if n > 1 else n

        block = C2fCA if ca else C2f
        c = [ch(64), ch(128), ch(256), ch(512), ch(1024)]
        self.model = nn.Sequential(
            Conv(in_chans, c[0], 3, 1 if small else 2),
            Conv(c[0], c[1], 3, 1 if small else 2),
            block(c[1], c[1], rep(3), True),
            Conv(c[1], c[2], 3, 2),
            block(c[2], c[2], rep(6), True),
            Conv(c[2], c[3], 3, 2),
            block(c[3], c[3], rep(6), True),
            Conv(c[3], c[4], 3, 2),
            block(c[4], c[4], rep(3), True),
            Classify(c[4], num_classes, c_=head))

    def forward(self, x):
        return self.model(x)


# ---------------------------------------------------------------------------------------------------------------
# MobileViTv2 (Mehta & Rastegari 2022): timm models/mobilevit.py (MobileVitV2Block, LinearTransformerBlock,
# LinearSelfAttention) on models/byobnet.py (ByobNet stem/stages/head, BottleneckBlock with bottle_in and
# linear_out for the MV2 blocks, downsample='' so only same-shape blocks keep a residual).
def make_divisible(v, divisor=8, min_value=None, round_limit=.9):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class ConvNormAct(nn.Module):
    """timm ConvNormAct: conv + BatchNormAct2d (the act lives inside bn there; it holds no parameters)."""

    def __init__(self, cin, cout, k=1, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, ((stride - 1) + (k - 1)) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class MV2Block(nn.Module):
    """timm BottleneckBlock(bottle_in=True, linear_out=True, downsample='', group_size=1)."""

    def __init__(self, in_chs, out_chs, stride, bottle_ratio):
        super().__init__()
        mid = make_divisible(in_chs * bottle_ratio)
        self.has_shortcut = in_chs == out_chs and stride == 1
        self.shortcut = nn.Identity() if self.has_shortcut else None
        self.conv1_1x1 = ConvNormAct(in_chs, mid, 1)
        self.conv2_kxk = ConvNormAct(mid, mid, 3, stride, groups=mid)
        self.conv2b_kxk = nn.Identity()
        self.attn = nn.Identity()
        self.conv3_1x1 = ConvNormAct(mid, out_chs, 1, act=False)
        self.attn_last = nn.Identity()
        self.drop_path = nn.Identity()
        self.act = nn.Identity()

    def forward(self, x):
        y = self.conv3_1x1(self.conv2_kxk(self.conv1_1x1(x)))
        return x + y if self.has_shortcut else y


class GroupNorm1(nn.GroupNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(1, num_channels, **kwargs)


class LinearSelfAttention(nn.Module):
    def __init__(self, embed_dim):
        super().__init__()
        self.embed_dim = embed_dim
        self.qkv_proj = nn.Conv2d(embed_dim, 1 + 2 * embed_dim, kernel_size=1, bias=True)
        self.attn_drop = nn.Dropout(0.0)
        self.out_proj = nn.Conv2d(embed_dim, embed_dim, kernel_size=1, bias=True)
        self.out_drop = nn.Dropout(0.0)

    def forward(self, x):
        qkv = self.qkv_proj(x)
        query, key, value = qkv.split([1, self.embed_dim, self.embed_dim], dim=1)
        context_scores = F.softmax(query, dim=-1)
        context_vector = (key * context_scores).sum(dim=-1, keepdim=True)
        add_macs(key.numel())  # the context vector: a (d x N)(N x 1) product per batch and patch pixel
        out = F.relu(value) * context_vector.expand_as(value)
        return self.out_drop(self.out_proj(out))


class ConvMlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Conv2d(in_features, hidden_features, kernel_size=1, bias=True)
        self.norm = nn.Identity()
        self.act = nn.SiLU()
        self.drop = nn.Dropout(0.0)
        self.fc2 = nn.Conv2d(hidden_features, in_features, kernel_size=1, bias=True)

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.norm(self.fc1(x)))))


class LinearTransformerBlock(nn.Module):
    def __init__(self, embed_dim, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = GroupNorm1(embed_dim)
        self.attn = LinearSelfAttention(embed_dim)
        self.drop_path1 = nn.Identity()
        self.norm2 = GroupNorm1(embed_dim)
        self.mlp = ConvMlp(embed_dim, int(embed_dim * mlp_ratio))
        self.drop_path2 = nn.Identity()

    def forward(self, x):
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class MobileVitV2Block(nn.Module):
    def __init__(self, in_chs, bottle_ratio=0.5, transformer_depth=2, patch_size=2):
        super().__init__()
        transformer_dim = make_divisible(bottle_ratio * in_chs)
        self.conv_kxk = ConvNormAct(in_chs, in_chs, 3, 1, groups=in_chs)
        self.conv_1x1 = nn.Conv2d(in_chs, transformer_dim, kernel_size=1, bias=False)
        self.transformer = nn.Sequential(*[LinearTransformerBlock(transformer_dim) for _ in range(transformer_depth)])
        self.norm = GroupNorm1(transformer_dim)
        self.conv_proj = ConvNormAct(transformer_dim, in_chs, 1, 1, act=False)
        self.patch_size = (patch_size, patch_size)
        self.patch_area = patch_size * patch_size

    def forward(self, x):
        B, C, H, W = x.shape
        patch_h, patch_w = self.patch_size
        new_h, new_w = math.ceil(H / patch_h) * patch_h, math.ceil(W / patch_w) * patch_w
        num_patch_h, num_patch_w = new_h // patch_h, new_w // patch_w
        num_patches = num_patch_h * num_patch_w
        if new_h != H or new_w != W:
            x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=True)
        x = self.conv_1x1(self.conv_kxk(x))
        C = x.shape[1]
        x = x.reshape(B, C, num_patch_h, patch_h, num_patch_w, patch_w).permute(0, 1, 3, 5, 2, 4)
        x = x.reshape(B, C, -1, num_patches)
        x = self.norm(self.transformer(x))
        x = x.reshape(B, C, patch_h, patch_w, num_patch_h, num_patch_w).permute(0, 1, 4, 2, 5, 3)
        x = x.reshape(B, C, num_patch_h * patch_h, num_patch_w * patch_w)
        return self.conv_proj(x)


class ClassifierHead(nn.Module):
    def __init__(self, in_chs, num_classes):
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_chs, num_classes)

    def forward(self, x):
        return self.fc(self.global_pool(x).flatten(1))


class MobileViTv2(nn.Module):
    """ByobNet(_mobilevitv2_cfg(multiplier)); small: stride-1 stem and stride 1 in stage 1."""

    def __init__(self, multiplier=1.0, num_classes=1000, in_chans=3, small=False, depths=(2, 4, 3)):
        super().__init__()
        chs = (64, 128, 256, 384, 512)
        if multiplier != 1.0:
            chs = tuple(int(c * multiplier) for c in chs)
        chs = tuple(make_divisible(c) for c in chs)  # create_byob_stages: make_divisible(c * width_factor)
        stem = int(32 * multiplier)
        self.stem = ConvNormAct(in_chans, stem, 3, 1 if small else 2)
        s1 = 1 if small else 2
        self.stages = nn.Sequential(
            nn.Sequential(MV2Block(stem, chs[0], 1, 2.0)),
            nn.Sequential(MV2Block(chs[0], chs[1], s1, 2.0), MV2Block(chs[1], chs[1], 1, 2.0)),
            nn.Sequential(MV2Block(chs[1], chs[2], 2, 2.0), MobileVitV2Block(chs[2], transformer_depth=depths[0])),
            nn.Sequential(MV2Block(chs[2], chs[3], 2, 2.0), MobileVitV2Block(chs[3], transformer_depth=depths[1])),
            nn.Sequential(MV2Block(chs[3], chs[4], 2, 2.0), MobileVitV2Block(chs[4], transformer_depth=depths[2])))
        self.final_conv = nn.Identity()
        self.head = ClassifierHead(chs[4], num_classes)

    def forward(self, x):
        return self.head(self.final_conv(self.stages(self.stem(x))))


# ---------------------------------------------------------------------------------------------------------------
# Residual Attention Network (Wang et al. 2017): tengshaofeng/ResidualAttentionNetwork-pytorch
# (model/basic_layers.py, model/attention_module.py, model/residual_attention_network.py: ResidualAttentionModel_56
# and _92 for 224 px). Generalised in the same way as the C# model: the mask branch upsamples (bilinear,
# align_corners=True as nn.UpsamplingBilinear2d) to the size of the tensor it is added to instead of fixed sizes,
# the final pooling is global (AvgPool2d(7) at 224 px), the classifier has num_classes outputs, the width scales, and
# ResidualBlock creates its 1x1 projection conv4 only where it is used (the original always creates it).
class ResidualBlock(nn.Module):
    def __init__(self, input_channels, output_channels, stride=1):
        super().__init__()
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.stride = stride
        self.bn1 = nn.BatchNorm2d(input_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(input_channels, output_channels // 4, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(output_channels // 4)
        self.conv2 = nn.Conv2d(output_channels // 4, output_channels // 4, 3, stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(output_channels // 4)
        self.conv3 = nn.Conv2d(output_channels // 4, output_channels, 1, 1, bias=False)
        if input_channels != output_channels or stride != 1:
            self.conv4 = nn.Conv2d(input_channels, output_channels, 1, stride, bias=False)

    def forward(self, x):
        residual = x
        out1 = self.relu(self.bn1(x))
        out = self.relu(self.bn2(self.conv1(out1)))
        out = self.relu(self.bn3(self.conv2(out)))
        out = self.conv3(out)
        if self.input_channels != self.output_channels or self.stride != 1:
            residual = self.conv4(out1)
        return out + residual


def _up(x, like):
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)


def _mask_head(c):
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, 1, bias=False),
                         nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, 1, bias=False), nn.Sigmoid())


class AttentionModule_stage1(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax1_blocks = ResidualBlock(c, c)
        self.skip1_connection_residual_block = ResidualBlock(c, c)
        self.mpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax2_blocks = ResidualBlock(c, c)
        self.skip2_connection_residual_block = ResidualBlock(c, c)
        self.mpool3 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax3_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.softmax4_blocks = ResidualBlock(c, c)
        self.softmax5_blocks = ResidualBlock(c, c)
        self.softmax6_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        out_trunk = self.trunk_branches(x)
        out_softmax1 = self.softmax1_blocks(self.mpool1(x))
        out_skip1 = self.skip1_connection_residual_block(out_softmax1)
        out_softmax2 = self.softmax2_blocks(self.mpool2(out_softmax1))
        out_skip2 = self.skip2_connection_residual_block(out_softmax2)
        out_softmax3 = self.softmax3_blocks(self.mpool3(out_softmax2))
        out = _up(out_softmax3, out_softmax2) + out_softmax2 + out_skip2
        out_softmax4 = self.softmax4_blocks(out)
        out = _up(out_softmax4, out_softmax1) + out_softmax1 + out_skip1
        out_softmax5 = self.softmax5_blocks(out)
        out_softmax6 = self.softmax6_blocks(_up(out_softmax5, out_trunk) + out_trunk)
        return self.last_blocks((1 + out_softmax6) * out_trunk)


class AttentionModule_stage2(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax1_blocks = ResidualBlock(c, c)
        self.skip1_connection_residual_block = ResidualBlock(c, c)
        self.mpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax2_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.softmax3_blocks = ResidualBlock(c, c)
        self.softmax4_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        out_trunk = self.trunk_branches(x)
        out_softmax1 = self.softmax1_blocks(self.mpool1(x))
        out_skip1 = self.skip1_connection_residual_block(out_softmax1)
        out_softmax2 = self.softmax2_blocks(self.mpool2(out_softmax1))
        out = _up(out_softmax2, out_softmax1) + out_softmax1 + out_skip1
        out_softmax3 = self.softmax3_blocks(out)
        out_softmax4 = self.softmax4_blocks(_up(out_softmax3, out_trunk) + out_trunk)
        return self.last_blocks((1 + out_softmax4) * out_trunk)


class AttentionModule_stage3(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.softmax1_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.softmax2_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        out_trunk = self.trunk_branches(x)
        out_softmax1 = self.softmax1_blocks(self.mpool1(x))
        out_softmax2 = self.softmax2_blocks(_up(out_softmax1, out_trunk) + out_trunk)
        return self.last_blocks((1 + out_softmax2) * out_trunk)


def ran_channels(width):
    """Stem and stage widths (64; 256, 512, 1024, 2048) scaled, stage widths kept multiples of 4."""
    return max(1, round(64 * width)), [max(4, round(c * width / 4) * 4) for c in (256, 512, 1024, 2048)]


class ResidualAttentionModel(nn.Module):
    def __init__(self, depth=56, num_classes=1000, in_chans=3, small=False, width=1.0):
        super().__init__()
        stem, (c1, c2, c3, c4) = ran_channels(width)
        if small:
            self.conv1 = nn.Sequential(nn.Conv2d(in_chans, stem, kernel_size=3, stride=1, padding=1, bias=False),
                                       nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
            self.mpool1 = nn.Identity()
        else:
            self.conv1 = nn.Sequential(nn.Conv2d(in_chans, stem, kernel_size=7, stride=2, padding=3, bias=False),
                                       nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
            self.mpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.residual_block1 = ResidualBlock(stem, c1)
        self.attention_module1 = AttentionModule_stage1(c1)
        self.residual_block2 = ResidualBlock(c1, c2, 2)
        self.attention_module2 = AttentionModule_stage2(c2)
        if depth == 92:
            self.attention_module2_2 = AttentionModule_stage2(c2)
        self.residual_block3 = ResidualBlock(c2, c3, 2)
        self.attention_module3 = AttentionModule_stage3(c3)
        if depth == 92:
            self.attention_module3_2 = AttentionModule_stage3(c3)
            self.attention_module3_3 = AttentionModule_stage3(c3)
        self.residual_block4 = ResidualBlock(c3, c4, 2)
        self.residual_block5 = ResidualBlock(c4, c4)
        self.residual_block6 = ResidualBlock(c4, c4)
        self.mpool2 = nn.Sequential(nn.BatchNorm2d(c4), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(c4, num_classes)
        self.depth = depth

    def forward(self, x):
        out = self.mpool1(self.conv1(x))
        out = self.attention_module1(self.residual_block1(out))
        out = self.attention_module2(self.residual_block2(out))
        if self.depth == 92:
            out = self.attention_module2_2(out)
        out = self.attention_module3(self.residual_block3(out))
        if self.depth == 92:
            out = self.attention_module3_3(self.attention_module3_2(out))
        out = self.residual_block6(self.residual_block5(self.residual_block4(out)))
        out = self.mpool2(out)
        return self.fc(out.view(out.size(0), -1))


# ---------------------------------------------------------------------------------------------------------------
# BoTNet-50 (Srinivas et al. 2021): torchvision's ResNet-50 (key names conv1, bn1, layer1..4, fc; the C# ResNet.cs) whose layer4
# 3x3 convolutions are timm's BottleneckAttn (timm/layers/bottleneck_attn.py: qkv 1x1 without bias, 4 heads,
# PosEmbedRel relative logits over H and W, 2x2 average pool after attention in the strided block). The C# model
# additionally accepts inputs smaller than it was built for by using the central part of the relative tables;
# `rel_slice` below does the same.
def rel_logits_1d(q, rel_k, permute_mask):
    B, H, W, dim = q.shape
    x = q @ rel_k.transpose(-1, -2)
    x = x.reshape(-1, W, 2 * W - 1)
    x_pad = F.pad(x, [0, 1]).flatten(1)
    x_pad = F.pad(x_pad, [0, W - 1])
    x_pad = x_pad.reshape(-1, W + 1, 2 * W - 1)
    x = x_pad[:, :W, W - 1:]
    x = x.reshape(B, H, 1, W, W).expand(-1, -1, H, -1, -1)
    return x.permute(permute_mask)


class PosEmbedRel(nn.Module):
    def __init__(self, feat_size, dim_head, scale):
        super().__init__()
        self.height, self.width = feat_size
        self.dim_head = dim_head
        self.height_rel = nn.Parameter(torch.randn(self.height * 2 - 1, dim_head) * scale)
        self.width_rel = nn.Parameter(torch.randn(self.width * 2 - 1, dim_head) * scale)

    def forward(self, q):
        B, HW, d = q.shape
        add_macs(B * HW * (2 * self.width - 1) * d + B * HW * (2 * self.height - 1) * d)
        q = q.reshape(B, self.height, self.width, -1)
        rel_logits_w = rel_logits_1d(q, self.width_rel, permute_mask=(0, 1, 3, 2, 4))
        q = q.transpose(1, 2)
        rel_logits_h = rel_logits_1d(q, self.height_rel, permute_mask=(0, 3, 1, 4, 2))
        return (rel_logits_h + rel_logits_w).reshape(B, HW, HW)


class BottleneckAttn(nn.Module):
    def __init__(self, dim, feat_size, stride=1, num_heads=4):
        super().__init__()
        dim_out = dim
        self.num_heads = num_heads
        self.dim_head_qk = make_divisible(dim_out, divisor=8) // num_heads
        self.dim_head_v = dim_out // num_heads
        self.dim_out_qk = num_heads * self.dim_head_qk
        self.dim_out_v = num_heads * self.dim_head_v
        self.scale = self.dim_head_qk ** -0.5
        self.qkv = nn.Conv2d(dim, self.dim_out_qk * 2 + self.dim_out_v, 1, bias=False)
        self.pos_embed = PosEmbedRel(feat_size, dim_head=self.dim_head_qk, scale=self.scale)
        # ceil_mode: an odd map pools to the size of the strided 1x1 shortcut (timm: AvgPool2d(2, 2); the same for
        # the even sizes timm supports)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()

    def forward(self, x):
        B, C, H, W = x.shape
        assert H == self.pos_embed.height and W == self.pos_embed.width
        x = self.qkv(x)
        q, k, v = torch.split(x, [self.dim_out_qk, self.dim_out_qk, self.dim_out_v], dim=1)
        q = q.reshape(B * self.num_heads, self.dim_head_qk, -1).transpose(-1, -2)
        k = k.reshape(B * self.num_heads, self.dim_head_qk, -1)
        v = v.reshape(B * self.num_heads, self.dim_head_v, -1).transpose(-1, -2)
        add_macs(B * self.num_heads * (H * W) ** 2 * (self.dim_head_qk + self.dim_head_v))
        attn = (q @ k) * self.scale + self.pos_embed(q)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(-1, -2).reshape(B, self.dim_out_v, H, W)
        return self.pool(out)


class BotBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, attn_feat=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        if attn_feat is None:
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        else:
            self.conv2 = BottleneckAttn(planes, attn_feat, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def botnet_feat_sizes(image_size, small):
    """(size at which layer4's first block attends, size of the other two): conv/pool outputs are ceil(s/2)."""
    s = image_size
    if not small:
        s = (s + 1) // 2  # stem conv
        s = (s + 1) // 2  # max pool
    s = (s + 1) // 2  # layer2
    s = (s + 1) // 2  # layer3
    return s, (s + 1) // 2


class BoTNet50(nn.Module):
    def __init__(self, num_classes=1000, in_chans=3, small=False, width=1.0, image_size=224):
        super().__init__()
        # the C# ResNet's width rule: 64·2^s·width rounded by timm's make_divisible to a multiple of 16
        planes = [make_divisible(64 * 2 ** i * width, 16) for i in range(4)]
        self.inplanes = planes[0]
        if small:
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        f0, f1 = botnet_feat_sizes(image_size, small)
        self.layer1 = self._make_layer(planes[0], 3)
        self.layer2 = self._make_layer(planes[1], 4, 2)
        self.layer3 = self._make_layer(planes[2], 6, 2)
        self.layer4 = self._make_layer(planes[3], 3, 2, feats=((f0, f0), (f1, f1), (f1, f1)))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * 4, num_classes)

    def _make_layer(self, planes, blocks, stride=1, feats=None):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [BotBottleneck(self.inplanes, planes, stride, downsample, feats[0] if feats else None)]
        self.inplanes = planes * 4
        for i in range(1, blocks):
            layers.append(BotBottleneck(self.inplanes, planes, attn_feat=feats[i] if feats else None))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def rel_slice(sd, small_sd):
    """The state dict `sd` (built for a larger input) adapted to a model built for a smaller one: the central rows
    of each relative table (offsets -(n-1)..n-1 of the larger table)."""
    out = {}
    for k, v in sd.items():
        if k.endswith("_rel"):
            n = small_sd[k].shape[0]
            start = (v.shape[0] - n) // 2
            v = v[start:start + n]
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------------------------------
tensors = {}
metadata = {}


def perturb(module, gen):
    """Non-trivial BN/GN affine parameters and running statistics, so that every parameter and buffer matters."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(5)
            elif isinstance(m, nn.GroupNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)


def _shape(t):
    return "x".join(str(d) for d in t.shape)


def _half(t):
    """t rounded to float16 precision (kept float32): such values survive the float16 storage exactly."""
    return t.half().float()


def record(name, build, config, x_shape, seed, sd=None, store_sd=True):
    """build() makes the reference model; config (a dict) tells the C# test how to build the same one. Weights,
    input and upstream gradient are rounded to float16 precision and stored as float16 (half the size, no loss);
    outputs and the input gradient are float32."""
    torch.manual_seed(seed)
    module = build()
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(module, gen)
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(_half(t))
    if sd is not None:
        module.load_state_dict(sd)
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    metadata[f"{name}/config"] = json.dumps(config, sort_keys=True)
    if store_sd:
        # one flat float16 tensor (integer buffers such as num_batches_tracked included as exact small values);
        # the keys entry gives each tensor's key and shape, in state-dict order
        metadata[f"{name}/keys"] = ",".join(f"{k}:{_shape(v)}" for k, v in sd.items())
        tensors[f"{name}/sd"] = torch.cat([v.reshape(-1).float() for v in sd.values()]).half()
    x = _half(torch.randn(x_shape, generator=gen))
    tensors[f"{name}/x"] = x.half()

    module.train()
    xg = x.clone().requires_grad_(True)
    out = module(xg)
    gout = _half(torch.randn(out.shape, generator=gen))
    (out * gout).sum().backward()
    tensors[f"{name}/out_train"] = out.detach()
    tensors[f"{name}/gout"] = gout.half()
    # The input gradient in float64 (the same weights, input and upstream gradient, all exact in float64): in float32
    # the training-mode backward is ill-conditioned for the deeper nets at batch 2 (batch norm over few values
    # cancels), so its rounding depends on the CPU's SIMD path; see the f32_vs_f64 line printed below.
    m64 = copy.deepcopy(module)
    m64.load_state_dict(sd)
    m64.double().train()
    x64 = x.double().requires_grad_(True)
    (m64(x64) * gout.double()).sum().backward()
    g64, g32 = x64.grad.detach(), xg.grad.detach().double()
    print(f"{name}: f32_vs_f64 input-gradient relative error {((g32 - g64).abs().max() / g64.abs().max()).item():.1e}")
    tensors[f"{name}/grad_x"] = g64.float()  # float32 storage: rounding 6e-8 relative, far below the test's 1e-4

    module.load_state_dict(sd)
    module.eval()
    with torch.no_grad():
        tensors[f"{name}/out_eval"] = module(x.clone())
    return sd


def record_full(name, build, image_size=224):
    torch.manual_seed(0)
    module = build()
    sd = module.state_dict()
    metadata[f"FULL/{name}/keys"] = ",".join(f"{k}:{_shape(v)}" for k, v in sd.items())
    metadata[f"FULL/{name}/params"] = str(sum(p.numel() for p in module.parameters()))
    metadata[f"FULL/{name}/macs"] = str(count_macs(module, torch.zeros(1, 3, image_size, image_size)))
    print(f"{name}: {int(metadata[f'FULL/{name}/params']):,} params, {int(metadata[f'FULL/{name}/macs']):,} MACs")


if __name__ == "__main__":
    FAMILIES = sys.argv[1:] or ["mobilenetv2", "c2f", "mobilevitv2", "ran", "botnet"]

    # Reduced MobileNetV2 settings: every block kind (t=1, strided, residual) at a fraction of the depth.
    SMALL_SETTINGS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2], [6, 96, 2, 1], [6, 160, 1, 2], [6, 320, 1, 1]]

    if "mobilenetv2" in FAMILIES:
        record_full("mobilenetv2", lambda: tv_mobilenet_v2())
        record_full("mobilenetv2_ca", lambda: MBV2_CA())
        record("mobilenetv2", lambda: tv_mobilenet_v2(10, 3, False, 0.25, SMALL_SETTINGS, 32, dropout=0.0),
               dict(model="mobilenetv2", classes=10, in_chans=3, small=False, width=0.25, settings=SMALL_SETTINGS,
                    last_channel=32), (2, 3, 32, 32), seed=100)
        record("mobilenetv2_ca_small_gray", lambda: MBV2_CA(10, 0.25, 1, True, SMALL_SETTINGS, 32, dropout=0.0),
               dict(model="mobilenetv2_ca", classes=10, in_chans=1, small=True, width=0.25, settings=SMALL_SETTINGS,
                    last_channel=32), (2, 1, 28, 28), seed=101)

    if "c2f" in FAMILIES:
        for scale in ("n", "s"):
            record_full(f"c2f_cls_{scale}", lambda: C2fCls(scale))
            record_full(f"c2f_ca_cls_{scale}", lambda: C2fCls(scale, ca=True))
        record("c2f_cls_n", lambda: C2fCls("n", 10, 3, False, 0.25, False, head=32),
               dict(model="c2f_cls_n", classes=10, in_chans=3, small=False, width=0.25, head=32), (2, 3, 32, 32),
               seed=110)
        record("c2f_ca_cls_s_small_gray", lambda: C2fCls("s", 10, 1, True, 0.125, True, head=32),
               dict(model="c2f_ca_cls_s", classes=10, in_chans=1, small=True, width=0.125, head=32), (2, 1, 28, 28),
               seed=111)

    if "mobilevitv2" in FAMILIES:
        for mult, tag in ((0.5, "050"), (0.75, "075"), (1.0, "100")):
            record_full(f"mobilevitv2_{tag}", lambda: MobileViTv2(mult))
            metadata[f"FULL/mobilevitv2_{tag}/macs256"] = str(count_macs(MobileViTv2(mult), torch.zeros(1, 3, 256, 256)))
        # 32 px: the last stage sees 1x1, which the block resizes to 2x2 (and not back)
        record("mobilevitv2_050", lambda: MobileViTv2(0.125, 10, 3, False, depths=(1, 2, 1)),
               dict(model="mobilevitv2_050", classes=10, in_chans=3, small=False, width=0.25, depths=[1, 2, 1]),
               (2, 3, 32, 32), seed=120)
        # 28 px in the small form: the last stage sees 7x7, resized to 8x8
        record("mobilevitv2_075_small_gray", lambda: MobileViTv2(0.75 * 0.125, 10, 1, True, depths=(1, 1, 2)),
               dict(model="mobilevitv2_075", classes=10, in_chans=1, small=True, width=0.125, depths=[1, 1, 2]),
               (2, 1, 28, 28), seed=121)

    if "ran" in FAMILIES:
        record_full("attention56", lambda: ResidualAttentionModel(56))
        record_full("attention92", lambda: ResidualAttentionModel(92))
        record("attention56", lambda: ResidualAttentionModel(56, 10, 3, False, 1 / 32),
               dict(model="attention56", classes=10, in_chans=3, small=False, width=1 / 32), (2, 3, 32, 32), seed=130)
        record("attention92_small_gray", lambda: ResidualAttentionModel(92, 10, 1, True, 1 / 32),
               dict(model="attention92", classes=10, in_chans=1, small=True, width=1 / 32), (2, 1, 28, 28), seed=131)

    if "botnet" in FAMILIES:
        record_full("botnet50", lambda: BoTNet50())
        sd = record("botnet50", lambda: BoTNet50(10, 3, False, 1 / 32, 64),
                    dict(model="botnet50", classes=10, in_chans=3, small=False, width=1 / 32, image_size=64),
                    (2, 3, 64, 64), seed=140)
        # the same weights on a smaller input (48 px: layer4 attends at 3x3 and 2x2 instead of 4x4 and 2x2)
        small_sd = BoTNet50(10, 3, False, 1 / 32, 48).state_dict()
        record("botnet50_smaller_input", lambda: BoTNet50(10, 3, False, 1 / 32, 48),
               dict(model="botnet50", classes=10, in_chans=3, small=False, width=1 / 32, image_size=64, sd="botnet50"),
               (2, 3, 48, 48), seed=141, sd=rel_slice(sd, small_sd), store_sd=False)
        # 28 px in the small form: layer4 attends at 7x7 (odd: the pool rounds up like the strided shortcut) and 4x4
        record("botnet50_small_gray", lambda: BoTNet50(10, 1, True, 1 / 32, 28),
               dict(model="botnet50", classes=10, in_chans=1, small=True, width=1 / 32, image_size=28), (2, 1, 28, 28),
               seed=142)

    save(OUT, tensors, metadata)
    print(f"wrote {OUT}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")
