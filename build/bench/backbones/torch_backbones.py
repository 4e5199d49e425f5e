#!/usr/bin/python3
"""PyTorch half of the registry-backbone benchmark (run.sh runs it interleaved with BackboneBench).

Builds, for a registry name and a width multiplier, the same network as ModelRegistry.Create(name,
BackboneOptions(NumClasses 10, InChannels 3, SmallImage true, WidthMultiplier w)) from the reference classes of
test/reference (make_backbone_fixtures.py, make_family_fixtures.py, make_layer_fixtures.py) and torchvision 0.14.
Those scripts are not edited: make_backbone_fixtures.py is imported (it guards its main); the other two run their
fixture generation at module level, so only their imports, class and function definitions and literal constants
are executed (load_definitions below), nothing else.

The ResNet-50 attention variants (CBAM, ECA, CA, GC, BAM, SK) have no whole-network reference script: they are
torchvision's ResNet (the NarrowResNet of make_backbone_fixtures.py) with the reference attention layer of
make_layer_fixtures.py after bn3 of every bottleneck (as SEBottleneck does with SE), BAM after stages 1-3, and for
SKNet-50 ResNeXt-50 32x4d whose grouped 3x3 conv is the reference SKConv (no bn2), as src/Backbones/Models/ResNet.cs
describes them. EPSANet "large" is EPSABlock at twice the bottleneck width with PSA groups 32 (EpsaNet.cs).
`check` verifies every one of them against the C# model: same state-dict keys and shapes, same parameter count,
and the same eval output with the C# weights loaded.

  torch_backbones.py bench --models m@w,... [--mode all] [--batch 32] [--size 32] [--threads 2] [--warmup 2] [--iters 5] [--json f]
  torch_backbones.py layers [--layers a,b] [--channels 256] [--size 14] [--batch 32] ... [--json f]
  torch_backbones.py check --file exported.safetensors          (written by BackboneBench export)
  torch_backbones.py params --models m@w,...
  torch_backbones.py serve [--threads 2]                          (worker of compare_backbones.py)
  torch_backbones.py inplace-ab --models m@w [--mode infer]        (diagnostic: in-place vs out-of-place ReLU)
  torch_backbones.py keepalive-ab --models m@w [--mode infer]      (diagnostic: intermediates freed vs kept to the end)

train: forward, cross-entropy, backward, SGD(momentum=0.9, foreach=False) step, zero_grad(set_to_none=True)
infer: eval mode, forward under torch.inference_mode()
"""
import argparse
import ast
import json
import os
import platform
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "test", "reference"))
NUM_CLASSES = 10


