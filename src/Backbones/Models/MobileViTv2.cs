using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// Mehta and Rastegari, "Separable Self-attention for Mobile Vision Transformers", TMLR 2023 (arXiv 2206.02680), as
// timm builds it (timm/models/mobilevit.py: MobileVitV2Block, LinearTransformerBlock, LinearSelfAttention, on
// timm/models/byobnet.py's ByobNet), with timm's module names (stem.conv.weight, stages.2.1.transformer.0.attn
// .qkv_proj.weight, head.fc.weight), so timm's mobilevitv2_* checkpoints load.

/// <summary>The MobileViTv2 models <c>mobilevitv2_050</c>, <c>mobilevitv2_075</c>, <c>mobilevitv2_100</c> (width multipliers 0.5, 0.75, 1.0).</summary>
public sealed class MobileViTv2Family : IModelFamily
{
    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models => new[] { (0.5, "050"), (0.75, "075"), (1.0, "100") }.Select(m => new ModelInfo(
        $"mobilevitv2_{m.Item2}", "mobilevitv2",
        $"MobileViTv2-{m.Item1:0.0#} (Mehta & Rastegari 2022): MV2 blocks + separable self-attention blocks, timm layout",
        o => new MobileViTv2(o, m.Item1)));
}

/// <summary>
/// MobileViTv2: a 3×3 stride-2 stem, two stages of MV2 (inverted residual) blocks, and three stages of a strided MV2
/// block followed by a MobileViTv2 block (depthwise 3×3 local representation, 1×1 to d = C/2, 2/4/3 linear transformer
/// blocks over 2×2 patches, 1×1 projection back), global average pooling and a linear classifier.
/// </summary>
/// <remarks>
/// <para>Channels 64·m, 128·m, 256·m, 384·m, 512·m (truncated, then rounded to multiples of 8 as ByobNet does), stem 32·m,
/// where m is the model's multiplier times <see cref="BackboneOptions.WidthMultiplier"/>. A MobileViTv2 block resizes
/// a feature map whose sides are not multiples of the patch size up to the next multiples (bilinear, align_corners),
/// as timm, and keeps that size. The small-image form has a stride-1 stem and a stride-1 second stage: 8× downsampling
/// instead of 32×. <see cref="BackboneOptions.Attention"/> puts that layer in each MV2 block after the depthwise conv
/// (timm's <c>attn</c>, as in semobilevit_s).</para>
/// <para>Initialisation as ByobNet: convs N(0, √(2/(k·k·out/groups))) with zero bias, batch norms γ = 1, β = 0 (γ = 0 for
/// the last BN of MV2 blocks with a residual), group norms γ = 1, β = 0, the classifier N(0, 0.01) with zero bias.</para>
/// </remarks>
public sealed class MobileViTv2 : Module<Tensor, Tensor>, IFeatureBackbone
{
    private readonly ConvNormAct _stem;
    private readonly Linear _fc;

    /// <summary>The five stages <c>stages.0</c>..<c>stages.4</c>.</summary>
    public Sequential Stages { get; }
    /// <summary>Channels of the pooled features (the classifier's input).</summary>
    public long NumFeatures { get; }

