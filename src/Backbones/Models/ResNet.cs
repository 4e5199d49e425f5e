using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, in torchvision's form
// (torchvision/models/resnet.py, "ResNet v1.5": the stride of a bottleneck sits on its 3×3 conv). The attention
// variants follow timm's ResNet: one network class, the attention layer an argument of the blocks.

/// <summary>The residual block a <see cref="ResNet"/> stacks.</summary>
public enum ResNetBlockType
{
    /// <summary>Two 3×3 convs (ResNet-18/34), expansion 1.</summary>
    Basic,
    /// <summary>1×1 → 3×3 → 1×1 convs (ResNet-50/101), expansion 4.</summary>
    Bottleneck,
    /// <summary>timm's <c>SelectiveKernelBasic</c> (skresnet18/34): <c>conv1</c> a <see cref="TimmSelectiveKernel"/> carrying the stride, <c>conv2</c> a 3×3 ConvBn; expansion 1.</summary>
    SelectiveKernelBasic,
    /// <summary>timm's <c>SelectiveKernelBottleneck</c> (skresnext50_32x4d): 1×1 ConvBnReLU <c>conv1</c>, <c>conv2</c> a <see cref="TimmSelectiveKernel"/>, 1×1 ConvBn <c>conv3</c>; expansion 4.</summary>
    SelectiveKernelBottleneck,
}

/// <summary>The selective-kernel settings of timm's SK ResNets (timm/models/sknet.py <c>sk_kwargs</c>).</summary>
/// <param name="RdRatio">Attention width as a share of the channels (skresnet18/34: 1/8; skresnext50: 1/16).</param>
/// <param name="RdDivisor">The attention width rounds to a multiple of this (16; 32).</param>
/// <param name="SplitInput">Each path sees half the input channels (true; false).</param>
public sealed record SelectiveKernelSettings(double RdRatio, long RdDivisor, bool SplitInput);

/// <summary>The stem of a <see cref="ResNet"/> (timm's <c>stem_type</c>).</summary>
public enum ResNetStem
{
    /// <summary>One 7×7 stride-2 conv (3×3 stride 1 in the small-image form): torchvision's, timm's <c>''</c>.</summary>
    Single,
    /// <summary>timm's <c>'deep'</c> (the "-c"/"-d" ResNets): three 3×3 convs of widths w/2, w/2, w (w = the stem width), <c>conv1.0</c>, <c>conv1.3</c>, <c>conv1.6</c>.</summary>
    Deep,
    /// <summary>timm's <c>'deep_tiered'</c> (the "-t" ResNets): three 3×3 convs of widths 3·⌊w/8⌋, w/2, w.</summary>
    DeepTiered,
}

/// <summary>Builds the module that replaces a bottleneck's 3×3 conv (PSA for EPSANet, selective kernel for SKNet).</summary>
/// <param name="width">Its input and output channels (the bottleneck width).</param>
/// <param name="stride">The block's stride (2 in the first block of stages 2–4).</param>
/// <param name="stage">The stage, 0..3.</param>
public delegate Module<Tensor, Tensor> SpatialConvFactory(long width, long stride, int stage);

/// <summary>Builds a block's attention layer for the block's output channels.</summary>
/// <param name="stage">The stage, 0..3 (ECA-ResNet-50 takes a kernel size per stage).</param>
/// <param name="channels">The block's output channels.</param>
public delegate Module<Tensor, Tensor> BlockAttentionFactory(int stage, long channels);

/// <summary>What a <see cref="ResNet"/> is made of; the builders of <see cref="ResNetFamily"/> and <see cref="EpsaNetFamily"/> fill it in.</summary>
public sealed record ResNetConfig
{
    /// <summary>Basic or bottleneck blocks.</summary>
    public required ResNetBlockType Block { get; init; }

    /// <summary>Blocks per stage (4 stages), e.g. [3, 4, 6, 3] for ResNet-50.</summary>
    public required IReadOnlyList<int> Layers { get; init; }

    /// <summary>The stages' <c>planes</c> (64, 128, 256, 512 at full width); the stem has <c>Planes[0]</c> channels.</summary>
    public IReadOnlyList<long> Planes { get; init; } = new long[] { 64, 128, 256, 512 };

    /// <summary>Groups of the bottleneck's 3×3 conv (32 for ResNeXt/SKNet).</summary>
    public long Groups { get; init; } = 1;

    /// <summary>torchvision's <c>width_per_group</c>: the bottleneck width is ⌊planes·BaseWidth/64⌋·Groups.</summary>
    public long BaseWidth { get; init; } = 64;

    /// <summary>Replaces the bottleneck's 3×3 conv; null keeps the conv.</summary>
    public SpatialConvFactory? SpatialConv { get; init; }

    /// <summary>The replacement of <see cref="SpatialConv"/> ends in its own BN + ReLU (selective kernel), so the block has no <c>bn2</c>.</summary>
    public bool SpatialConvIsNormalized { get; init; }

    /// <summary>Name under which every block registers its attention layer (e.g. "se", "cbam", "eca").</summary>
    public string? AttentionName { get; init; }

    /// <summary>Builds each block's attention layer (after the last BN, before the residual add); null: none.</summary>
    public BlockAttentionFactory? Attention { get; init; }

