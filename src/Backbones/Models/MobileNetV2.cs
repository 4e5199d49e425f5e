using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, in
// two layouts with their reference code's module names:
//  * torchvision/models/mobilenetv2.py (mobilenetv2): features.0.0 stem conv, each block's `conv` a Sequential of
//    Conv2dNormActivation sub-sequences (features.2.conv.0.0.weight), features.18 the last 1×1 conv,
//    classifier.1 the linear layer after Dropout(0.2);
//  * houqb/CoordAttention mbv2_ca.py (Hou, Zhou and Feng, CVPR 2021; mobilenetv2_ca): each block's `conv` is one
//    flat Sequential with the coordinate attention after the depthwise conv + BN + ReLU6, before the pointwise-linear
//    conv, only in blocks with expand ratio ≠ 1 (features.2.conv.6.conv1.weight); the last 1×1 conv is `conv`,
//    the classifier Dropout(0.1) + Linear.

/// <summary>One row of MobileNetV2's block table: expand ratio t, output channels c, repeats n, first stride s.</summary>
/// <param name="ExpandRatio">t: hidden channels = round(in·t).</param>
/// <param name="Channels">c: output channels at width 1.</param>
/// <param name="Repeats">n: blocks in the stage.</param>
/// <param name="Stride">s: stride of the first block.</param>
public readonly record struct InvertedResidualSetting(int ExpandRatio, int Channels, int Repeats, int Stride);

/// <summary>The MobileNetV2 models: <c>mobilenetv2</c> (torchvision) and <c>mobilenetv2_ca</c> (with coordinate attention).</summary>
public sealed class MobileNetV2Family : IModelFamily
{
    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models => new[]
    {
        new ModelInfo("mobilenetv2", "mobilenetv2",
            "MobileNetV2 (Sandler et al. 2018), torchvision layout; with options.Attention, that layer after each expanding block's depthwise conv (mbv2_ca layout)",
            o => new MobileNetV2(o)),
        new ModelInfo("mobilenetv2_ca", "mobilenetv2",
            "MobileNetV2 with coordinate attention after each expanding block's depthwise conv (Hou et al. 2021, houqb/CoordAttention mbv2_ca)",
            o => new MobileNetV2(o, coordAttention: true)),
    };
}

/// <summary>
/// MobileNetV2: a 3×3 stride-2 stem, 17 inverted residual blocks (1×1 expand, 3×3 depthwise, 1×1 linear projection,
/// residual where shape allows), a 1×1 conv to 1280 channels, global average pooling and a linear classifier.
/// </summary>
/// <remarks>
/// <para>Without attention the module names are torchvision's, so its checkpoints load. With coordinate attention
/// (or any <see cref="BackboneOptions.Attention"/> layer) the layout is houqb/CoordAttention's <c>mbv2_ca</c>, whose
/// checkpoints load into <c>mobilenetv2_ca</c>; its attention names the output convs <c>conv2</c>/<c>conv3</c>.</para>
/// <para>Widths as the reference code rounds them (<c>_make_divisible(c·width, 8)</c>, at least 1280 last channels).
/// The small-image form has a stride-1 stem and stride 1 in the first stride-2 stage (the 24-channel one), as the usual
/// CIFAR adaptation: 8× downsampling instead of 32×. Initialisation as both references: convs
/// N(0, √(2/(k·k·out))) with zero bias (mbv2_ca's coordinate attention included), batch norms γ = 1, β = 0, the
/// classifier N(0, 0.01) with zero bias; another attention layer keeps its own initialisation.</para>
/// </remarks>
public sealed class MobileNetV2 : Module<Tensor, Tensor>, IFeatureBackbone
{
    /// <summary>The block table of the paper (Table 2).</summary>
    public static IReadOnlyList<InvertedResidualSetting> DefaultSettings { get; } = new InvertedResidualSetting[]
    {
        new(1, 16, 1, 1), new(6, 24, 2, 2), new(6, 32, 3, 2), new(6, 64, 4, 2), new(6, 96, 3, 1), new(6, 160, 3, 2), new(6, 320, 1, 1),
    };

    private readonly Sequential? _head;

    /// <summary>Stem, inverted residual blocks (and, in torchvision's layout, the last 1×1 conv).</summary>
    public Sequential Features { get; }
    /// <summary>Dropout and the linear classifier.</summary>
    public Sequential Classifier { get; }
    /// <summary>Channels of the pooled features (the classifier's input).</summary>
    public long NumFeatures { get; }

