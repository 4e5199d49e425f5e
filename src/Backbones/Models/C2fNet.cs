using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// The C2f classification backbone of Ultralytics YOLOv8 (Jocher, Chaurasia and Qiu, 2023): the modules of
// ultralytics/nn/modules (Conv, Bottleneck, C2f, Classify) stacked as cfg/models/v8/yolov8-cls.yaml, with the module
// names of a ClassificationModel (model.0.conv.weight, model.2.m.0.cv1.bn.running_mean, model.9.linear.weight), so
// YOLOv8-cls checkpoints load. The coordinate-attention variant (the seeds' "CA-C2f") appends a CoordAttention to
// each C2f as its `ca` member (model.2.ca.conv1.weight), which keeps yolov8-cls's layer indices.

/// <summary>The C2f classifiers: <c>c2f_cls_n</c>, <c>c2f_cls_s</c> (YOLOv8n/s-cls) and <c>c2f_ca_cls_n</c>, <c>c2f_ca_cls_s</c> (with coordinate attention).</summary>
public sealed class C2fFamily : IModelFamily
{
    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models => new[]
    {
        new ModelInfo("c2f_cls_n", "c2f", "YOLOv8n-cls: C2f backbone + Classify head (Ultralytics YOLOv8, yolov8-cls.yaml scale n); options.Attention adds that layer after each C2f",
            o => new C2fClassifier(o, C2fScale.N)),
        new ModelInfo("c2f_cls_s", "c2f", "YOLOv8s-cls: C2f backbone + Classify head (Ultralytics YOLOv8, yolov8-cls.yaml scale s); options.Attention adds that layer after each C2f",
            o => new C2fClassifier(o, C2fScale.S)),
        new ModelInfo("c2f_ca_cls_n", "c2f", "YOLOv8n-cls with coordinate attention (Hou et al. 2021) after each C2f",
            o => new C2fClassifier(o, C2fScale.N, coordAttention: true)),
        new ModelInfo("c2f_ca_cls_s", "c2f", "YOLOv8s-cls with coordinate attention (Hou et al. 2021) after each C2f",
            o => new C2fClassifier(o, C2fScale.S, coordAttention: true)),
    };
}

/// <summary>A yolov8-cls.yaml compound scale: depth and width multipliers (max channels 1024 for all).</summary>
public enum C2fScale
{
    /// <summary>n: depth 0.33, width 0.25.</summary>
    N,
    /// <summary>s: depth 0.33, width 0.50.</summary>
    S,
    /// <summary>m: depth 0.67, width 0.75.</summary>
    M,
    /// <summary>l: depth 1.00, width 1.00.</summary>
    L,
    /// <summary>x: depth 1.00, width 1.25.</summary>
    X,
}

/// <summary>
/// A YOLOv8-cls network: Conv(64, 3, s2), Conv(128, 3, s2), C2f(128)×3, Conv(256, 3, s2), C2f(256)×6,
/// Conv(512, 3, s2), C2f(512)×6, Conv(1024, 3, s2), C2f(1024)×3, Classify — depths and widths scaled by the
/// <see cref="C2fScale"/> (and widths also by <see cref="BackboneOptions.WidthMultiplier"/>), channels rounded up to
/// multiples of 8 as ultralytics' <c>make_divisible</c>.
/// </summary>
/// <remarks>
/// Conv is Conv2d (no bias) + BatchNorm2d (eps 1e-3, momentum 0.03, as ultralytics' <c>initialize_weights</c> sets
/// them) + SiLU; every layer keeps PyTorch's default initialisation, as ultralytics does. Unlike ultralytics' Classify,
/// the head returns logits in eval mode too (ultralytics applies a softmax there). The small-image form makes the two
/// stem convs (model.0, model.1) stride 1: 8× downsampling instead of 32×.
/// </remarks>
public sealed class C2fClassifier : Module<Tensor, Tensor>, IFeatureBackbone
{
    /// <summary>The ten layers, <c>model.0</c>..<c>model.9</c> (the last one the Classify head).</summary>
    public Sequential Model { get; }

