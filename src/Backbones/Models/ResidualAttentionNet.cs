using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// Wang, Jiang, Qian, Yang, Li, Zhang, Wang and Tang, "Residual Attention Network for Image Classification", CVPR 2017
// (seed 003), as tengshaofeng/ResidualAttentionNetwork-pytorch implements it for 224 px (model/basic_layers.py,
// model/attention_module.py, model/residual_attention_network.py: ResidualAttentionModel_56 / _92), with its module
// names (residual_block1.conv1.weight, attention_module1.softmax6_blocks.2.weight, mpool2.0.running_mean, fc.weight).

/// <summary>The Residual Attention Networks <c>attention56</c> and <c>attention92</c>.</summary>
public sealed class ResidualAttentionFamily : IModelFamily
{
    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models => new[]
    {
        new ModelInfo("attention56", "residual_attention",
            "Attention-56 (Wang et al. 2017): one attention module per stage, trunk × (1 + soft mask); tengshaofeng layout",
            o => new ResidualAttentionNet(o, 56)),
        new ModelInfo("attention92", "residual_attention",
            "Attention-92 (Wang et al. 2017): 1, 2 and 3 attention modules in stages 1–3; tengshaofeng layout",
            o => new ResidualAttentionNet(o, 92)),
    };
}

/// <summary>
/// Residual Attention Network: a 7×7 stride-2 stem and 3×3 max pool, then per stage a pre-activation bottleneck unit
/// (<c>residual_block1..3</c>, strided from stage 2) followed by attention modules (Attention-56: 1/1/1,
/// Attention-92: 1/2/3), three more units at 2048 channels, BN + ReLU, global average pooling and the classifier.
/// </summary>
/// <remarks>
/// <para>An attention module (p = 1, t = 2, r = 1) runs one unit, then a trunk of two units T and a soft mask branch:
/// 3, 2 or 1 max-pool downsamplings (stage 1, 2, 3), each followed by a unit (two at the bottom) and, except at the
/// bottom, a skip unit; on the way up bilinear upsampling (align_corners, as <c>nn.UpsamplingBilinear2d</c>) to the
/// size of the level above, to which the level's features and its skip are added, then a unit; finally upsampling to
/// the trunk's size plus the trunk, BN-ReLU-1×1-BN-ReLU-1×1-sigmoid gives M, and the output is one more unit on
/// (1 + M)·T. The additions of the down-path features are tengshaofeng's (the paper's figure has only the skips).</para>
/// <para>Generalised from the reference: upsampling targets the actual sizes instead of the 224 px ones (so any input
/// size works), the final pooling is global (the reference's 7×7 average pool at 224 px), the classifier has
/// <see cref="BackboneOptions.NumClasses"/> outputs (the reference: 10), and a unit has its 1×1 projection
/// <c>conv4</c> only where it uses it (the reference creates an unused one in every unit, 8.6 M parameters that no
/// checkpoint trains; load such checkpoints with <c>strict: false</c>). Widths 64; 256, 512, 1024, 2048 scale with
/// <see cref="BackboneOptions.WidthMultiplier"/> (stage widths kept multiples of 4). The small-image form has a 3×3
/// stride-1 stem and no max pool. PyTorch's default initialisation, as the reference.</para>
/// </remarks>
public sealed class ResidualAttentionNet : Module<Tensor, Tensor>, IFeatureBackbone
{
    private readonly List<Module<Tensor, Tensor>> _body = new();
    private readonly Linear _fc;

    /// <summary>56 or 92.</summary>
    public int Depth { get; }
    /// <summary>Channels of the pooled features (the classifier's input).</summary>
    public long NumFeatures { get; }