    /// <summary>BAM after stages 1–3 (<c>bam1</c>..<c>bam3</c>, Jongchan/attention-module), not inside the blocks.</summary>
    public bool StageBam { get; init; }

    /// <summary>Classifier outputs.</summary>
    public int NumClasses { get; init; } = 1000;

    /// <summary>Image channels.</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>3×3 stride-1 stem and no max-pool (for 28–96 px images) instead of the 7×7 stride-2 stem and the 3×3 stride-2 max-pool.</summary>
    public bool SmallImage { get; init; }

    /// <summary>Stride of the stem conv; 0: the form's own (2, or 1 in the small-image form). See <see cref="BackboneOptions.StemStride"/>.</summary>
    public int StemStride { get; init; }

    /// <summary>The stem: torchvision's single conv, or timm's deep or deep-tiered three-conv stem (its first conv carries the stride).</summary>
    public ResNetStem Stem { get; init; } = ResNetStem.Single;

    /// <summary>
    /// timm's <c>avg_down</c> (the "-d"/"-t" ResNets): the shortcut projection is <c>downsample.0</c> = 2×2 average pool
    /// with the block's stride (ceil mode, padding not counted; an <see cref="Identity"/> at stride 1), then the 1×1 conv
    /// <c>downsample.1</c> at stride 1 and its batch norm <c>downsample.2</c>.
    /// </summary>
    public bool AvgDown { get; init; }

    /// <summary>The selective kernels of the <see cref="ResNetBlockType.SelectiveKernelBasic"/> and <see cref="ResNetBlockType.SelectiveKernelBottleneck"/> blocks.</summary>
    public SelectiveKernelSettings SelectiveKernel { get; init; } = new(1.0 / 8, 16, true);
}

/// <summary>
/// A ResNet with torchvision's module names (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>,
/// <c>layer1.0.downsample.0</c>, <c>fc</c>, …), so torchvision checkpoints load into <c>resnet18</c>..<c>resnet101</c>.
/// Attention layers sit in each block under <see cref="ResNetConfig.AttentionName"/> (<c>layer1.0.se.fc.0.weight</c>,
/// <c>layer1.0.cbam.ChannelGate.mlp.1.weight</c>, <c>layer1.0.eca.conv.weight</c>: the names of the reference
/// SENet, CBAM and ECA-Net code), BAM after stages 1–3 as <c>bam1</c>..<c>bam3</c>.
/// </summary>
/// <remarks>
/// Initialisation as torchvision and the EPSANet/ECA-Net code: every conv of the network ~ N(0, √(2/(k·k·out)))
/// (Kaiming normal, fan out), every batch norm γ = 1, β = 0, the classifier PyTorch's default. Attention layers keep
/// their own initialisation (GC's zero last conv, non-local's zero BN), which such a loop would otherwise overwrite;
/// a replacement of the 3×3 conv (PSA, SK) is part of the block and is re-initialised like the EPSANet code does.
/// </remarks>
public sealed class ResNet : Module<Tensor, Tensor>, IFeatureBackbone
{
    /// <summary>The stem conv: 7×7 stride 2 (3×3 stride 1 in the small-image form), no bias; or the deep stem's Sequential (<see cref="ResNetConfig.Stem"/>).</summary>
    public Module<Tensor, Tensor> Conv1 { get; }
    /// <summary>The stem's batch norm.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>The stem's ReLU.</summary>
    public ReLU Relu { get; }
    /// <summary>3×3 stride-2 max-pool, or an <see cref="Identity"/> in the small-image form.</summary>
    public Module<Tensor, Tensor> MaxPool { get; }
    /// <summary>BAM after stages 1, 2, 3, or empty.</summary>
    public IReadOnlyList<Bam> StageBams { get; }
    /// <summary>The four stages <c>layer1</c>..<c>layer4</c>.</summary>
    public IReadOnlyList<Sequential> Stages { get; }
    /// <summary>Global average pooling.</summary>
    public AdaptiveAvgPool2d AvgPool { get; }
    /// <summary>The classifier.</summary>
    public Linear Fc { get; }
    /// <summary>Channels of the pooled features (the classifier's input): 512·expansion at full width.</summary>
    public long NumFeatures { get; }

    /// <summary>Builds the network described by <paramref name="config"/>.</summary>
    /// <exception cref="ArgumentException">The configuration is inconsistent (stage count, widths, classes, channels).</exception>
    public ResNet(ResNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Layers.Count != 4 || config.Layers.Any(n => n < 1))
            throw new ArgumentException($"Layers must hold 4 block counts >= 1, got [{string.Join(", ", config.Layers)}]", nameof(config));
        if (config.Planes.Count != 4 || config.Planes.Any(p => p < 1))
            throw new ArgumentException($"Planes must hold 4 widths >= 1, got [{string.Join(", ", config.Planes)}]", nameof(config));
        if (config.NumClasses < 1) throw new ArgumentException($"NumClasses must be >= 1, got {config.NumClasses}", nameof(config));
        if (config.InChannels < 1) throw new ArgumentException($"InChannels must be >= 1, got {config.InChannels}", nameof(config));
        if (config.Block == ResNetBlockType.Basic && (config.Groups != 1 || config.BaseWidth != 64 || config.SpatialConv is not null))
            throw new ArgumentException("basic blocks take no groups, base width or 3×3-conv replacement (as torchvision's BasicBlock)", nameof(config));