def load_definitions(path, name):
    """Executes only the imports, class and function definitions and literal-valued assignments of a script (not
    its fixture generation) and returns them as a module-like namespace."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            keep.append(node)
    code = compile(ast.Module(body=keep, type_ignores=[]), path, "exec")
    ns = {"__name__": name, "__file__": path}
    exec(code, ns)
    return type(sys)(name), ns


def _namespace(path, name):
    module, ns = load_definitions(path, name)
    module.__dict__.update(ns)
    return module


sys.path.insert(0, REFERENCE)
_threads_before = torch.get_num_threads()
import make_backbone_fixtures as bb  # noqa: E402  (guards its main; sets 1 thread at import, restored below)
fam = _namespace(os.path.join(REFERENCE, "make_family_fixtures.py"), "ref_families")
lay = _namespace(os.path.join(REFERENCE, "make_layer_fixtures.py"), "ref_layers")
torch.set_num_threads(_threads_before)


# ---------------------------------------------------------------------------------------------------------------
# ResNet-50 attention variants: torchvision's Bottleneck with the reference attention layer after bn3.
class AttnBottleneck(Bottleneck):
    """torchvision Bottleneck + `attn_name` layer after bn3, before the residual add (SEBottleneck's place)."""
    expansion = 4
    attn_name = None
    make_attn = None  # (stage, channels) -> module
    stage = 0

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1, norm_layer=None):
        super().__init__(inplanes, planes, stride, None, groups, base_width, dilation, norm_layer)
        setattr(self, self.attn_name, type(self).make_attn(type(self).stage, planes * 4))
        self.downsample = downsample  # after the attention layer: the C# key order

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = getattr(self, self.attn_name)(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def attn_block(name, make):
    return type(f"{name}_Bottleneck", (AttnBottleneck,), {"attn_name": name, "make_attn": staticmethod(make)})


ECA_KERNELS = (3, 5, 5, 7)
ATTN = {
    "cbam_resnet50": ("cbam", lambda s, c: lay.CBAM(c, 16)),
    "eca_resnet50": ("eca", lambda s, c: lay.EcaLayer(c, ECA_KERNELS[s])),
    "ca_resnet50": ("ca", lambda s, c: lay.CoordAtt(c, c, 32)),
    "gc_resnet50": ("gc", lambda s, c: lay.ContextBlock2d(c, c // 16)),
}


class BamResNet(bb.NarrowResNet):
    """NarrowResNet + BAM after stages 1-3 (bam1..bam3, Jongchan/attention-module)."""

    def __init__(self, planes, **kw):
        super().__init__(Bottleneck, [3, 4, 6, 3], planes, **kw)
        self.bam1 = lay.BAM(planes[0] * 4)
        self.bam2 = lay.BAM(planes[1] * 4)
        self.bam3 = lay.BAM(planes[2] * 4)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.bam1(self.layer1(x))
        x = self.bam2(self.layer2(x))
        x = self.bam3(self.layer3(x))
        x = self.layer4(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SKBottleneck(nn.Module):
    """ResNeXt-50 32x4d bottleneck whose grouped 3x3 conv is the reference SKConv (BN + ReLU inside, no bn2)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1, norm_layer=None):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = lay.SKConv(width, M=2, G=32, r=16, stride=stride, L=32)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class SKResNet(bb.NarrowResNet):
    def __init__(self, planes, **kw):
        super().__init__(SKBottleneck, [3, 4, 6, 3], planes, **kw)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        # NarrowResNet.__init__ fixes groups 1 / base width 64: ResNeXt-50 32x4d's for every stage
        self.groups, self.base_width = 32, 4
        return super()._make_layer(block, planes, blocks, stride, dilate)


class EPSABlockLarge(bb.EPSABlock):
    """EPSANet "large" (EpsaNet.cs): bottleneck width 2*planes, PSA groups 32, 32, 32, 32."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=None):
        nn.Module.__init__(self)
        width = planes * 2
        self.conv1 = bb.conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = bb.PSAModule(width, width, stride=stride, conv_groups=(32, 32, 32, 32))
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = bb.conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride


DEPTHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3]), "resnet101": (Bottleneck, [3, 4, 23, 3])}


def build(name, width):
    """The PyTorch reference of registry model `name` in the small-image form, 3 channels, 10 classes."""
    small = dict(num_classes=NUM_CLASSES, in_channels=3, small_image=True)
    if name == "eager_resnet50":  # BackboneBench's diagnostic twin of resnet50: the same network here
        name = "resnet50"
    if name in DEPTHS:
        block, layers = DEPTHS[name]
        return bb.NarrowResNet(block, layers, bb.stage_planes(width, 16), **small)
    if name == "seresnet50":
        return bb.NarrowResNet(bb.SEBottleneck, [3, 4, 6, 3], bb.stage_planes(width, 16), **small)
    if name in ATTN:
        attn, make = ATTN[name]
        block = attn_block(attn, make)
        return _StagedResNet(block, bb.stage_planes(width, 16), small)
    if name == "bam_resnet50":
        return BamResNet(bb.stage_planes(width, 16), **small)
    if name == "sk_resnet50":
        return SKResNet(bb.stage_planes(width, 16), **small)
    if name in ("epsanet50", "epsanet101", "epsanet50_large", "epsanet101_large"):
        layers = [3, 4, 23, 3] if name.startswith("epsanet101") else [3, 4, 6, 3]
        block = EPSABlockLarge if name.endswith("_large") else bb.EPSABlock
        return bb.EPSANet(block, layers, planes=bb.stage_planes(width, 64), **small)
    if name == "mobilenetv2":
        return fam.tv_mobilenet_v2(NUM_CLASSES, 3, True, width)
    if name == "mobilenetv2_ca":
        return fam.MBV2_CA(NUM_CLASSES, width, 3, True)
    if name.startswith("c2f_"):
        return fam.C2fCls(name[-1], NUM_CLASSES, 3, True, width, "_ca_" in name)
    if name.startswith("mobilevitv2_"):
        mult = {"050": 0.5, "075": 0.75, "100": 1.0}[name[-3:]]
        return fam.MobileViTv2(mult * width, NUM_CLASSES, 3, True)
    if name in ("attention56", "attention92"):
        return fam.ResidualAttentionModel(int(name[-2:]), NUM_CLASSES, 3, True, width)
    if name == "botnet50":
        return fam.BoTNet50(NUM_CLASSES, 3, True, width, image_size=32)
    raise SystemExit(f"no PyTorch reference for '{name}'")


def _StagedResNet(block, planes, small):
    """NarrowResNet with `block`, telling the blocks of each stage its index (ECA-ResNet-50's kernel size per stage)."""

    class Staged(bb.NarrowResNet):
        def _make_layer(self, blk, p, blocks, stride=1, dilate=False):
            s = self.__dict__.get("_stage_i", 0)
            self._stage_i = s + 1
            blk.stage = s
            return super()._make_layer(blk, p, blocks, stride, dilate)

    return Staged(block, [3, 4, 6, 3], planes, **small)


# ---------------------------------------------------------------------------------------------------------------
# layers of the micro-benchmark (the C# LayerNames)
def build_layer(name, c, size=14):
    return {
        "botattn": lambda: fam.BottleneckAttn(c, (size, size), 1, 4),
        "botattn_s2": lambda: fam.BottleneckAttn(c, (size, size), 2, 4),
        "conv3x3": lambda: nn.Conv2d(c, c, 3, padding=1, bias=False),
        "psa": lambda: lay.PSAModule(c, c),
        "se": lambda: lay.SELayer(c, 16),
        "cbam": lambda: lay.CBAM(c, 16),
        "ca": lambda: lay.CoordAtt(c, c, 32),
        "eca": lambda: lay.EcaLayer(c, eca_kernel(c)),
        "gc": lambda: lay.ContextBlock2d(c, c // 16),
        "bam": lambda: lay.BAM(c),
        "sk": lambda: lay.SKConv(c, M=2, G=32, r=16, stride=1, L=32),
        "psa_conv_1_k3g1": lambda: nn.Conv2d(c, c // 4, 3, padding=1, groups=1, bias=False),
        "psa_conv_2_k5g4": lambda: nn.Conv2d(c, c // 4, 5, padding=2, groups=4, bias=False),
        "psa_conv_3_k7g8": lambda: nn.Conv2d(c, c // 4, 7, padding=3, groups=8, bias=False),
        "psa_conv_4_k9g16": lambda: nn.Conv2d(c, c // 4, 9, padding=4, groups=16, bias=False),
    }[name]()


LAYER_NAMES = ["conv3x3", "psa", "se", "cbam", "ca", "eca", "gc", "bam", "sk",
               "psa_conv_1_k3g1", "psa_conv_2_k5g4", "psa_conv_3_k7g8", "psa_conv_4_k9g16"]


def eca_kernel(c, gamma=2, b=1):
    """ECA's adaptive kernel size (EfficientChannelAttention.AdaptiveKernelSize)."""
    import math
    t = int(abs(math.log2(c) / gamma + b / gamma))
    return t if t % 2 else t + 1


# ---------------------------------------------------------------------------------------------------------------
def minor_faults():
    with open("/proc/self/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[7])


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def time_step(model_name, mode, width, batch, size, params, warmup, iters, step):
    import gc
    for _ in range(warmup):
        step()
    gc.collect()
    faults = minor_faults()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"model": model_name, "mode": mode, "width": width, "batch": batch, "threads": torch.get_num_threads(),
            "image_size": size, "parameters": params, "warmup": warmup, "iters": iters,
            "median_ms": statistics.median(times), "times_ms": times,
            "minor_faults_per_iter": (minor_faults() - faults) / iters, "rss_mb_after": rss_mb()}


def bench_model(name, width, mode, batch, size, warmup, iters):
    torch.manual_seed(0)
    model = build(name, width)
    params = sum(p.numel() for p in model.parameters())
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)

        def step():
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)
    return time_step(name, mode, width, batch, size, params, warmup, iters, step)


def bench_layer(name, c, size, batch, warmup, iters):
    torch.manual_seed(0)
    layer = build_layer(name, c, size)
    layer.train()
    params = sum(p.numel() for p in layer.parameters())
    x = torch.randn(batch, c, size, size).requires_grad_(True)
    with torch.no_grad():
        probe = layer(x)
    gout = torch.randn(probe.shape)
    tensors = list(layer.parameters()) + [x]

    def step():
        layer(x).backward(gout)
        for t in tensors:
            t.grad = None
    return time_step(name, "fwd+bwd", 1.0, batch, size, params, warmup, iters, step)


# ---------------------------------------------------------------------------------------------------------------
def read_safetensors(path):
    """The tensors and metadata of a safetensors file (float32/int64 are all the C# export writes)."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "F16": torch.float16}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v["dtype"]]) if b > a else torch.empty(0, dtype=dtypes[v["dtype"]])
        out[k] = t.reshape(v["shape"]).clone()
    return out, meta


def check(path):
    """Identity check of one exported C# model: keys and shapes, parameter count, eval output with its weights."""
    tensors, meta = read_safetensors(path)
    name, width = meta["model"], float(meta["width"])
    model = build(name, width)
    sd = {k[3:]: v for k, v in tensors.items() if k.startswith("sd/")}
    ref = model.state_dict()
    py_params = sum(p.numel() for p in model.parameters())
    missing = [k for k in ref if k not in sd]
    unexpected = [k for k in sd if k not in ref]
    shapes = [k for k in ref if k in sd and tuple(ref[k].shape) != tuple(sd[k].shape)]
    ok_layout = not missing and not unexpected and not shapes
    same_order = list(ref.keys()) == meta["keys"].split(",")
    err = float("nan")
    if ok_layout:
        model.load_state_dict(sd)
        model.eval()
        with torch.no_grad():
            out = model(tensors["x"])
        ref_out = tensors["out_eval"]
        err = ((out - ref_out).abs().max() / ref_out.abs().max().clamp_min(1e-12)).item()
    res = {"model": name, "width": width, "params_csharp": int(meta["params"]), "params_pytorch": py_params,
           "keys_equal": ok_layout, "key_order_equal": same_order, "missing": missing[:5], "unexpected": unexpected[:5],
           "shape_mismatch": shapes[:5], "eval_rel_err": err}
    res["ok"] = ok_layout and res["params_csharp"] == py_params and err < 1e-4
    return res


def inplace_ab(name, width, mode, batch, size, warmup, iters, reps):
    """Diagnostic: the reference model as written (ReLU(inplace=True)) against the same model with every nn.ReLU /
    nn.ReLU6 made out-of-place, as the C# modules that call Relu() instead of Relu_() run it; alternating blocks of
    timed steps in one process. Prints the medians and their ratio."""
    torch.manual_seed(0)
    model = build(name, width)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6)) and m.inplace]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    model.train(mode == "train")

    def step():
        if mode == "train":
            F.cross_entropy(model(x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode():
                model(x)
    times = {True: [], False: []}
    for r in range(reps):
        for inplace in ((True, False) if r % 2 == 0 else (False, True)):
            for m in relus:
                m.inplace = inplace
            res = time_step(name, mode, width, batch, size, 0, warmup, iters, step)
            times[inplace] += res["times_ms"]
    a, b = statistics.median(times[True]), statistics.median(times[False])
    print(f"{name}@{width:g} {mode}: {len(relus)} in-place ReLUs; in place {a:.2f} ms (min {min(times[True]):.2f}), "
          f"out of place {b:.2f} ms (min {min(times[False]):.2f}); in-place / out-of-place time {a / b:.3f}", flush=True)


def keepalive_ab(name, width, mode, batch, size, warmup, iters, reps):
    """Diagnostic: the reference model as Python runs it (each intermediate freed when its last reference goes)
    against the same model with every module's output kept alive until the forward pass returns (forward hooks
    holding references), roughly what a C# Forward's DisposeScope does; alternating blocks of timed steps."""
    torch.manual_seed(0)
    model = build(name, width)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (batch,))
    kept, keep = [], [False]

    def hook(m, inp, out):
        if keep[0]:
            kept.append(out)
    for m in model.modules():
        m.register_forward_hook(hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=False)
    model.train(mode == "train")

    def step():
        if mode == "train":
            F.cross_entropy(model(x), y).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode():
                model(x)
        kept.clear()
    times = {False: [], True: []}
    for r in range(reps):
        for k in ((False, True) if r % 2 == 0 else (True, False)):
            keep[0] = k
            times[k] += time_step(name, mode, width, batch, size, 0, warmup, iters, step)["times_ms"]
    a, b = statistics.median(times[False]), statistics.median(times[True])
    print(f"{name}@{width:g} {mode}: freed when unused {a:.2f} ms (min {min(times[False]):.2f}), kept to the end "
          f"{b:.2f} ms (min {min(times[True]):.2f}); kept / freed {b / a:.3f} (min {min(times[True]) / min(times[False]):.3f})", flush=True)


def serve():
    """Long-lived worker for compare_backbones.py: one command a line on stdin, one JSON line on stdout (as
    BackboneBench serve): `bench SPEC BATCH SIZE WARMUP ITERS`, `layer NAME CHANNELS SIZE BATCH WARMUP ITERS`, `quit`."""
    print("ready", flush=True)
    for line in sys.stdin:
        t = line.split()
        if not t:
            continue
        if t[0] == "quit":
            break
        try:
            if t[0] == "bench":
                name, _, w = t[1].partition("@")
                width = float(w) if w else 1.0
                results = [bench_model(name, width, mode, int(t[2]), int(t[3]), int(t[4]), int(t[5])) for mode in ("train", "infer")]
            elif t[0] == "layer":
                results = [bench_layer(t[1], int(t[2]), int(t[3]), int(t[4]), int(t[5]), int(t[6]))]
            else:
                raise ValueError(f"unknown command '{t[0]}'")
        except Exception as e:  # noqa: BLE001  reported to the driver
            print(json.dumps({"error": repr(e)}), flush=True)
            continue
        print(json.dumps({"impl": "pytorch", "kind": t[0], "torch": torch.__version__, "results": results}), flush=True)
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["bench", "layers", "check", "params", "serve", "inplace-ab", "keepalive-ab"])
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--models", default="")
    ap.add_argument("--layers", default=",".join(LAYER_NAMES))
    ap.add_argument("--mode", default="all", choices=["train", "infer", "all"])
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    def specs():
        for s in a.models.split(","):
            if s:
                n, _, w = s.partition("@")
                yield n, float(w) if w else 1.0

    results = []
    if a.command == "serve":
        return serve()
    if a.command == "keepalive-ab":
        for name, width in specs():
            for mode in (["train", "infer"] if a.mode == "all" else [a.mode]):
                keepalive_ab(name, width, mode, a.batch or 32, a.size or 32, a.warmup, a.iters, a.reps)
        return 0
    if a.command == "inplace-ab":
        for name, width in specs():
            for mode in (["train", "infer"] if a.mode == "all" else [a.mode]):
                inplace_ab(name, width, mode, a.batch or 32, a.size or 32, a.warmup, a.iters, a.reps)
        return 0
    if a.command == "bench":
        modes = ["train", "infer"] if a.mode == "all" else [a.mode]
        for name, width in specs():
            for mode in modes:
                r = bench_model(name, width, mode, a.batch or 32, a.size or 32, a.warmup, a.iters)
                results.append(r)
                print(f"pytorch {name:<18} {mode:<7} width={width:g} batch={r['batch']} threads={r['threads']} params={r['parameters']} "
                      f"median={r['median_ms']:.2f} ms min={min(r['times_ms']):.2f} ms faults/iter={r['minor_faults_per_iter']:.0f}", flush=True)
    elif a.command == "layers":
        for name in a.layers.split(","):
            r = bench_layer(name, a.channels, a.size or 14, a.batch or 32, a.warmup, a.iters)
            results.append(r)
            print(f"pytorch {name:<18} fwd+bwd params={r['parameters']} median={r['median_ms']:.2f} ms min={min(r['times_ms']):.2f} ms", flush=True)
    elif a.command == "check":
        for path in a.file:
            r = check(path)
            results.append(r)
            print(json.dumps(r), flush=True)
    elif a.command == "params":
        for name, width in specs():
            m = build(name, width)
            results.append({"model": name, "width": width, "parameters": sum(p.numel() for p in m.parameters())})
            print(results[-1], flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"impl": "pytorch", "kind": a.command, "runtime": f"python {platform.python_version()}",
                       "torch": torch.__version__, "results": results}, f, indent=1)
    return 0 if a.command != "check" or all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