    /// <summary>Builds the network.</summary>
    /// <param name="options">Classes, input channels, small-image form, width multiplier, optional attention in the MV2 blocks.</param>
    /// <param name="multiplier">The model's width multiplier (0.5 for mobilevitv2_050).</param>
    /// <param name="transformerDepths">Linear transformer blocks of the three MobileViTv2 blocks (timm: 2, 4, 3).</param>
    /// <exception cref="ArgumentException">An option or size is out of range.</exception>
    public MobileViTv2(BackboneOptions? options = null, double multiplier = 1.0, IReadOnlyList<int>? transformerDepths = null)
    {
        options ??= new BackboneOptions();
        options.Validate();
        if (!(multiplier > 0)) throw new ArgumentOutOfRangeException(nameof(multiplier), multiplier, "must be > 0");
        transformerDepths ??= new[] { 2, 4, 3 };
        if (transformerDepths.Count != 3 || transformerDepths.Any(d => d < 1))
            throw new ArgumentException($"transformerDepths must hold 3 depths >= 1, got [{string.Join(", ", transformerDepths)}]", nameof(transformerDepths));
        string? attention = options.Attention?.Trim().ToLowerInvariant();
        if (attention is "" or "none") attention = null;

        double m = multiplier * options.WidthMultiplier;
        var chs = new[] { 64, 128, 256, 384, 512 }.Select(c => MakeDivisible(m == 1.0 ? c : (long)(c * m))).ToArray();
        long stem = Math.Max(1, (long)(32 * m));
        long s1 = options.SmallImage ? 1 : 2;

        _stem = RegisterModule("stem", new ConvNormAct(options.InChannels, stem, 3, options.SmallImage ? 1 : 2));
        Stages = RegisterModule("stages", new Sequential(
            new Sequential(new MV2Block(stem, chs[0], 1, attention)),
            new Sequential(new MV2Block(chs[0], chs[1], s1, attention), new MV2Block(chs[1], chs[1], 1, attention)),
            new Sequential(new MV2Block(chs[1], chs[2], 2, attention), new MobileVitV2Block(chs[2], transformerDepths[0])),
            new Sequential(new MV2Block(chs[2], chs[3], 2, attention), new MobileVitV2Block(chs[3], transformerDepths[1])),
            new Sequential(new MV2Block(chs[3], chs[4], 2, attention), new MobileVitV2Block(chs[4], transformerDepths[2]))));
        RegisterModule("final_conv", new Identity());
        NumFeatures = chs[4];
        var head = RegisterModule("head", new ClassifierHead());
        _fc = head.Fc(new Linear(chs[4], options.NumClasses));
        Init.Normal_(_fc.Weight, 0, 0.01);
        Init.Zeros_(_fc.Bias!);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        return _fc.Forward(ForwardFeatures(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor ForwardFeatures(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = Stages.Forward(_stem.Forward(input));
        return Functional.AdaptiveAvgPool2d(x, 1).Flatten(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ClassifierName => "head.fc";

    /// <inheritdoc/>
    Linear IFeatureBackbone.Classifier => _fc;

    /// <summary>timm's <c>make_divisible</c> (divisor 8): the nearest multiple, at least 8, never more than 10 % below.</summary>
    private static long MakeDivisible(double v)
    {
        long r = Math.Max(8, (long)(v + 4) / 8 * 8);
        return r < 0.9 * v ? r + 8 : r;
    }

    /// <summary>A conv initialised as ByobNet: N(0, √(2/(k·k·out/groups))), zero bias.</summary>
    private static Conv2d NewConv(long input, long output, long kernel, long stride = 1, long groups = 1, bool bias = false)
    {
        var conv = new Conv2d(input, output, kernel, stride, ((stride - 1) + (kernel - 1)) / 2, groups: groups, bias: bias);
        Init.Normal_(conv.Weight, 0, Math.Sqrt(2.0 / (kernel * kernel * output / groups)));
        if (conv.Bias is not null) Init.Zeros_(conv.Bias);
        return conv;
    }

    /// <summary>timm's ConvNormAct: <c>conv</c> (no bias, timm's symmetric padding), <c>bn</c>, then SiLU unless linear.</summary>
    private sealed class ConvNormAct : Module<Tensor, Tensor>
    {
        private readonly Conv2d _conv;
        private readonly bool _act;

        public BatchNorm2d Bn { get; }

        public ConvNormAct(long input, long output, long kernel, long stride = 1, long groups = 1, bool act = true)
        {
            _conv = RegisterModule("conv", NewConv(input, output, kernel, stride, groups));
            Bn = RegisterModule("bn", new BatchNorm2d(output));
            _act = act;
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var y = Bn.Forward(_conv.Forward(input));
            return (_act ? Functional.Silu(y) : y).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// timm's BottleneckBlock as MobileViT uses it (bottle_in, linear_out, depthwise, no downsample): 1×1 to
    /// make_divisible(2·in) + BN + SiLU, 3×3 depthwise (stride) + BN + SiLU, [attn], 1×1 + BN; the input is added only
    /// when the block keeps the shape.
    /// </summary>
    private sealed class MV2Block : Module<Tensor, Tensor>
    {
        private readonly ConvNormAct _conv1, _conv2, _conv3;
        private readonly Module<Tensor, Tensor>? _attn;
        private readonly bool _residual;

        public MV2Block(long input, long output, long stride, string? attention)
        {
            long mid = MakeDivisible(input * 2.0);
            _residual = input == output && stride == 1;
            _conv1 = RegisterModule("conv1_1x1", new ConvNormAct(input, mid, 1));
            _conv2 = RegisterModule("conv2_kxk", new ConvNormAct(mid, mid, 3, stride, groups: mid));
            if (attention is not null) _attn = RegisterModule("attn", AttentionFactory.Create(attention, mid));
            _conv3 = RegisterModule("conv3_1x1", new ConvNormAct(mid, output, 1, act: false));
            if (_residual) Init.Zeros_(_conv3.Bn.Weight!);  // ByobNet's zero_init_last
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var x = _conv2.Forward(_conv1.Forward(input));
            if (_attn is not null) x = _attn.Forward(x);
            x = _conv3.Forward(x);
            return (_residual ? x + input : x).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// Separable self-attention (timm's LinearSelfAttention) on (B, d, P, N) patches: <c>qkv_proj</c> (1×1, d → 1 + 2d)
    /// gives a one-channel query, keys and values; the query's softmax over the N patches weights the keys into one
    /// context vector per patch pixel, which scales ReLU(values); <c>out_proj</c> (1×1) maps back.
    /// </summary>
    private sealed class LinearSelfAttention : Module<Tensor, Tensor>
    {
        private readonly long _dim;
        private readonly Conv2d _qkv, _out;

        public LinearSelfAttention(long dim)
        {
            _dim = dim;
            _qkv = RegisterModule("qkv_proj", NewConv(dim, 1 + 2 * dim, 1, bias: true));
            _out = RegisterModule("out_proj", NewConv(dim, dim, 1, bias: true));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var qkv = _qkv.Forward(input).Split(new[] { 1, _dim, _dim }, 1);
            var scores = Functional.Softmax(qkv[0], -1);
            var context = (qkv[1] * scores).Sum(-1, keepDim: true);
            if (FlopCounter.IsActive) FlopCounter.Add(qkv[1].NumElements);  // the (d×N)·(N×1) context product
            return _out.Forward(qkv[2].Relu() * context).MoveToOuterDisposeScope();
        }
    }

    /// <summary>Pre-norm transformer block (timm's LinearTransformerBlock): x + attn(norm1(x)), then x + mlp(norm2(x)); GroupNorm(1) norms, a 1×1-conv MLP with SiLU.</summary>
    private sealed class LinearTransformerBlock : Module<Tensor, Tensor>
    {
        private readonly GroupNorm _norm1, _norm2;
        private readonly LinearSelfAttention _attn;
        private readonly Conv2d _fc1, _fc2;

        public LinearTransformerBlock(long dim)
        {
            _norm1 = RegisterModule("norm1", new GroupNorm(1, dim));
            _attn = RegisterModule("attn", new LinearSelfAttention(dim));
            _norm2 = RegisterModule("norm2", new GroupNorm(1, dim));
            var mlp = RegisterModule("mlp", new NamedSequential());
            _fc1 = NewConv(dim, 2 * dim, 1, bias: true);
            _fc2 = NewConv(2 * dim, dim, 1, bias: true);
            mlp.Add("fc1", _fc1).Add("act", new SiLU()).Add("fc2", _fc2);
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var x = input + _attn.Forward(_norm1.Forward(input));
            return (x + _fc2.Forward(Functional.Silu(_fc1.Forward(_norm2.Forward(x))))).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The MobileViTv2 block (timm's MobileVitV2Block): <c>conv_kxk</c> (3×3 depthwise + BN + SiLU), <c>conv_1x1</c>
    /// (to d = make_divisible(C/2), no bias), unfold into 2×2 patches (B, d, 4, N), <c>transformer</c>, <c>norm</c>,
    /// fold back, <c>conv_proj</c> (1×1 + BN) to C.
    /// </summary>
    private sealed class MobileVitV2Block : Module<Tensor, Tensor>
    {
        private const long Patch = 2;
        private readonly ConvNormAct _convKxk, _convProj;
        private readonly Conv2d _conv1x1;
        private readonly Sequential _transformer;
        private readonly GroupNorm _norm;

        public MobileVitV2Block(long channels, int depth)
        {
            long dim = MakeDivisible(0.5 * channels);
            _convKxk = RegisterModule("conv_kxk", new ConvNormAct(channels, channels, 3, groups: channels));
            _conv1x1 = RegisterModule("conv_1x1", NewConv(channels, dim, 1));
            _transformer = RegisterModule("transformer", new Sequential());
            for (int i = 0; i < depth; i++) _transformer.Append(new LinearTransformerBlock(dim));
            _norm = RegisterModule("norm", new GroupNorm(1, dim));
            _convProj = RegisterModule("conv_proj", new ConvNormAct(dim, channels, 1, act: false));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var s = input.Shape;
            long b = s[0], h = s[2], w = s[3];
            long nh = (h + Patch - 1) / Patch, nw = (w + Patch - 1) / Patch;
            var x = nh * Patch != h || nw * Patch != w
                ? Functional.Interpolate(input, nh * Patch, nw * Patch, InterpolationMode.Bilinear, alignCorners: true)
                : input;
            x = _conv1x1.Forward(_convKxk.Forward(x));
            long c = x.Size(1);
            // unfold: (B, C, nh·p, nw·p) → (B, C, p·p, nh·nw)
            x = x.Reshape(b, c, nh, Patch, nw, Patch).Permute(0, 1, 3, 5, 2, 4).Reshape(b, c, Patch * Patch, nh * nw);
            x = _norm.Forward(_transformer.Forward(x));
            // fold back
            x = x.Reshape(b, c, Patch, Patch, nh, nw).Permute(0, 1, 4, 2, 5, 3).Reshape(b, c, nh * Patch, nw * Patch);
            return _convProj.Forward(x).MoveToOuterDisposeScope();
        }
    }

    /// <summary>timm's ClassifierHead: <c>global_pool</c> (average) and <c>fc</c>.</summary>
    private sealed class ClassifierHead : Module
    {
        public ClassifierHead() => RegisterModule("global_pool", new AdaptiveAvgPool2d(1));

        public Linear Fc(Linear fc) => RegisterModule("fc", fc);
    }
}