    /// <summary>Builds the network.</summary>
    /// <param name="options">Classes, input channels, small-image form, width multiplier, and an optional attention layer after each C2f.</param>
    /// <param name="scale">The compound scale.</param>
    /// <param name="coordAttention">Coordinate attention after each C2f (unless <see cref="BackboneOptions.Attention"/> names another layer).</param>
    /// <param name="headChannels">Channels of the head's 1×1 conv (ultralytics: 1280).</param>
    /// <param name="dropout">Dropout before the linear layer (ultralytics: 0).</param>
    /// <exception cref="ArgumentException">An option or size is out of range, or the attention name is unknown.</exception>
    public C2fClassifier(BackboneOptions? options = null, C2fScale scale = C2fScale.N, bool coordAttention = false, int headChannels = 1280, double dropout = 0.0)
    {
        options ??= new BackboneOptions();
        options.Validate();
        if (headChannels < 1) throw new ArgumentOutOfRangeException(nameof(headChannels), headChannels, "must be >= 1");
        var (depth, scaleWidth) = scale switch
        {
            C2fScale.N => (0.33, 0.25),
            C2fScale.S => (0.33, 0.50),
            C2fScale.M => (0.67, 0.75),
            C2fScale.L => (1.00, 1.00),
            C2fScale.X => (1.00, 1.25),
            _ => throw new ArgumentOutOfRangeException(nameof(scale), scale, "unknown scale"),
        };
        const double maxChannels = 1024;
        double width = scaleWidth * options.WidthMultiplier;
        long Ch(double c) => (long)Math.Ceiling(Math.Min(c, maxChannels) * width / 8) * 8;
        int Repeats(int n) => n > 1 ? Math.Max((int)Math.Round(n * depth, MidpointRounding.ToEven), 1) : n;

        string? attention = options.Attention?.Trim().ToLowerInvariant();
        if (attention is null && coordAttention) attention = "ca";
        if (attention is "" or "none") attention = null;

        long c0 = Ch(64), c1 = Ch(128), c2 = Ch(256), c3 = Ch(512), c4 = Ch(1024);
        long firstStride = options.SmallImage ? 1 : 2;
        Model = RegisterModule("model", new Sequential(
            new ConvBnSiLU(options.InChannels, c0, 3, firstStride),
            new ConvBnSiLU(c0, c1, 3, firstStride),
            new C2f(c1, c1, Repeats(3), true, attention),
            new ConvBnSiLU(c1, c2, 3, 2),
            new C2f(c2, c2, Repeats(6), true, attention),
            new ConvBnSiLU(c2, c3, 3, 2),
            new C2f(c3, c3, Repeats(6), true, attention),
            new ConvBnSiLU(c3, c4, 3, 2),
            new C2f(c4, c4, Repeats(3), true, attention),
            new Classify(c4, options.NumClasses, headChannels, dropout)));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Model.Forward(input);
    }

    /// <inheritdoc/>
    public long NumFeatures => ((Classify)Model[Model.Count - 1]).Linear.Weight.Size(1);