    /// <summary>Builds Attention-<paramref name="depth"/>.</summary>
    /// <param name="options">Classes, input channels, small-image form and width multiplier (the family takes no other attention layer).</param>
    /// <param name="depth">56 or 92.</param>
    /// <exception cref="ArgumentException">The depth is not 56 or 92, an option is out of range, or options.Attention names a layer.</exception>
    public ResidualAttentionNet(BackboneOptions? options = null, int depth = 56)
    {
        options ??= new BackboneOptions();
        options.Validate();
        if (depth is not (56 or 92)) throw new ArgumentOutOfRangeException(nameof(depth), depth, "must be 56 or 92");
        if (options.Attention is { } a && a.Trim().ToLowerInvariant() is not ("" or "none"))
            throw new ArgumentException($"the Residual Attention Network has its own attention; options.Attention '{a}' does not apply", nameof(options));
        Depth = depth;

        double w = options.WidthMultiplier;
        long stem = Math.Max(1, (long)Math.Round(64 * w));
        var c = new[] { 256, 512, 1024, 2048 }.Select(x => Math.Max(4, (long)Math.Round(x * w / 4) * 4)).ToArray();

        Add("conv1", options.SmallImage
            ? new Sequential(new Conv2d(options.InChannels, stem, 3, 1, 1, bias: false), new BatchNorm2d(stem), new ReLU(inplace: true))
            : new Sequential(new Conv2d(options.InChannels, stem, 7, 2, 3, bias: false), new BatchNorm2d(stem), new ReLU(inplace: true)));
        Add("mpool1", options.SmallImage ? new Identity() : new MaxPool2d(3, 2, 1));
        Add("residual_block1", new ResidualUnit(stem, c[0]));
        Add("attention_module1", new AttentionModule(c[0], 3));
        Add("residual_block2", new ResidualUnit(c[0], c[1], 2));
        Add("attention_module2", new AttentionModule(c[1], 2));
        if (depth == 92) Add("attention_module2_2", new AttentionModule(c[1], 2));
        Add("residual_block3", new ResidualUnit(c[1], c[2], 2));
        Add("attention_module3", new AttentionModule(c[2], 1));
        if (depth == 92)
        {
            Add("attention_module3_2", new AttentionModule(c[2], 1));
            Add("attention_module3_3", new AttentionModule(c[2], 1));
        }
        Add("residual_block4", new ResidualUnit(c[2], c[3], 2));
        Add("residual_block5", new ResidualUnit(c[3], c[3]));
        Add("residual_block6", new ResidualUnit(c[3], c[3]));
        Add("mpool2", new Sequential(new BatchNorm2d(c[3]), new ReLU(inplace: true), new AdaptiveAvgPool2d(1)));
        NumFeatures = c[3];
        _fc = RegisterModule("fc", new Linear(c[3], options.NumClasses));
    }