    /// <summary>Builds the network.</summary>
    /// <param name="options">Classes, input channels, small-image form, width multiplier and optional attention layer name.</param>
    /// <param name="coordAttention">mbv2_ca's coordinate attention in every expanding block (unless <see cref="BackboneOptions.Attention"/> names another layer).</param>
    /// <param name="settings">The block table (default <see cref="DefaultSettings"/>).</param>
    /// <param name="lastChannel">Channels of the last 1×1 conv; null: 1280 (scaled when the width multiplier exceeds 1).</param>
    /// <param name="dropout">Dropout before the classifier; null: the reference's (0.2 torchvision, 0.1 mbv2_ca).</param>
    /// <exception cref="ArgumentException">An option, a setting or a size is out of range.</exception>
    public MobileNetV2(BackboneOptions? options = null, bool coordAttention = false, IReadOnlyList<InvertedResidualSetting>? settings = null,
        int? lastChannel = null, double? dropout = null)
    {
        options ??= new BackboneOptions();
        options.Validate();
        settings ??= DefaultSettings;
        if (settings.Count < 2) throw new ArgumentException($"settings need at least 2 rows, got {settings.Count}", nameof(settings));
        foreach (var s in settings)
            if (s.ExpandRatio < 1 || s.Channels < 1 || s.Repeats < 1 || s.Stride is not (1 or 2))
                throw new ArgumentException($"setting {s} needs t >= 1, c >= 1, n >= 1 and s 1 or 2", nameof(settings));
        if (lastChannel is < 1) throw new ArgumentOutOfRangeException(nameof(lastChannel), lastChannel, "must be >= 1");

        // The attention layer of each expanding block: mbv2_ca's CA for mobilenetv2_ca, or the layer options.Attention names.
        string? attention = options.Attention?.Trim().ToLowerInvariant();
        var ownInit = new HashSet<Module>(ReferenceEqualityComparer.Instance);  // factory layers keep their own initialisation
        Func<long, Module<Tensor, Tensor>>? attentionLayer = null;
        if (attention is null)
        {
            if (coordAttention) attentionLayer = c => new MbV2CoordAttention(c);
        }
        else if (attention is not ("" or "none"))
        {
            attentionLayer = c =>
            {
                var layer = AttentionFactory.Create(attention, c);
                ownInit.Add(layer);
                return layer;
            };
        }
        bool flat = coordAttention || attentionLayer is not null;

        double width = options.WidthMultiplier;
        int divisor = flat && width == 0.1 ? 4 : 8;  // mbv2_ca rounds to 4 at width 0.1 only (torchvision: always 8)
        long input = MakeDivisible(32 * width, divisor);
        long last = lastChannel ?? (width > 1.0 ? MakeDivisible(1280 * width, divisor) : 1280);

        Features = new Sequential(ConvBnRelu6(options.InChannels, input, 3, options.SmallImage ? 1 : 2));
        for (int row = 0; row < settings.Count; row++)
        {
            var (t, c, n, s) = settings[row];
            if (options.SmallImage && row == 1) s = 1;
            long output = MakeDivisible(c * width, divisor);
            for (int i = 0; i < n; i++)
            {
                Features.Append(new InvertedResidual(input, output, i == 0 ? s : 1, t, flat, attentionLayer));
                input = output;
            }
        }
        if (flat)
        {
            RegisterModule("features", Features);
            _head = RegisterModule("conv", ConvBnRelu6(input, last, 1, 1));
        }
        else
        {
            Features.Append(ConvBnRelu6(input, last, 1, 1));
            RegisterModule("features", Features);
        }
        NumFeatures = last;
        Classifier = RegisterModule("classifier", new Sequential(new Dropout(dropout ?? (flat ? 0.1 : 0.2)), new Linear(last, options.NumClasses)));
        InitWeights(this, ownInit);
    }

    /// <summary>The references' initialisation, except inside <paramref name="skip"/> (attention layers that bring their own, e.g. GC's zero conv).</summary>
    private static void InitWeights(Module module, HashSet<Module> skip)
    {
        if (skip.Contains(module)) return;
        switch (module)
        {
            case Conv2d conv:
                Init.KaimingNormal_(conv.Weight, mode: FanMode.FanOut, nonlinearity: "relu");
                if (conv.Bias is not null) Init.Zeros_(conv.Bias);
                break;
            case Linear linear:
                Init.Normal_(linear.Weight, 0, 0.01);
                if (linear.Bias is not null) Init.Zeros_(linear.Bias);
                break;
        }
        foreach (var (_, child) in module.NamedChildren()) InitWeights(child, skip);
    }