        long stem = config.Planes[0];
        long expansion = config.Block is ResNetBlockType.Basic or ResNetBlockType.SelectiveKernelBasic ? 1 : 4;
        if (config.StemStride is < 0 or > 4) throw new ArgumentException($"StemStride must be 0 (the form's own) to 4, got {config.StemStride}", nameof(config));
        long stemStride = config.StemStride != 0 ? config.StemStride : config.SmallImage ? 1 : 2;
        Conv1 = RegisterModule("conv1", StemConv(config, stem, stemStride));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(stem));
        Relu = RegisterModule("relu", new ReLU(inplace: true));
        MaxPool = RegisterModule<Module<Tensor, Tensor>>("maxpool", config.SmallImage ? new Identity() : new MaxPool2d(3, 2, 1));
        var bams = new List<Bam>();
        if (config.StageBam)
            for (int s = 0; s < 3; s++)
                bams.Add(RegisterModule($"bam{s + 1}", new Bam(config.Planes[s] * expansion)));
        StageBams = bams;

        var attention = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        var stages = new List<Sequential>();
        long inplanes = stem;
        for (int s = 0; s < 4; s++)
        {
            long planes = config.Planes[s], stride = s == 0 ? 1 : 2, outplanes = planes * expansion;
            var stage = new Sequential();
            for (int b = 0; b < config.Layers[s]; b++)
            {
                long blockStride = b == 0 ? stride : 1;
                Sequential? downsample = b == 0 && (stride != 1 || inplanes != outplanes)
                    ? Projection(inplanes, outplanes, stride, config.AvgDown)
                    : null;
                var att = config.Attention?.Invoke(s, outplanes);
                if (att is not null)
                {
                    if (string.IsNullOrEmpty(config.AttentionName))
                        throw new ArgumentException("an attention layer needs an AttentionName to be registered under", nameof(config));
                    attention.Add(att);
                }
                Module<Tensor, Tensor> block = config.Block switch
                {
                    ResNetBlockType.Basic => new BasicBlock(inplanes, planes, blockStride, downsample, config.AttentionName, att),
                    ResNetBlockType.Bottleneck => new Bottleneck(inplanes, planes, blockStride, downsample, config, s, config.AttentionName, att),
                    ResNetBlockType.SelectiveKernelBasic => new SelectiveKernelBasicBlock(inplanes, planes, blockStride, downsample, config.SelectiveKernel),
                    ResNetBlockType.SelectiveKernelBottleneck => new SelectiveKernelBottleneckBlock(inplanes, planes, blockStride, downsample, config),
                    _ => throw new ArgumentException($"unknown block type {config.Block}", nameof(config)),
                };
                stage.Append(block);
                inplanes = outplanes;
            }
            stages.Add(RegisterModule($"layer{s + 1}", stage));
        }
        Stages = stages;
        AvgPool = RegisterModule("avgpool", new AdaptiveAvgPool2d(1));
        NumFeatures = inplanes;
        Fc = RegisterModule("fc", new Linear(inplanes, config.NumClasses));

        foreach (var b in bams) attention.Add(b);
        InitWeights(this, attention);
    }

    /// <summary>The stem conv(s): torchvision's single conv or timm's deep / deep-tiered stem (timm <c>ResNet.__init__</c>).</summary>
    private static Module<Tensor, Tensor> StemConv(ResNetConfig config, long stem, long stride)
    {
        if (config.Stem == ResNetStem.Single)
            return config.SmallImage
                ? new Conv2d(config.InChannels, stem, 3, stride: stride, padding: 1, bias: false)
                : new Conv2d(config.InChannels, stem, 7, stride: stride, padding: 3, bias: false);
        if (!Enum.IsDefined(config.Stem)) throw new ArgumentException($"unknown stem {config.Stem}", nameof(config));
        if (stem % 2 != 0 || stem < 8) throw new ArgumentException($"a deep stem needs an even stem width >= 8, got {stem}", nameof(config));
        long half = stem / 2;
        long first = config.Stem == ResNetStem.DeepTiered ? 3 * (half / 4) : half;
        return new Sequential(
            new Conv2d(config.InChannels, first, 3, stride: stride, padding: 1, bias: false), new BatchNorm2d(first), new ReLU(inplace: true),
            new Conv2d(first, half, 3, stride: 1, padding: 1, bias: false), new BatchNorm2d(half), new ReLU(inplace: true),
            new Conv2d(half, stem, 3, stride: 1, padding: 1, bias: false));
    }

    /// <summary>The shortcut projection: torchvision's strided 1×1 conv + BN, or timm's <c>downsample_avg</c> (pool, 1×1 conv, BN).</summary>
    private static Sequential Projection(long inplanes, long outplanes, long stride, bool avgDown) => avgDown
        ? new Sequential(
            stride == 1 ? new Identity() : new AvgPool2d(2, stride, ceilMode: true, countIncludePad: false),
            new Conv2d(inplanes, outplanes, 1, bias: false), new BatchNorm2d(outplanes))
        : new Sequential(new Conv2d(inplanes, outplanes, 1, stride: stride, bias: false), new BatchNorm2d(outplanes));

    /// <summary>Kaiming-normal (fan out, ReLU gain) conv weights and γ = 1, β = 0 batch norms, skipping <paramref name="skip"/>'s subtrees.</summary>
    private static void InitWeights(Module module, HashSet<Module> skip)
    {
        if (skip.Contains(module)) return;
        switch (module)
        {
            case Conv2d conv:
                Init.KaimingNormal_(conv.Weight, mode: FanMode.FanOut, nonlinearity: "relu");
                break;
            case BatchNorm bn:
                if (bn.Weight is not null) Init.Ones_(bn.Weight);
                if (bn.Bias is not null) Init.Zeros_(bn.Bias);
                break;
        }
        foreach (var (_, child) in module.NamedChildren()) InitWeights(child, skip);
    }

    /// <summary>
    /// Rounds a scaled stage width to a multiple of <paramref name="divisor"/>, as timm's <c>make_divisible</c>: to
    /// the nearest multiple, at least <paramref name="divisor"/>, and never more than 10 % below the scaled width.
    /// </summary>
    internal static long MakeDivisible(double width, long divisor)
    {
        long rounded = Math.Max(divisor, (long)(width + divisor / 2.0) / divisor * divisor);
        return rounded < 0.9 * width ? rounded + divisor : rounded;
    }

    /// <summary>The four stage widths 64·2ˢ scaled by <paramref name="multiplier"/> and rounded by <see cref="MakeDivisible"/>.</summary>
    internal static long[] StagePlanes(double multiplier, long divisor) =>
        Enumerable.Range(0, 4).Select(s => MakeDivisible(64 * Math.Pow(2, s) * multiplier, divisor)).ToArray();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        return Fc.Forward(ForwardFeatures(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor ForwardFeatures(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = MaxPool.Forward(Relu.Forward(Bn1.Forward(Conv1.Forward(input))));
        for (int s = 0; s < 4; s++)
        {
            x = Stages[s].Forward(x);
            if (s < StageBams.Count) x = StageBams[s].Forward(x);
        }
        return AvgPool.Forward(x).Flatten(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ClassifierName => "fc";

    /// <inheritdoc/>
    Linear IFeatureBackbone.Classifier => Fc;
}

/// <summary>
/// torchvision's <c>BasicBlock</c>: <c>conv1</c> 3×3 (stride) + <c>bn1</c> + ReLU, <c>conv2</c> 3×3 + <c>bn2</c>,
/// the optional attention layer, then the residual add and ReLU. <c>downsample</c> = 1×1 conv (stride) + BN when the
/// shape changes.
/// </summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    /// <summary>3×3 conv, carrying the block's stride.</summary>
    public Conv2d Conv1 { get; }
    /// <summary>Its batch norm.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>ReLU, after bn1 and after the add.</summary>
    public ReLU Relu { get; }
    /// <summary>3×3 conv.</summary>
    public Conv2d Conv2 { get; }
    /// <summary>Its batch norm.</summary>
    public BatchNorm2d Bn2 { get; }
    /// <summary>The attention layer, or null.</summary>
    public Module<Tensor, Tensor>? Attention { get; }
    /// <summary>The shortcut projection, or null for the identity.</summary>
    public Sequential? Downsample { get; }

    /// <summary>Creates the block (expansion 1: <paramref name="planes"/> output channels).</summary>
    /// <param name="inplanes">Input channels.</param>
    /// <param name="planes">Output channels.</param>
    /// <param name="stride">Stride of conv1 (and of the projection).</param>
    /// <param name="downsample">The shortcut projection, or null.</param>
    /// <param name="attentionName">The name the attention layer is registered under.</param>
    /// <param name="attention">An attention layer for <paramref name="planes"/> channels, or null.</param>
    public BasicBlock(long inplanes, long planes, long stride = 1, Sequential? downsample = null, string? attentionName = null,
        Module<Tensor, Tensor>? attention = null)
    {
        Conv1 = RegisterModule("conv1", new Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
        Relu = RegisterModule("relu", new ReLU(inplace: true));
        Conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false));
        Bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
        if (attention is not null) Attention = RegisterModule(attentionName ?? throw new ArgumentNullException(nameof(attentionName)), attention);
        if (downsample is not null) Downsample = RegisterModule("downsample", downsample);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = Relu.Forward(Bn1.Forward(Conv1.Forward(input)));
        y = Bn2.Forward(Conv2.Forward(y));
        if (Attention is not null) y = Attention.Forward(y);
        var identity = Downsample is null ? input : Downsample.Forward(input);
        return (y + identity).Relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's <c>SelectiveKernelBasic</c> (timm/models/sknet.py): <c>conv1</c> = <see cref="TimmSelectiveKernel"/>
/// (inplanes → planes, the block's stride), <c>conv2</c> = 3×3 ConvBn without activation, the residual add, ReLU.
/// </summary>
public sealed class SelectiveKernelBasicBlock : Module<Tensor, Tensor>
{
    private readonly TimmSelectiveKernel _conv1;
    private readonly ConvBnReLU _conv2;
    private readonly Sequential? _downsample;

    /// <summary>Creates the block.</summary>
    public SelectiveKernelBasicBlock(long inplanes, long planes, long stride, Sequential? downsample, SelectiveKernelSettings sk)
    {
        ArgumentNullException.ThrowIfNull(sk);
        _conv1 = RegisterModule("conv1", new TimmSelectiveKernel(inplanes, planes, stride, 1, sk.RdRatio, sk.RdDivisor, sk.SplitInput));
        _conv2 = RegisterModule("conv2", new ConvBnReLU(planes, planes, 3, act: false));
        if (downsample is not null) _downsample = RegisterModule("downsample", downsample);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = _conv2.Forward(_conv1.Forward(input));
        var identity = _downsample is null ? input : _downsample.Forward(input);
        return (y + identity).Relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's <c>SelectiveKernelBottleneck</c> (timm/models/sknet.py): <c>conv1</c> 1×1 ConvBnReLU to the width,
/// <c>conv2</c> = <see cref="TimmSelectiveKernel"/> (the block's stride and groups), <c>conv3</c> 1×1 ConvBn to
/// 4·planes, the residual add, ReLU.
/// </summary>
public sealed class SelectiveKernelBottleneckBlock : Module<Tensor, Tensor>
{
    private readonly ConvBnReLU _conv1, _conv3;
    private readonly TimmSelectiveKernel _conv2;
    private readonly Sequential? _downsample;

    /// <summary>Creates the block.</summary>
    public SelectiveKernelBottleneckBlock(long inplanes, long planes, long stride, Sequential? downsample, ResNetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long width = planes * config.BaseWidth / 64 * config.Groups;
        var sk = config.SelectiveKernel;
        _conv1 = RegisterModule("conv1", new ConvBnReLU(inplanes, width, 1));
        _conv2 = RegisterModule("conv2", new TimmSelectiveKernel(width, width, stride, config.Groups, sk.RdRatio, sk.RdDivisor, sk.SplitInput));
        _conv3 = RegisterModule("conv3", new ConvBnReLU(width, planes * Bottleneck.Expansion, 1, act: false));
        if (downsample is not null) _downsample = RegisterModule("downsample", downsample);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = _conv3.Forward(_conv2.Forward(_conv1.Forward(input)));
        var identity = _downsample is null ? input : _downsample.Forward(input);
        return (y + identity).Relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// torchvision's <c>Bottleneck</c>: <c>conv1</c> 1×1 to the width + <c>bn1</c> + ReLU, <c>conv2</c> (3×3 with the
/// block's stride and groups, or its replacement: EPSANet's PSA module, SKNet's selective kernel) + <c>bn2</c> + ReLU,
/// <c>conv3</c> 1×1 to 4·planes + <c>bn3</c>, the optional attention layer, the residual add and ReLU.
/// </summary>
public sealed class Bottleneck : Module<Tensor, Tensor>
{
    /// <summary>The channel expansion of the block's output.</summary>
    public const long Expansion = 4;

    /// <summary>1×1 conv to the width.</summary>
    public Conv2d Conv1 { get; }
    /// <summary>Its batch norm.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>The 3×3 conv or its replacement, carrying the block's stride.</summary>
    public Module<Tensor, Tensor> Conv2 { get; }
    /// <summary>Its batch norm, or null when the replacement normalises itself (selective kernel).</summary>
    public BatchNorm2d? Bn2 { get; }
    /// <summary>1×1 conv to 4·planes.</summary>
    public Conv2d Conv3 { get; }
    /// <summary>Its batch norm.</summary>
    public BatchNorm2d Bn3 { get; }
    /// <summary>ReLU after bn1, bn2 and the add.</summary>
    public ReLU Relu { get; }
    /// <summary>The attention layer, or null.</summary>
    public Module<Tensor, Tensor>? Attention { get; }
    /// <summary>The shortcut projection, or null for the identity.</summary>
    public Sequential? Downsample { get; }

    /// <summary>Creates the block.</summary>
    /// <param name="inplanes">Input channels.</param>
    /// <param name="planes">The stage's planes: 4·planes output channels.</param>
    /// <param name="stride">Stride of conv2 (and of the projection).</param>
    /// <param name="downsample">The shortcut projection, or null.</param>
    /// <param name="config">Groups, base width and the 3×3-conv replacement.</param>
    /// <param name="stage">The stage, passed to the replacement's factory.</param>
    /// <param name="attentionName">The name the attention layer is registered under.</param>
    /// <param name="attention">An attention layer for 4·planes channels, or null.</param>
    public Bottleneck(long inplanes, long planes, long stride, Sequential? downsample, ResNetConfig config, int stage,
        string? attentionName = null, Module<Tensor, Tensor>? attention = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        long width = planes * config.BaseWidth / 64 * config.Groups;
        Conv1 = RegisterModule("conv1", new Conv2d(inplanes, width, 1, bias: false));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(width));
        Conv2 = RegisterModule("conv2", config.SpatialConv is null
            ? new Conv2d(width, width, 3, stride: stride, padding: 1, groups: config.Groups, bias: false)
            : config.SpatialConv(width, stride, stage));
        if (!(config.SpatialConv is not null && config.SpatialConvIsNormalized)) Bn2 = RegisterModule("bn2", new BatchNorm2d(width));
        Conv3 = RegisterModule("conv3", new Conv2d(width, planes * Expansion, 1, bias: false));
        Bn3 = RegisterModule("bn3", new BatchNorm2d(planes * Expansion));
        Relu = RegisterModule("relu", new ReLU(inplace: true));
        if (attention is not null) Attention = RegisterModule(attentionName ?? throw new ArgumentNullException(nameof(attentionName)), attention);
        if (downsample is not null) Downsample = RegisterModule("downsample", downsample);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = Relu.Forward(Bn1.Forward(Conv1.Forward(input)));
        y = Conv2.Forward(y);
        if (Bn2 is not null) y = Relu.Forward(Bn2.Forward(y));
        y = Bn3.Forward(Conv3.Forward(y));
        if (Attention is not null) y = Attention.Forward(y);
        var identity = Downsample is null ? input : Downsample.Forward(input);
        return (y + identity).Relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The ResNet family: torchvision's ResNet-18/34/50/101 (any attention layer of <see cref="AttentionFactory"/> through
/// <see cref="BackboneOptions.Attention"/>) and the attention ResNet-50s of the papers: SE (Hu et al. 2018), CBAM and
/// BAM (Woo/Park et al. 2018), ECA (Wang et al. 2020, k = 3, 5, 5, 7 per stage), coordinate attention (Hou et al.
/// 2021), global context (Cao et al. 2019) and SKNet-50 (Li et al. 2019).
/// </summary>
/// <remarks>
/// Width rule: stage s has planes 64·2ˢ·<see cref="BackboneOptions.WidthMultiplier"/>, rounded to a multiple of 16
/// (timm's <c>make_divisible</c>; 16 keeps every reduction-16 attention layer whole), of 32 when the layer is the
/// 32-group selective kernel; SKNet-50's bottleneck is twice as wide (ResNeXt's 32×4d), so its 32 groups always divide.
/// </remarks>
public sealed class ResNetFamily : IModelFamily
{
    private const string Family = "resnet";

    /// <summary>ECA-ResNet-50's kernel sizes per stage (ECA-Net paper, BangguWu/ECANet <c>k_size</c>).</summary>
    public static IReadOnlyList<long> EcaResNet50Kernels { get; } = new long[] { 3, 5, 5, 7 };

    private static readonly int[] Depth18 = { 2, 2, 2, 2 }, Depth34 = { 3, 4, 6, 3 }, Depth101 = { 3, 4, 23, 3 };
    private static readonly int[] Depth26 = { 2, 2, 2, 2 }, Depth152 = { 3, 8, 36, 3 }, DepthLight = { 1, 1, 11, 3 };

    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models { get; } = new[]
    {
        new ModelInfo("resnet18", Family, "ResNet-18 (He et al. 2016), torchvision layout; takes any attention layer", o => Plain(o, ResNetBlockType.Basic, Depth18)),
        new ModelInfo("resnet34", Family, "ResNet-34 (He et al. 2016), torchvision layout; takes any attention layer", o => Plain(o, ResNetBlockType.Basic, Depth34)),
        new ModelInfo("resnet50", Family, "ResNet-50 (He et al. 2016), torchvision layout (v1.5); takes any attention layer", o => Plain(o, ResNetBlockType.Bottleneck, Depth34)),
        new ModelInfo("resnet101", Family, "ResNet-101 (He et al. 2016), torchvision layout (v1.5); takes any attention layer", o => Plain(o, ResNetBlockType.Bottleneck, Depth101)),
        new ModelInfo("seresnet18", Family, "SE-ResNet-18 (Hu et al. 2018): squeeze-excitation r16 (bias-free FCs, as the SENet code) after bn2 of every basic block", o => WithOwnBasic(o, "seresnet18", Depth18)),
        new ModelInfo("seresnet34", Family, "SE-ResNet-34 (Hu et al. 2018): squeeze-excitation r16 (bias-free FCs, as the SENet code) after bn2 of every basic block", o => WithOwnBasic(o, "seresnet34", Depth34)),
        new ModelInfo("seresnet50", Family, "SE-ResNet-50 (Hu et al. 2018): squeeze-excitation r16 after bn3 of every block", o => WithOwn(o, "seresnet50", "se")),
        new ModelInfo("cbam_resnet50", Family, "CBAM-ResNet-50 (Woo et al. 2018): channel + spatial gates after bn3 of every block", o => WithOwn(o, "cbam_resnet50", "cbam")),
        new ModelInfo("bam_resnet50", Family, "BAM-ResNet-50 (Park et al. 2018): bottleneck attention after stages 1-3", o => WithOwn(o, "bam_resnet50", "bam")),
        new ModelInfo("eca_resnet50", Family, "ECA-ResNet-50 (Wang et al. 2020): efficient channel attention, k = 3, 5, 5, 7 per stage", EcaResNet50),
        new ModelInfo("ca_resnet50", Family, "CA-ResNet-50: coordinate attention (Hou et al. 2021) after bn3 of every block", o => WithOwn(o, "ca_resnet50", "ca")),
        new ModelInfo("gc_resnet50", Family, "GC-ResNet-50 (Cao et al. 2019): global context block r16 after bn3 of every block", o => WithOwn(o, "gc_resnet50", "gc")),
        new ModelInfo("sk_resnet50", Family, "SKNet-50 (Li et al. 2019): ResNeXt-50 32x4d with selective-kernel convs (M 2, G 32, r 16) as conv2", SkResNet50),
        // timm's ResNets (timm/models/resnet.py), in timm's layout, so timm's checkpoints of these names load:
        // "d" = deep stem (32, 32, 64) + average-pool shortcuts, "t" = tiered deep stem (24, 32, 64) + average-pool
        // shortcuts; timm registers the attention layer of a block as "se" whatever its kind.
        Timm("resnet18d", "ResNet-18-D (timm; He et al. 2019 bag of tricks): deep 3x3 stem, average-pool shortcuts", ResNetBlockType.Basic, Depth18, ResNetStem.Deep, null),
        Timm("resnet26", "ResNet-26 (timm): bottleneck blocks 2, 2, 2, 2", ResNetBlockType.Bottleneck, Depth26, ResNetStem.Single, null, avgDown: false),
        Timm("resnet26d", "ResNet-26-D (timm): bottleneck blocks 2, 2, 2, 2, deep stem, average-pool shortcuts", ResNetBlockType.Bottleneck, Depth26, ResNetStem.Deep, null),
        Timm("resnet26t", "ResNet-26-T (timm): bottleneck blocks 2, 2, 2, 2, tiered deep stem, average-pool shortcuts", ResNetBlockType.Bottleneck, Depth26, ResNetStem.DeepTiered, null),
        Timm("resnet34d", "ResNet-34-D (timm): deep 3x3 stem, average-pool shortcuts", ResNetBlockType.Basic, Depth34, ResNetStem.Deep, null),
        Timm("resnet50d", "ResNet-50-D (timm): deep 3x3 stem, average-pool shortcuts", ResNetBlockType.Bottleneck, Depth34, ResNetStem.Deep, null),
        Timm("resnet101d", "ResNet-101-D (timm): deep 3x3 stem, average-pool shortcuts", ResNetBlockType.Bottleneck, Depth101, ResNetStem.Deep, null),
        Timm("seresnet50_timm", "SE-ResNet-50 as timm builds it (seresnet50): SEModule with biased 1x1 convs, C/16 rounded to 8 (fc1/fc2), after bn3", ResNetBlockType.Bottleneck, Depth34, ResNetStem.Single, "se", avgDown: false),
        Timm("seresnet152d", "SE-ResNet-152-D (timm): blocks 3, 8, 36, 3, deep stem, average-pool shortcuts, timm's SEModule", ResNetBlockType.Bottleneck, Depth152, ResNetStem.Deep, "se"),
        Timm("ecaresnet26t", "ECA-ResNet-26-T (timm): blocks 2, 2, 2, 2, tiered deep stem, average-pool shortcuts, ECA with k from the channels", ResNetBlockType.Bottleneck, Depth26, ResNetStem.DeepTiered, "eca"),
        Timm("ecaresnet50d", "ECA-ResNet-50-D (timm): deep stem, average-pool shortcuts, ECA with k from the channels (3, 5, 5, 7 at full width)", ResNetBlockType.Bottleneck, Depth34, ResNetStem.Deep, "eca"),
        Timm("ecaresnet50t", "ECA-ResNet-50-T (timm): tiered deep stem, average-pool shortcuts, ECA with k from the channels", ResNetBlockType.Bottleneck, Depth34, ResNetStem.DeepTiered, "eca"),
        Timm("ecaresnet101d", "ECA-ResNet-101-D (timm): deep stem, average-pool shortcuts, ECA with k from the channels", ResNetBlockType.Bottleneck, Depth101, ResNetStem.Deep, "eca"),
        Sk("skresnet18", "SK-ResNet-18 (timm): ResNet-18 whose first 3x3 conv of each block is timm's selective kernel (two 3x3 paths, dilation 1 and 2, split input, attention C/8 rounded to 16)", ResNetBlockType.SelectiveKernelBasic, Depth18, new(1.0 / 8, 16, true)),
        Sk("skresnet34", "SK-ResNet-34 (timm): ResNet-34 with timm's selective kernel as each block's first conv", ResNetBlockType.SelectiveKernelBasic, Depth34, new(1.0 / 8, 16, true)),
        Sk("skresnext50_32x4d", "SK-ResNeXt-50 32x4d (timm; the SKNet-50 of the paper in timm's layout): selective kernel, groups 32, attention C/16 rounded to 32, unsplit input", ResNetBlockType.SelectiveKernelBottleneck, Depth34, new(1.0 / 16, 32, false), groups: 32, baseWidth: 4),
        Timm("ecaresnetlight", "ECA-ResNet-Light (timm): bottleneck blocks 1, 1, 11, 3, 7x7 stem, average-pool shortcuts, ECA", ResNetBlockType.Bottleneck, DepthLight, ResNetStem.Single, "eca"),
    }.Select(m => m with { TakesStemStride = true }).ToArray();

    /// <summary>
    /// timm's EcaModule kernel size: t = ⌊|log₂C + 1| / 2⌋, made odd, at least 3 (the paper's ψ(C) of
    /// <see cref="EfficientChannelAttention.AdaptiveKernelSize"/> with timm's floor of 3).
    /// </summary>
    public static long TimmEcaKernelSize(long channels) => Math.Max(3, EfficientChannelAttention.AdaptiveKernelSize(channels));

    private static ModelInfo Sk(string name, string description, ResNetBlockType block, int[] layers, SelectiveKernelSettings sk, long groups = 1, long baseWidth = 64) =>
        new(name, Family, description, o =>
        {
            if (Normalize(o.Attention) is { } other)
                throw new ArgumentException($"{name} is timm's layout with its own selective kernels; options.Attention '{o.Attention}' does not apply", nameof(o));
            o.Validate();
            return new ResNet(Base(o, ResNetBlockType.Bottleneck, layers, groups > 1 ? 32 : 16) with { Block = block, SelectiveKernel = sk, Groups = groups, BaseWidth = baseWidth });
        });

    private static ModelInfo Timm(string name, string description, ResNetBlockType block, int[] layers, ResNetStem stem, string? attention, bool avgDown = true) =>
        new(name, Family, description, o =>
        {
            if (Normalize(o.Attention) is { } other && other != attention)
                throw new ArgumentException($"{name} is timm's layout{(attention is null ? " without attention" : $" with its own '{attention}'")}; options.Attention '{o.Attention}' does not apply (build resnet50 with Attention for other layers)", nameof(o));
            o.Validate();
            var config = Base(o, block, layers, 16) with { Stem = stem, AvgDown = avgDown };
            if (attention is not null)
                config = config with
                {
                    AttentionName = "se",
                    Attention = attention == "se"
                        ? (_, c) => new SEModule(c)
                        : (_, c) => new EfficientChannelAttention(c, TimmEcaKernelSize(c)),
                };
            return new ResNet(config);
        });

    private static string? Normalize(string? attention)
    {
        var key = attention?.Trim().ToLowerInvariant();
        return string.IsNullOrEmpty(key) || key == "none" ? null : key;
    }

    private static ResNetConfig Base(BackboneOptions o, ResNetBlockType block, int[] layers, long divisor) => new()
    {
        Block = block,
        Layers = layers,
        Planes = ResNet.StagePlanes(o.WidthMultiplier, divisor),
        NumClasses = o.NumClasses,
        InChannels = o.InChannels,
        SmallImage = o.SmallImage,
        StemStride = o.StemStride,
    };

    /// <summary>A ResNet with attention layer <paramref name="attention"/> (a factory name, "bam" for the stage-level BAM, or null).</summary>
    private static ResNet Build(BackboneOptions o, ResNetBlockType block, int[] layers, string? attention)
    {
        o.Validate();
        var key = Normalize(attention);
        if (key is not null && key != "bam" && !AttentionFactory.Names.Contains(key))
            throw new ArgumentException($"unknown attention layer '{attention}'; known: none, {string.Join(", ", AttentionFactory.Names)}", nameof(o));
        var config = Base(o, block, layers, key == "sk" ? 32 : 16);
        if (key == "bam") config = config with { StageBam = true };
        else if (key is not null) config = config with { AttentionName = key, Attention = (_, c) => AttentionFactory.Create(key, c) };
        return new ResNet(config);
    }

    private static ResNet Plain(BackboneOptions o, ResNetBlockType block, int[] layers) => Build(o, block, layers, o.Attention);

    /// <summary>The named variants bring their own attention; another one in the options is a mistake, not an override.</summary>
    private static void CheckOwn(BackboneOptions o, string model, string own)
    {
        var key = Normalize(o.Attention);
        if (key is not null && key != own)
            throw new ArgumentException($"{model} has its own attention '{own}'; for '{o.Attention}' build resnet50 with Attention = \"{o.Attention}\"", nameof(o));
    }

    private static ResNet WithOwn(BackboneOptions o, string model, string own)
    {
        CheckOwn(o, model, own);
        return Build(o, ResNetBlockType.Bottleneck, Depth34, own);
    }

    private static ResNet WithOwnBasic(BackboneOptions o, string model, int[] layers)
    {
        CheckOwn(o, model, "se");
        return Build(o, ResNetBlockType.Basic, layers, "se");
    }

    private static ResNet EcaResNet50(BackboneOptions o)
    {
        CheckOwn(o, "eca_resnet50", "eca");
        o.Validate();
        return new ResNet(Base(o, ResNetBlockType.Bottleneck, Depth34, 16) with
        {
            AttentionName = "eca",
            Attention = (stage, c) => new EfficientChannelAttention(c, EcaResNet50Kernels[stage]),
        });
    }

    private static ResNet SkResNet50(BackboneOptions o)
    {
        CheckOwn(o, "sk_resnet50", "sk");
        o.Validate();
        // SKNet-50 = ResNeXt-50 (32×4d: width 2·planes) whose grouped 3×3 conv is a selective-kernel conv (3×3 and
        // dilated 3×3 paths, each with BN + ReLU, fused with d = max(width/16, 32)); timm's SelectiveKernelBottleneck
        // likewise has no bn2 after it.
        return new ResNet(Base(o, ResNetBlockType.Bottleneck, Depth34, 16) with
        {
            Groups = 32,
            BaseWidth = 4,
            SpatialConv = (width, stride, _) => new SelectiveKernel(width, paths: 2, groups: 32, reduction: 16, stride: stride, minDim: 32),
            SpatialConvIsNormalized = true,
        });
    }
}
