#!/usr/bin/python3
"""Writes test/fixtures/backbones.safetensors: whole backbones of src/Backbones/Models computed by PyTorch
(Debian python3-torch 1.13 / torchvision 0.14, the same libtorch the C# side binds).

The networks, in their small-image form (3x3 stride-1 stem conv, max-pool replaced by Identity), 1 input channel,
10 classes, at the reduced width the C# registry builds for the given WidthMultiplier:
  resnet18    torchvision's ResNet with its own BasicBlock            (width 0.125: planes 16, 16, 32, 64)
  resnet50    torchvision's ResNet with its own Bottleneck            (width 0.125: planes 16, 16, 32, 64)
  seresnet50  torchvision's ResNet with moskomule/senet.pytorch's SEBottleneck (SELayer r16 after bn3)
  epsanet50   murufeng/EPSANet models/epsanet.py (seed 002), EPSABlock [3, 4, 6, 3] (width 0.125: planes 64 x 4,
              the least PSA allows: planes/4 must be divisible by the groups 1, 4, 8, 16 and by SE's reduction 16)
torchvision's classes are used as they are; the narrow ResNet only passes other widths to torchvision's own
_make_layer (the script checks that at full width it has torchvision's resnet18/resnet50 keys and shapes).

Per network NAME the file holds
  NAME/sd/<key>        the state dict, float tensors as int8 codes (num_batches_tracked as int64),
  NAME/scales          one float32 power-of-two scale per state-dict key (1 for integer ones): value = code * scale,
                       exact in float32 and float64, so both sides load bit-identical weights at a quarter of the size,
  NAME/x               the input (2, 1, 32, 32),
  NAME/out_train       the float32 logits in training mode (batch statistics),
  NAME/after_train     every running_mean and running_var after that forward, concatenated in state-dict order,
  NAME/out_eval        the float32 logits in eval mode, from the state dict reloaded (running statistics),
  NAME/gout            an upstream gradient (float64),
  NAME/grad_x, NAME/grad_conv1   the gradients of sum(out_train * gout) with respect to the input and the stem
                       conv's weight, computed with the network in float64 (training mode).
The backward pass is compared in float64 because in float32 it is ill-conditioned here: with batch statistics over
2 samples of 4x4 maps in the last stage, batch norm's backward cancels, and PyTorch's own float32 and float64 input
gradients of resnet50 and epsanet50 differ by up to a few percent (the script prints that discrepancy as
f32_vs_f64), which is as large as any difference of summation order between two runs. The forward passes are well
conditioned and stay in float32.
and the metadata NAME/keys (state-dict keys in PyTorch's order, comma-separated), NAME/model (the registry name),
NAME/width (the WidthMultiplier). FULL/<model>/keys and FULL/<model>/shapes hold the keys and shapes of the full-width
ImageNet models (torchvision resnet18 and resnet50, the official EPSANet-50), so the C# test can check that their
checkpoints load.

Run: /usr/bin/python3 test/reference/make_backbone_fixtures.py
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "backbones.safetensors")
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------------
# torchvision's ResNet at other stage widths and in the small-image form.
class NarrowResNet(ResNet):
    """torchvision.models.ResNet.__init__ with the stage widths as an argument; blocks and _make_layer are torchvision's."""

    def __init__(self, block, layers, planes=(64, 128, 256, 512), num_classes=1000, in_channels=3, small_image=False):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = planes[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        if small_image:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_image else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


# ---------------------------------------------------------------------------------------------------------------
# SE-ResNet (Hu et al. 2018; seeds 000/001) as moskomule/senet.pytorch senet/se_resnet.py writes it.
class SELayer(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(channel // reduction, channel, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SEBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None, *, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes * 4, reduction)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.se(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


# ---------------------------------------------------------------------------------------------------------------
# EPSANet (seed 002; murufeng/EPSANet models/SE_weight_module.py and models/epsanet.py). The official EPSANet class
# hard-codes 3 input channels, the ImageNet stem and widths 64..512; here they are arguments, nothing else changes.
class SEWeightModule(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        out = self.avg_pool(x)
        out = self.fc1(out)
        out = self.relu(out)
        out = self.fc2(out)
        return self.sigmoid(out)


def conv(in_planes, out_planes, kernel_size=3, stride=1, padding=1, dilation=1, groups=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding,
                     dilation=dilation, groups=groups, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class PSAModule(nn.Module):
    def __init__(self, inplans, planes, conv_kernels=(3, 5, 7, 9), stride=1, conv_groups=(1, 4, 8, 16)):
        super().__init__()
        self.conv_1 = conv(inplans, planes // 4, kernel_size=conv_kernels[0], padding=conv_kernels[0] // 2,
                           stride=stride, groups=conv_groups[0])
        self.conv_2 = conv(inplans, planes // 4, kernel_size=conv_kernels[1], padding=conv_kernels[1] // 2,
                           stride=stride, groups=conv_groups[1])
        self.conv_3 = conv(inplans, planes // 4, kernel_size=conv_kernels[2], padding=conv_kernels[2] // 2,
                           stride=stride, groups=conv_groups[2])
        self.conv_4 = conv(inplans, planes // 4, kernel_size=conv_kernels[3], padding=conv_kernels[3] // 2,
                           stride=stride, groups=conv_groups[3])
        self.se = SEWeightModule(planes // 4)
        self.split_channel = planes // 4
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        batch_size = x.shape[0]
        x1 = self.conv_1(x)
        x2 = self.conv_2(x)
        x3 = self.conv_3(x)
        x4 = self.conv_4(x)
        feats = torch.cat((x1, x2, x3, x4), dim=1)
        feats = feats.view(batch_size, 4, self.split_channel, feats.shape[2], feats.shape[3])
        x_se = torch.cat((self.se(x1), self.se(x2), self.se(x3), self.se(x4)), dim=1)
        attention_vectors = x_se.view(batch_size, 4, self.split_channel, 1, 1)
        attention_vectors = self.softmax(attention_vectors)
        feats_weight = feats * attention_vectors
        for i in range(4):
            x_se_weight_fp = feats_weight[:, i, :, :]
            if i == 0:
                out = x_se_weight_fp
            else:
                out = torch.cat((x_se_weight_fp, out), 1)
        return out


class EPSABlock(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=None, conv_kernels=(3, 5, 7, 9),
                 conv_groups=(1, 4, 8, 16)):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = PSAModule(planes, planes, stride=stride, conv_kernels=conv_kernels, conv_groups=conv_groups)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class EPSANet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, planes=(64, 128, 256, 512), in_channels=3, small_image=False):
        super().__init__()
        self.inplanes = planes[0]
        if small_image:
            self.conv1 = nn.Conv2d(in_channels, planes[0], kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, planes[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_image else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layers(block, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layers(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layers(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layers(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2. / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layers(self, block, planes, num_blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, num_blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------------------------
def make_divisible(v, divisor):
    """timm's make_divisible, as ResNet.MakeDivisible in C#."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def stage_planes(width, divisor):
    return tuple(make_divisible(64 * 2 ** s * width, divisor) for s in range(4))


def quantize_(model, gen):
    """Perturbs the BN parameters and statistics (so every one matters), then replaces every float tensor of the
    state dict by int8 codes times a power-of-two scale. Returns (codes, scales) in state-dict order."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(3)
        codes, scales = {}, []
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                codes[key] = t.clone()
                scales.append(1.0)
                continue
            peak = t.abs().max().item()
            scale = 2.0 ** math.ceil(math.log2(peak / 127)) if peak > 0 else 1.0
            q = torch.round(t / scale).clamp_(-127, 127)
            t.copy_(q * scale)
            codes[key] = q.to(torch.int8)
            scales.append(scale)
    return codes, torch.tensor(scales, dtype=torch.float32)


def running_stats(model):
    return torch.cat([t.detach().flatten().clone() for k, t in model.state_dict().items()
                      if k.endswith("running_mean") or k.endswith("running_var")])


def record(tensors, meta, name, registry_name, width, model, gen):
    codes, scales = quantize_(model, gen)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    meta[f"{name}/keys"] = ",".join(state.keys())
    meta[f"{name}/model"] = registry_name
    meta[f"{name}/width"] = repr(width)
    for key, code in codes.items():
        tensors[f"{name}/sd/{key}"] = code
    tensors[f"{name}/scales"] = scales

    x = torch.randn(2, 1, 32, 32, generator=gen)
    gout = torch.randn(2, 10, generator=gen, dtype=torch.float64)
    model.train()
    with torch.no_grad():
        tensors[f"{name}/out_train"] = model(x)
    tensors[f"{name}/after_train"] = running_stats(model)
    tensors[f"{name}/x"] = x

    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        tensors[f"{name}/out_eval"] = model(x)

    grads = {}
    for dtype in (torch.float64, torch.float32):
        model.load_state_dict(state)
        model.to(dtype).train()
        model.zero_grad(set_to_none=True)
        xg = x.to(dtype).requires_grad_(True)
        (model(xg) * gout.to(dtype)).sum().backward()
        grads[dtype] = (xg.grad.detach().clone(), model.conv1.weight.grad.detach().clone())
    model.float()
    model.load_state_dict(state)
    tensors[f"{name}/gout"] = gout
    tensors[f"{name}/grad_x"], tensors[f"{name}/grad_conv1"] = grads[torch.float64]
    g64, g32 = grads[torch.float64][0], grads[torch.float32][0].double()
    print(f"{name}: f32_vs_f64 input-gradient relative error {((g32 - g64).abs().max() / g64.abs().max()).item():.1e}")


def record_full(meta, registry_name, model):
    sd = model.state_dict()
    meta[f"FULL/{registry_name}/keys"] = ",".join(sd.keys())
    meta[f"FULL/{registry_name}/shapes"] = ";".join("x".join(str(d) for d in t.shape) for t in sd.values())


def same_layout(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa.keys()) == list(sb.keys()) and all(sa[k].shape == sb[k].shape for k in sa)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2024)
    tensors, meta = {}, {}

    # The narrow class is torchvision's ResNet: same keys and shapes at full width.
    assert same_layout(NarrowResNet(BasicBlock, [2, 2, 2, 2]), torchvision.models.resnet18())
    assert same_layout(NarrowResNet(Bottleneck, [3, 4, 6, 3]), torchvision.models.resnet50())

    width = 0.125
    small = dict(num_classes=10, in_channels=1, small_image=True)
    record(tensors, meta, "resnet18", "resnet18", width,
           NarrowResNet(BasicBlock, [2, 2, 2, 2], stage_planes(width, 16), **small), gen)
    record(tensors, meta, "resnet50", "resnet50", width,
           NarrowResNet(Bottleneck, [3, 4, 6, 3], stage_planes(width, 16), **small), gen)
    record(tensors, meta, "seresnet50", "seresnet50", width,
           NarrowResNet(SEBottleneck, [3, 4, 6, 3], stage_planes(width, 16), **small), gen)
    record(tensors, meta, "epsanet50", "epsanet50", width,
           EPSANet(EPSABlock, [3, 4, 6, 3], planes=stage_planes(width, 64), **small), gen)

    record_full(meta, "resnet18", torchvision.models.resnet18())
    record_full(meta, "resnet50", torchvision.models.resnet50())
    record_full(meta, "epsanet50", EPSANet(EPSABlock, [3, 4, 6, 3]))

    save(OUT, tensors, meta)
    print(f"wrote {OUT}: {len(tensors)} tensors, {os.path.getsize(OUT) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