    /// <summary>The reference code's <c>_make_divisible</c>: the nearest multiple of the divisor, at least the divisor, never 10 % below.</summary>
    internal static long MakeDivisible(double value, int divisor)
    {
        long v = Math.Max(divisor, (long)(value + divisor / 2.0) / divisor * divisor);
        return v < 0.9 * value ? v + divisor : v;
    }

    private static Sequential ConvBnRelu6(long input, long output, long kernel, long stride, long groups = 1) =>
        new(new Conv2d(input, output, kernel, stride, (kernel - 1) / 2, groups: groups, bias: false), new BatchNorm2d(output), new ReLU6());

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = Features.Forward(input);
        if (_head is not null) x = _head.Forward(x);
        x = Functional.AdaptiveAvgPool2d(x, 1).Flatten(1);
        return Classifier.Forward(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor ForwardFeatures(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = Features.Forward(input);
        if (_head is not null) x = _head.Forward(x);
        return Functional.AdaptiveAvgPool2d(x, 1).Flatten(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ClassifierName => "classifier.1";

    /// <inheritdoc/>
    Linear IFeatureBackbone.Classifier => (Linear)Classifier[1];

    /// <summary>
    /// The inverted residual block: (1×1 expand + BN + ReLU6 unless t = 1), 3×3 depthwise + BN + ReLU6, [attention],
    /// 1×1 linear projection + BN, plus the input when stride 1 keeps the channels.
    /// </summary>
    private sealed class InvertedResidual : Module<Tensor, Tensor>
    {
        private readonly bool _residual;
        private readonly Sequential _conv;

        public InvertedResidual(long input, long output, int stride, int expandRatio, bool flat, Func<long, Module<Tensor, Tensor>>? attention)
        {
            long hidden = input * expandRatio;
            _residual = stride == 1 && input == output;
            _conv = new Sequential();
            if (flat)
            {
                // mbv2_ca: one flat Sequential; attention only where the block expands
                if (expandRatio != 1)
                {
                    _conv.Append(new Conv2d(input, hidden, 1, bias: false)).Append(new BatchNorm2d(hidden)).Append(new ReLU6());
                }
                _conv.Append(new Conv2d(hidden, hidden, 3, stride, 1, groups: hidden, bias: false)).Append(new BatchNorm2d(hidden)).Append(new ReLU6());
                if (expandRatio != 1 && attention is not null) _conv.Append(attention(hidden));
            }
            else
            {
                if (expandRatio != 1) _conv.Append(ConvBnRelu6(input, hidden, 1, 1));
                _conv.Append(ConvBnRelu6(hidden, hidden, 3, stride, hidden));
            }
            _conv.Append(new Conv2d(hidden, output, 1, bias: false)).Append(new BatchNorm2d(output));
            RegisterModule("conv", _conv);
        }

        public override Tensor Forward(Tensor input)
        {
            if (!_residual) return _conv.Forward(input);
            using var scope = Tensor.NewDisposeScope();
            return (input + _conv.Forward(input)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// mbv2_ca's coordinate attention: the <see cref="CoordAttention"/> computation (reduction 32, at least 8 channels)
    /// with that file's module names, <c>conv1</c>, <c>bn1</c>, <c>conv2</c> (along H) and <c>conv3</c> (along W).
    /// </summary>
    private sealed class MbV2CoordAttention : Module<Tensor, Tensor>
    {
        private readonly CoordAttention _ca;

        public MbV2CoordAttention(long channels)
        {
            _ca = new CoordAttention(channels, 32);
            RegisterModule("conv1", _ca.Conv1);
            RegisterModule("bn1", _ca.Bn1);
            RegisterModule("conv2", _ca.ConvH);
            RegisterModule("conv3", _ca.ConvW);
            _ca.RegisterIntermediateHook((_, name, value) => ReportIntermediate(name, value));   // its maps, reported under this module's name
        }

        public override Tensor Forward(Tensor input) => _ca.Forward(input);
    }
}