    private void Add(string name, Module<Tensor, Tensor> module) => _body.Add(RegisterModule(name, module));

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
        var x = input;
        foreach (var m in _body) x = ForwardChild(m, x);   // the stages fire their forward hooks
        return x.Flatten(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ClassifierName => "fc";

    /// <inheritdoc/>
    Linear IFeatureBackbone.Classifier => _fc;

    private static Tensor Upsample(Tensor x, Tensor like)
    {
        var s = like.Shape;
        return Functional.Interpolate(x, s[2], s[3], InterpolationMode.Bilinear, alignCorners: true);
    }

    /// <summary>
    /// tengshaofeng's ResidualBlock, a pre-activation bottleneck unit: BN-ReLU, 1×1 to out/4, BN-ReLU, 3×3 (stride),
    /// BN-ReLU, 1×1 to out, plus the input — or, when the shape changes, <c>conv4</c> (1×1, stride) of the first
    /// BN-ReLU's output.
    /// </summary>
    private sealed class ResidualUnit : Module<Tensor, Tensor>
    {
        private readonly BatchNorm2d _bn1, _bn2, _bn3;
        private readonly Conv2d _conv1, _conv2, _conv3;
        private readonly Conv2d? _conv4;

        public ResidualUnit(long input, long output, long stride = 1)
        {
            long mid = output / 4;
            _bn1 = RegisterModule("bn1", new BatchNorm2d(input));
            _conv1 = RegisterModule("conv1", new Conv2d(input, mid, 1, bias: false));
            _bn2 = RegisterModule("bn2", new BatchNorm2d(mid));
            _conv2 = RegisterModule("conv2", new Conv2d(mid, mid, 3, stride, 1, bias: false));
            _bn3 = RegisterModule("bn3", new BatchNorm2d(mid));
            _conv3 = RegisterModule("conv3", new Conv2d(mid, output, 1, bias: false));
            if (input != output || stride != 1) _conv4 = RegisterModule("conv4", new Conv2d(input, output, 1, stride, bias: false));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var pre = _bn1.Forward(input).Relu_();
            var x = _conv1.Forward(pre);
            x = _conv2.Forward(_bn2.Forward(x).Relu_());
            x = _conv3.Forward(_bn3.Forward(x).Relu_());
            return (x + (_conv4 is null ? input : _conv4.Forward(pre))).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// An attention module with <c>levels</c> max-pool downsamplings in its soft mask branch (tengshaofeng's
    /// AttentionModule_stage1/2/3 for 3/2/1): <c>first_residual_blocks</c>, <c>trunk_branches</c>, per level
    /// <c>mpool{i}</c>, <c>softmax{i}_blocks</c> (two units at the bottom) and, above the bottom,
    /// <c>skip{i}_connection_residual_block</c>; then <c>softmax{levels+1..2·levels-1}_blocks</c> on the way up, the mask
    /// head <c>softmax{2·levels}_blocks</c>, and <c>last_blocks</c>. Reports the (N,C,H,W) soft mask M as
    /// <c>soft_mask</c> to intermediate hooks.
    /// </summary>
    private sealed class AttentionModule : Module<Tensor, Tensor>
    {
        private readonly int _levels;
        private readonly ResidualUnit _first, _last;
        private readonly Sequential _trunk, _head;
        private readonly List<Module<Tensor, Tensor>> _down = new();
        private readonly List<ResidualUnit> _skips = new(), _up = new();

        public AttentionModule(long channels, int levels)
        {
            _levels = levels;
            _first = RegisterModule("first_residual_blocks", new ResidualUnit(channels, channels));
            _trunk = RegisterModule("trunk_branches", new Sequential(new ResidualUnit(channels, channels), new ResidualUnit(channels, channels)));
            for (int i = 1; i <= levels; i++)
            {
                RegisterModule($"mpool{i}", new MaxPool2d(3, 2, 1));
                _down.Add(RegisterModule<Module<Tensor, Tensor>>($"softmax{i}_blocks", i < levels
                    ? new ResidualUnit(channels, channels)
                    : new Sequential(new ResidualUnit(channels, channels), new ResidualUnit(channels, channels))));
                if (i < levels) _skips.Add(RegisterModule($"skip{i}_connection_residual_block", new ResidualUnit(channels, channels)));
            }
            for (int i = levels + 1; i < 2 * levels; i++) _up.Add(RegisterModule($"softmax{i}_blocks", new ResidualUnit(channels, channels)));
            _head = RegisterModule($"softmax{2 * levels}_blocks", new Sequential(
                new BatchNorm2d(channels), new ReLU(inplace: true), new Conv2d(channels, channels, 1, bias: false),
                new BatchNorm2d(channels), new ReLU(inplace: true), new Conv2d(channels, channels, 1, bias: false), new Sigmoid()));
            _last = RegisterModule("last_blocks", new ResidualUnit(channels, channels));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var x = _first.Forward(input);
            var trunk = _trunk.Forward(x);
            // bottom-up: max pool and unit(s) per level, a skip unit above the bottom
            var down = new List<Tensor>();
            var skips = new List<Tensor>();
            var cur = x;
            for (int i = 0; i < _levels; i++)
            {
                cur = _down[i].Forward(Functional.MaxPool2d(cur, 3, 2, 1));
                down.Add(cur);
                if (i < _levels - 1) skips.Add(_skips[i].Forward(cur));
            }
            // top-down: upsample to the level above, add its features and its skip, one unit
            var up = down[^1];
            for (int j = _levels - 2, u = 0; j >= 0; j--, u++)
                up = _up[u].Forward(Upsample(up, down[j]) + down[j] + skips[j]);
            var mask = _head.Forward(Upsample(up, trunk) + trunk);
            ReportIntermediate("soft_mask", mask);
            return _last.Forward((mask + 1) * trunk).MoveToOuterDisposeScope();
        }
    }
}
