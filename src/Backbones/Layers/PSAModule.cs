using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Pyramid squeeze attention (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional
/// Neural Network", 2021; murufeng/EPSANet <c>PSAModule</c>), the drop-in replacement of a ResNet bottleneck's 3×3
/// conv. Four branch convolutions <c>conv_1</c>..<c>conv_4</c>, each from ALL input channels to planes/4 (no bias;
/// kernels 3, 5, 7, 9 with padding k/2; groups 1, 4, 8, 16; the block's stride), one <see cref="SEWeightModule"/>
/// <c>se</c> shared by the four branches, a softmax over the branch dimension of the (N,4,planes/4,1,1) weights, and
/// the weighted branches concatenated in the reference's order — reversed: (x4, x3, x2, x1).
/// Reports the softmax-normalised (N,4,planes/4,1,1) branch weights, branch i being <c>conv_{i+1}</c>'s, as
/// <c>branch_weights</c> to intermediate hooks (<see cref="Module.RegisterIntermediateHook"/>).
/// </summary>
public sealed class PSAModule : Module<Tensor, Tensor>
{
    /// <summary>The kernel sizes of the official code.</summary>
    public static IReadOnlyList<long> DefaultKernels { get; } = new long[] { 3, 5, 7, 9 };
    /// <summary>The group counts of the official code ("small" EPSANet).</summary>
    public static IReadOnlyList<long> DefaultGroups { get; } = new long[] { 1, 4, 8, 16 };

    private readonly Conv2d[] _convs;
    private readonly long _channels, _planes, _stride;
    private readonly long[] _kernels, _groups;

    /// <summary>Channels of each branch (planes/4).</summary>
    public long SplitChannels { get; }

    /// <summary>The four branch convolutions <c>conv_1</c>..<c>conv_4</c>.</summary>
    public IReadOnlyList<Conv2d> Convs => _convs;

    /// <summary>The channel-weight module shared by all branches.</summary>
    public SEWeightModule Se { get; }

    /// <summary>Softmax over the branch dimension (dim 1 of (N,4,planes/4,1,1)).</summary>
    public Softmax Softmax { get; }

    /// <summary>Creates the module: <paramref name="channels"/> in, <paramref name="planes"/> out.</summary>
    /// <param name="channels">Input channels (the reference's <c>inplans</c>); every group count must divide it.</param>
    /// <param name="planes">Output channels; a multiple of 4 whose quarter every group count and <paramref name="seReduction"/> divide.</param>
    /// <param name="kernels">Four odd kernel sizes (default 3, 5, 7, 9).</param>
    /// <param name="stride">Stride of every branch.</param>
    /// <param name="groups">Four group counts (default 1, 4, 8, 16; EPSANet "large" uses 32 for all).</param>
    /// <param name="seReduction">Reduction of the shared <see cref="SEWeightModule"/> (16 in the official code).</param>
    /// <exception cref="ArgumentException">An argument is out of range or the channel counts do not divide as described.</exception>
    public PSAModule(long channels, long planes, IReadOnlyList<long>? kernels = null, long stride = 1, IReadOnlyList<long>? groups = null,
        long seReduction = 16)
    {
        LayerArguments.Channels(channels);
        LayerArguments.Channels(planes, nameof(planes));
        LayerArguments.Positive(stride, nameof(stride));
        if (planes % 4 != 0) throw new ArgumentException($"planes={planes} must be a multiple of 4 (four branches of planes/4)", nameof(planes));
        _kernels = (kernels ?? DefaultKernels).ToArray();
        _groups = (groups ?? DefaultGroups).ToArray();
        if (_kernels.Length != 4) throw new ArgumentException($"kernels must hold 4 sizes, got {_kernels.Length}", nameof(kernels));
        if (_groups.Length != 4) throw new ArgumentException($"groups must hold 4 counts, got {_groups.Length}", nameof(groups));
        long split = planes / 4;
        foreach (var k in _kernels)
            if (k <= 0 || k % 2 == 0) throw new ArgumentException($"kernel sizes must be odd and > 0 (padding k/2 keeps the size), got {k}", nameof(kernels));
        foreach (var g in _groups)
            if (g <= 0 || channels % g != 0 || split % g != 0)
                throw new ArgumentException($"group count {g} must divide channels={channels} and planes/4={split}", nameof(groups));
        if (seReduction <= 0 || split % seReduction != 0)
            throw new ArgumentException($"seReduction={seReduction} must divide planes/4={split}", nameof(seReduction));
        _channels = channels;
        _planes = planes;
        _stride = stride;
        SplitChannels = split;
        _convs = new Conv2d[4];
        for (int i = 0; i < 4; i++)
            _convs[i] = RegisterModule($"conv_{i + 1}", new Conv2d(channels, split, _kernels[i], stride: stride, padding: _kernels[i] / 2,
                groups: _groups[i], bias: false));
        Se = RegisterModule("se", new SEWeightModule(split, seReduction));
        Softmax = RegisterModule("softmax", new Softmax(1));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunForwardHooks(input, Attend(input));
    }

    private Tensor Attend(Tensor input)
    {
        using var scope = Tensor.NewDisposeScope();
        long n = input.Size(0);
        var xs = _convs.Select(c => c.Forward(input)).ToArray();
        var feats = Tensor.Cat(xs, 1);
        var fs = feats.Shape;
        feats = feats.View(n, 4, SplitChannels, fs[2], fs[3]);
        var weights = Tensor.Cat(xs.Select(Se.Forward).ToArray(), 1).View(n, 4, SplitChannels, 1, 1);
        var branchWeights = Softmax.Forward(weights);
        ReportIntermediate("branch_weights", branchWeights);
        var weighted = feats * branchWeights;
        // The official loop prepends each branch to the running result, so the output is (x4, x3, x2, x1).
        var outParts = new[] { weighted.Select(1, 3), weighted.Select(1, 2), weighted.Select(1, 1), weighted.Select(1, 0) };
        return Tensor.Cat(outParts, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{_channels}, {_planes}, kernels=[{string.Join(", ", _kernels)}], stride={_stride}, groups=[{string.Join(", ", _groups)}]";
}
