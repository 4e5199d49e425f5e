#!/usr/bin/python3
"""Writes test/fixtures/pretrained/: checkpoints saved as torchvision's and timm's hubs save them, with random
weights, and what their reference networks predict, for the pretrained-weights import tests (issue 14).

Each checkpoint is a bare state dict, as the hubs publish them:
  *.pth          torch.save(model.state_dict()) (torchvision's download.pytorch.org files, timm's GitHub releases
                 and pytorch_model.bin on the Hugging Face hub); the torchvision ones without the
                 num_batches_tracked buffers, as torchvision's legacy checkpoints (resnet18-f37072fd.pth, ...) are,
  *.safetensors  timm's model.safetensors on the Hugging Face hub (metadata {"format": "pt"}).
The networks are the reference code at a reduced width (the C# registry's BackboneOptions.WidthMultiplier), 3 input
channels, 10 classes, in the 224-px form, fed 48-px images:
  tv_resnet18, tv_resnet50   torchvision's ResNet with its own BasicBlock / Bottleneck (NarrowResNet of
                             make_backbone_fixtures.py: only the stage widths are an argument),
  tv_mobilenet_v2            torchvision.models.mobilenet_v2(width_mult=0.25) as it is,
  timm_*                     timm/models/resnet.py re-implemented below (ResNet stem types, make_blocks,
                             downsample_avg, BasicBlock/Bottleneck with `se`) with timm/layers SEModule and
                             EcaModule; at reduced width the single 7x7 stem has planes[0] channels (timm: 64) and the
                             deep stems stem_width = planes[0] / 2 (timm: 32 = 64 / 2),
  timm_mobilevitv2_050       make_family_fixtures.py's re-implementation of timm's mobilevitv2 (ByobNet).
expected.safetensors holds per fixture NAME: NAME/x (the input, 2x3x48x48, float16-exact values stored as float16), NAME/probs (softmax of the eval-mode
logits), NAME/features (the pooled features before the classifier: timm's forward_head(pre_logits=True)), and the
metadata NAME/config (JSON: file, registry model, width).

Run: /usr/bin/python3 test/reference/make_pretrained_fixtures.py
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock as TvBasicBlock, Bottleneck as TvBottleneck

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402
from make_backbone_fixtures import NarrowResNet, stage_planes  # noqa: E402
from make_family_fixtures import MobileViTv2, make_divisible, perturb  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "pretrained")
torch.set_num_threads(2)


# ---------------------------------------------------------------------------------------------------------------
# timm/layers: SEModule (squeeze_excite.py), EcaModule (eca.py); make_divisible (helpers.py) is make_family_fixtures'.
class SEModule(nn.Module):
    def __init__(self, channels, rd_ratio=1. / 16, rd_channels=None, rd_divisor=8, bias=True):
        super().__init__()
        if not rd_channels:
            rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=bias)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=bias)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.fc1(x_se)
        x_se = self.act(self.bn(x_se))
        x_se = self.fc2(x_se)
        return x * self.gate(x_se)


class EcaModule(nn.Module):
    def __init__(self, channels=None, kernel_size=3, gamma=2, beta=1):
        super().__init__()
        if channels is not None:
            t = int(abs(math.log(channels, 2) + beta) / gamma)
            kernel_size = max(t if t % 2 else t + 1, 3)
        assert kernel_size % 2 == 1
        padding = (kernel_size - 1) // 2
        self.conv = nn.Conv1d(1, 1, kernel_size=kernel_size, padding=padding, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y)
        y = self.gate(y).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


ATTN = {None: None, "se": SEModule, "eca": EcaModule}


# timm/layers: ConvNormAct (conv_bn_act.py; BatchNormAct2d keeps the act inside `bn`, it holds no parameters) and
# SelectiveKernel / SelectiveKernelAttn (selective_kernel.py).
def get_padding(kernel_size, stride=1, dilation=1):
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


class ConvNormAct(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, dilation=1, groups=1, apply_act=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=get_padding(kernel_size, stride, dilation), dilation=dilation, groups=groups,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.apply_act = apply_act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.apply_act else x


class SelectiveKernelAttn(nn.Module):
    def __init__(self, channels, num_paths=2, attn_channels=32):
        super().__init__()
        self.num_paths = num_paths
        self.fc_reduce = nn.Conv2d(channels, attn_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(attn_channels)
        self.act = nn.ReLU(inplace=True)
        self.fc_select = nn.Conv2d(attn_channels, channels * num_paths, kernel_size=1, bias=False)

    def forward(self, x):
        x = x.sum(1).mean((2, 3), keepdim=True)
        x = self.fc_select(self.act(self.bn(self.fc_reduce(x))))
        B, C, H, W = x.shape
        x = x.view(B, self.num_paths, C // self.num_paths, H, W)
        return torch.softmax(x, dim=1)


class SelectiveKernel(nn.Module):
    def __init__(self, in_channels, out_channels=None, kernel_size=None, stride=1, dilation=1, groups=1,
                 rd_ratio=1. / 16, rd_channels=None, rd_divisor=8, keep_3x3=True, split_input=True):
        super().__init__()
        out_channels = out_channels or in_channels
        kernel_size = kernel_size or [3, 5]
        if keep_3x3:
            dilation = [dilation * (k - 1) // 2 for k in kernel_size]
            kernel_size = [3] * len(kernel_size)
        else:
            dilation = [dilation] * len(kernel_size)
        self.num_paths = len(kernel_size)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.split_input = split_input
        if self.split_input:
            assert in_channels % self.num_paths == 0
            in_channels = in_channels // self.num_paths
        groups = min(out_channels, groups)
        self.paths = nn.ModuleList([
            ConvNormAct(in_channels, out_channels, kernel_size=k, stride=stride, dilation=d, groups=groups)
            for k, d in zip(kernel_size, dilation)])
        attn_channels = rd_channels or make_divisible(out_channels * rd_ratio, divisor=rd_divisor)
        self.attn = SelectiveKernelAttn(out_channels, self.num_paths, attn_channels)

    def forward(self, x):
        if self.split_input:
            x_split = torch.split(x, self.in_channels // self.num_paths, 1)
            x_paths = [op(x_split[i]) for i, op in enumerate(self.paths)]
        else:
            x_paths = [op(x) for op in self.paths]
        x = torch.stack(x_paths, dim=1)
        x = x * self.attn(x)
        return torch.sum(x, dim=1)


# timm/models/sknet.py
class SelectiveKernelBasic(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, attn_layer=None, sk_kwargs=None, cardinality=1,
                 base_width=64):
        super().__init__()
        self.conv1 = SelectiveKernel(inplanes, planes, stride=stride, **sk_kwargs)
        self.conv2 = ConvNormAct(planes, planes, kernel_size=3, apply_act=False)
        self.se = None
        self.act = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.conv2(self.conv1(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return self.act(x)


class SelectiveKernelBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, attn_layer=None, sk_kwargs=None, cardinality=1,
                 base_width=64):
        super().__init__()
        width = int(math.floor(planes * (base_width / 64)) * cardinality)
        self.conv1 = ConvNormAct(inplanes, width, kernel_size=1)
        self.conv2 = SelectiveKernel(width, width, stride=stride, groups=cardinality, **sk_kwargs)
        self.conv3 = ConvNormAct(width, planes * self.expansion, kernel_size=1, apply_act=False)
        self.se = None
        self.act = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.conv3(self.conv2(self.conv1(x)))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return self.act(x)


SK18 = dict(sk_kwargs=dict(rd_ratio=1 / 8, rd_divisor=16, split_input=True))
SKX50 = dict(sk_kwargs=dict(rd_ratio=1 / 16, rd_divisor=32, split_input=False), cardinality=32, base_width=4)


# ---------------------------------------------------------------------------------------------------------------
# timm/models/resnet.py (no dilation, drop block, drop path or anti-aliasing: none of the published variants below
# uses them at inference).
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, attn_layer=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.drop_block = nn.Identity()
        self.act1 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = attn_layer(planes) if attn_layer else None
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.act1(self.drop_block(self.bn1(self.conv1(x))))
        x = self.bn2(self.conv2(self.aa(x)))
        if self.se is not None:
            x = self.se(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return self.act2(x)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, attn_layer=None):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.drop_block = nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv3 = nn.Conv2d(width, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.se = attn_layer(planes * 4) if attn_layer else None
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(x)))))
        x = self.bn3(self.conv3(x))
        if self.se is not None:
            x = self.se(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return self.act3(x)


def downsample_conv(in_channels, out_channels, stride):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, padding=0, bias=False),
                         nn.BatchNorm2d(out_channels))


def downsample_avg(in_channels, out_channels, stride):
    pool = nn.Identity() if stride == 1 else nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0, bias=False),
                         nn.BatchNorm2d(out_channels))


class TimmResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, in_chans=3, stem_width=64, stem_type='', avg_down=False,
                 channels=(64, 128, 256, 512), attn_layer=None, single_stem_width=64, block_args=None):
        super().__init__()
        deep_stem = 'deep' in stem_type
        inplanes = stem_width * 2 if deep_stem else single_stem_width
        if deep_stem:
            stem_chs = (stem_width, stem_width)
            if 'tiered' in stem_type:
                stem_chs = (3 * (stem_width // 4), stem_width)
            self.conv1 = nn.Sequential(*[
                nn.Conv2d(in_chans, stem_chs[0], 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(stem_chs[0]),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_chs[0], stem_chs[1], 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(stem_chs[1]),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_chs[1], inplanes, 3, stride=1, padding=1, bias=False)])
        else:
            self.conv1 = nn.Conv2d(in_chans, inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # make_blocks
        attn = ATTN[attn_layer]
        for stage_idx, (planes, num_blocks) in enumerate(zip(channels, layers)):
            stride = 1 if stage_idx == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                down = downsample_avg if avg_down else downsample_conv
                downsample = down(inplanes, planes * block.expansion, stride)
            blocks = []
            for block_idx in range(num_blocks):
                blocks.append(block(inplanes, planes, stride if block_idx == 0 else 1,
                                    downsample if block_idx == 0 else None, attn_layer=attn, **(block_args or {})))
                inplanes = planes * block.expansion
            self.add_module(f'layer{stage_idx + 1}', nn.Sequential(*blocks))
        self.num_features = channels[-1] * block.expansion
        self.global_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))  # SelectAdaptivePool2d('avg', flatten)
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward_features(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def pooled(self, x):
        return self.global_pool(self.forward_features(x))

    def forward(self, x):
        return self.fc(self.pooled(x))


def timm_resnet(block, layers, width, stem_type='', avg_down=False, attn_layer=None, block_args=None, divisor=16):
    planes = stage_planes(width, divisor)
    return TimmResNet(block, layers, 10, 3, stem_width=planes[0] // 2, stem_type=stem_type, avg_down=avg_down,
                      channels=planes, attn_layer=attn_layer, single_stem_width=planes[0], block_args=block_args)


# ---------------------------------------------------------------------------------------------------------------
# The pooled features of the other references (torchvision: the input of fc / classifier; timm ByobNet: head.fc's).
def pooled(model, x):
    if isinstance(model, TimmResNet):
        return model.pooled(x)
    if isinstance(model, torchvision.models.ResNet):
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        return torch.flatten(model.avgpool(x), 1)
    if isinstance(model, torchvision.models.MobileNetV2):
        return torch.flatten(F.adaptive_avg_pool2d(model.features(x), (1, 1)), 1)
    if isinstance(model, MobileViTv2):
        return model.stages(model.stem(x)).mean((2, 3))
    raise TypeError(type(model))


def perturb_all(model, gen):
    """perturb()'s batch-norm statistics, plus small random biases where the reference initialises them to zero."""
    perturb(model, gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


tensors = {}
metadata = {}


def record(name, build, registry, width, formats, drop_num_batches_tracked=False, seed=0):
    """build() makes the reference network (after the seed is set, so its initialisation is reproducible)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    torch.manual_seed(1000 + seed)
    model = build()
    perturb_all(model, gen)
    model.eval()
    sd = model.state_dict()
    if drop_num_batches_tracked:
        sd = type(sd)((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    files = []
    for fmt in formats:
        path = os.path.join(OUT, f"{name}.{fmt}")
        if fmt == "pth":
            torch.save(sd, path)
        else:
            save(path, sd, {"format": "pt"})
        files.append(f"{name}.{fmt}")
    x = torch.randn(2, 3, 48, 48, generator=gen).half().float()  # float16-exact: stored as float16 without loss
    with torch.no_grad():
        logits = model(x)
        feats = pooled(model, x)
        head = model.fc if hasattr(model, "fc") else model.classifier[1] if hasattr(model, "classifier") else model.head.fc
        assert torch.allclose(head(feats), logits, atol=1e-5), name
    tensors[f"{name}/x"] = x.half()
    tensors[f"{name}/probs"] = torch.softmax(logits, 1)
    tensors[f"{name}/features"] = feats
    metadata[f"{name}/config"] = json.dumps(dict(files=files, model=registry, width=width))
    print(f"{name}: {sum(v.numel() for v in sd.values()):,} values, {', '.join(files)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    # torchvision: full-size key layout checked, then the narrow networks the test loads.
    for full, narrow in ((torchvision.models.resnet18(), NarrowResNet(TvBasicBlock, [2, 2, 2, 2], (64, 128, 256, 512))),
                         (torchvision.models.resnet50(), NarrowResNet(TvBottleneck, [3, 4, 6, 3], (64, 128, 256, 512)))):
        assert [(k, v.shape) for k, v in full.state_dict().items()] == [(k, v.shape) for k, v in narrow.state_dict().items()]
    record("tv_resnet18", lambda: NarrowResNet(TvBasicBlock, [2, 2, 2, 2], stage_planes(1 / 16, 16), num_classes=10),
           "resnet18", 1 / 16, ["pth"], drop_num_batches_tracked=True, seed=1)
    record("tv_resnet50", lambda: NarrowResNet(TvBottleneck, [3, 4, 6, 3], stage_planes(1 / 16, 16), num_classes=10),
           "resnet50", 1 / 16, ["pth"], drop_num_batches_tracked=True, seed=2)
    record("tv_mobilenet_v2", lambda: torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.25),
           "mobilenetv2", 0.25, ["pth"], drop_num_batches_tracked=True, seed=3)
    # timm ResNets: a plain one, the SE and ECA variants, each stem type and both shortcut kinds.
    record("timm_resnet50", lambda: timm_resnet(Bottleneck, [3, 4, 6, 3], 1 / 16), "resnet50", 1 / 16, ["safetensors"], seed=4)
    record("timm_resnet18d", lambda: timm_resnet(BasicBlock, [2, 2, 2, 2], 1 / 16, 'deep', True), "resnet18d", 1 / 16,
           ["safetensors", "pth"], seed=5)
    record("timm_seresnet50", lambda: timm_resnet(Bottleneck, [3, 4, 6, 3], 1 / 16, attn_layer="se"), "seresnet50_timm",
           1 / 16, ["safetensors"], seed=6)
    record("timm_ecaresnet50d", lambda: timm_resnet(Bottleneck, [3, 4, 6, 3], 1 / 16, 'deep', True, "eca"), "ecaresnet50d",
           1 / 16, ["safetensors"], seed=7)
    record("timm_ecaresnet26t", lambda: timm_resnet(Bottleneck, [2, 2, 2, 2], 1 / 16, 'deep_tiered', True, "eca"),
           "ecaresnet26t", 1 / 16, ["safetensors"], seed=8)
    record("timm_ecaresnetlight", lambda: timm_resnet(Bottleneck, [1, 1, 11, 3], 1 / 16, '', True, "eca"), "ecaresnetlight",
           1 / 16, ["safetensors"], seed=9)
    record("timm_skresnet18", lambda: timm_resnet(SelectiveKernelBasic, [2, 2, 2, 2], 1 / 16, block_args=SK18), "skresnet18",
           1 / 16, ["safetensors"], seed=11)
    record("timm_skresnext50_32x4d", lambda: timm_resnet(SelectiveKernelBottleneck, [3, 4, 6, 3], 1 / 16, block_args=SKX50,
                                                 divisor=32), "skresnext50_32x4d", 1 / 16, ["safetensors"], seed=12)
    # timm mobilevitv2_050 at WidthMultiplier 0.25 (multiplier 0.5 x 0.25), timm's depths 2, 4, 3.
    record("timm_mobilevitv2_050", lambda: MobileViTv2(0.125, 10, 3, False), "mobilevitv2_050", 0.25, ["safetensors"], seed=10)
    # The full-size (ImageNet, 1000 classes) key layouts the hubs' real checkpoints have: FULL/<registry model>/keys.
    full = {
        "resnet34": torchvision.models.resnet34(), "resnet101": torchvision.models.resnet101(),
        "mobilenetv2": torchvision.models.mobilenet_v2(),
        "resnet18d": TimmResNet(BasicBlock, [2, 2, 2, 2], stem_width=32, stem_type='deep', avg_down=True),
        "resnet26t": TimmResNet(Bottleneck, [2, 2, 2, 2], stem_width=32, stem_type='deep_tiered', avg_down=True),
        "resnet50d": TimmResNet(Bottleneck, [3, 4, 6, 3], stem_width=32, stem_type='deep', avg_down=True),
        "seresnet50_timm": TimmResNet(Bottleneck, [3, 4, 6, 3], attn_layer="se"),
        "ecaresnet50d": TimmResNet(Bottleneck, [3, 4, 6, 3], stem_width=32, stem_type='deep', avg_down=True, attn_layer="eca"),
        "ecaresnet50t": TimmResNet(Bottleneck, [3, 4, 6, 3], stem_width=32, stem_type='deep_tiered', avg_down=True,
                                   attn_layer="eca"),
        "ecaresnetlight": TimmResNet(Bottleneck, [1, 1, 11, 3], stem_width=32, avg_down=True, attn_layer="eca"),
        "mobilevitv2_050": MobileViTv2(0.5),
        "skresnet18": TimmResNet(SelectiveKernelBasic, [2, 2, 2, 2], block_args=SK18),
        "skresnext50_32x4d": TimmResNet(SelectiveKernelBottleneck, [3, 4, 6, 3], block_args=SKX50),
    }
    for arch, model in full.items():
        metadata[f"FULL/{arch}/keys"] = ",".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in model.state_dict().items())
    save(os.path.join(OUT, "expected.safetensors"), tensors, metadata)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