    /// <inheritdoc/>
    public Tensor ForwardFeatures(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = input;
        for (int i = 0; i < Model.Count - 1; i++) x = Model[i].Forward(x);
        return ((Classify)Model[Model.Count - 1]).Pooled(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ClassifierName => $"model.{Model.Count - 1}.linear";

    /// <inheritdoc/>
    Linear IFeatureBackbone.Classifier => ((Classify)Model[Model.Count - 1]).Linear;

    /// <summary>ultralytics' Conv: <c>conv</c> (k×k, padding k/2, no bias), <c>bn</c> (eps 1e-3, momentum 0.03), <c>act</c> (SiLU).</summary>
    private sealed class ConvBnSiLU : Module<Tensor, Tensor>
    {
        private readonly Conv2d _conv;
        private readonly BatchNorm2d _bn;

        public ConvBnSiLU(long input, long output, long kernel = 1, long stride = 1)
        {
            _conv = RegisterModule("conv", new Conv2d(input, output, kernel, stride, kernel / 2, bias: false));
            _bn = RegisterModule("bn", new BatchNorm2d(output, eps: 1e-3, momentum: 0.03));
            RegisterModule("act", new SiLU());
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            return Functional.Silu(_bn.Forward(_conv.Forward(input))).MoveToOuterDisposeScope();
        }
    }

    /// <summary>ultralytics' Bottleneck as C2f uses it: 3×3 Conv, 3×3 Conv, plus the input when <c>shortcut</c>.</summary>
    private sealed class Bottleneck : Module<Tensor, Tensor>
    {
        private readonly ConvBnSiLU _cv1, _cv2;
        private readonly bool _add;

        public Bottleneck(long channels, bool shortcut)
        {
            _cv1 = RegisterModule("cv1", new ConvBnSiLU(channels, channels, 3));
            _cv2 = RegisterModule("cv2", new ConvBnSiLU(channels, channels, 3));
            _add = shortcut;
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var y = _cv2.Forward(_cv1.Forward(input));
            return (_add ? input + y : y).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// C2f: cv1 (1×1 → 2c, c = out/2), split into two halves, n bottlenecks chained on the last chunk, all 2+n chunks
    /// concatenated, cv2 (1×1 → out); then the attention layer, if any, under its name (<c>ca</c>, <c>se</c>, …).
    /// </summary>
    private sealed class C2f : Module<Tensor, Tensor>
    {
        private readonly long _c;
        private readonly ConvBnSiLU _cv1, _cv2;
        private readonly ModuleList<Bottleneck> _m;
        private readonly Module<Tensor, Tensor>? _attention;

        public C2f(long input, long output, int n, bool shortcut, string? attention)
        {
            _c = output / 2;
            _cv1 = RegisterModule("cv1", new ConvBnSiLU(input, 2 * _c, 1));
            _cv2 = RegisterModule("cv2", new ConvBnSiLU((2 + n) * _c, output, 1));
            _m = RegisterModule("m", new ModuleList<Bottleneck>());
            for (int i = 0; i < n; i++) _m.Add(new Bottleneck(_c, shortcut));
            if (attention is not null) _attention = RegisterModule(attention, AttentionFactory.Create(attention, output));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var y = new List<Tensor>(_cv1.Forward(input).Chunk(2, 1));
            foreach (var m in _m) y.Add(m.Forward(y[^1]));
            var x = _cv2.Forward(Tensor.Cat(y, 1));
            if (_attention is not null) x = _attention.Forward(x);
            return x.MoveToOuterDisposeScope();
        }
    }

    /// <summary>ultralytics' Classify: <c>conv</c> (1×1 Conv to 1280), global average pool, dropout, <c>linear</c>.</summary>
    private sealed class Classify : Module<Tensor, Tensor>
    {
        private readonly ConvBnSiLU _conv;
        private readonly Dropout _drop;
        private readonly Linear _linear;

        public Classify(long input, int classes, long hidden, double dropout)
        {
            _conv = RegisterModule("conv", new ConvBnSiLU(input, hidden, 1));
            RegisterModule("pool", new AdaptiveAvgPool2d(1));
            _drop = RegisterModule("drop", new Dropout(dropout));
            _linear = RegisterModule("linear", new Linear(hidden, classes));
        }

        public Linear Linear => _linear;

        /// <summary>The 1×1 conv and the global average pool: the linear layer's input.</summary>
        public Tensor Pooled(Tensor input) => Functional.AdaptiveAvgPool2d(_conv.Forward(input), 1).Flatten(1);

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            return _linear.Forward(_drop.Forward(Pooled(input))).MoveToOuterDisposeScope();
        }
    }
}
