using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Selective kernel convolution (Li et al., "Selective Kernel Networks", CVPR 2019; implus/SKNet, in the PyTorch form
/// of pppLang/SKNet's <c>SKConv</c>). Split: M paths <c>convs.i</c> = 3×3 grouped conv with dilation and padding
/// 1+i (no bias) + BN + ReLU, i.e. 3×3 and a dilated 3×3 with a 5×5 receptive field for M = 2. Fuse: the paths are
/// summed, globally average-pooled and reduced by <c>fc</c> = 1×1 conv C→d (no bias) + BN + ReLU with
/// d = max(C/r, L). Select: one 1×1 conv per path (<c>fcs.i</c>, with bias) back to C, a softmax across the paths
/// per channel, and the paths summed with those weights.
/// </summary>
public sealed class SelectiveKernel : Module<Tensor, Tensor>
{
    private readonly long _channels, _groups, _stride;

    /// <summary>Number of paths M.</summary>
    public int Paths { get; }
    /// <summary>Width d of the fused descriptor.</summary>
    public long D { get; }
    /// <summary>The paths: Sequential(Conv2d, BatchNorm2d, ReLU) each.</summary>
    public ModuleList<Sequential> Convs { get; }
    /// <summary>Global average pooling to 1×1.</summary>
    public AdaptiveAvgPool2d Gap { get; }
    /// <summary>Conv2d(C, d, 1, no bias), BatchNorm2d(d), ReLU.</summary>
    public Sequential Fc { get; }
    /// <summary>One Conv2d(d, C, 1) per path.</summary>
    public ModuleList<Conv2d> Fcs { get; }
    /// <summary>Softmax across the paths (dim 1 of (N,M,C,1,1)).</summary>
    public Softmax Softmax { get; }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels (the reference's <c>features</c>).</param>
    /// <param name="paths">Number of paths M (2 in SKNet-50).</param>
    /// <param name="groups">Groups of the path convolutions (32 in SKNet-50); must divide channels.</param>
    /// <param name="reduction">r in d = max(C/r, L).</param>
    /// <param name="stride">Stride of the path convolutions.</param>
    /// <param name="minDim">L in d = max(C/r, L) (32 in the paper).</param>
    /// <exception cref="ArgumentException">An argument is out of range, or groups does not divide channels.</exception>
    public SelectiveKernel(long channels, int paths = 2, long groups = 32, long reduction = 16, long stride = 1, long minDim = 32)
    {
        LayerArguments.Channels(channels);
        if (paths < 1) throw new ArgumentException($"paths must be >= 1, got {paths}", nameof(paths));
        if (groups <= 0 || channels % groups != 0) throw new ArgumentException($"groups={groups} must divide channels={channels}", nameof(groups));
        LayerArguments.Positive(reduction, nameof(reduction));
        LayerArguments.Positive(stride, nameof(stride));
        LayerArguments.Positive(minDim, nameof(minDim));
        _channels = channels;
        _groups = groups;
        _stride = stride;
        Paths = paths;
        D = Math.Max(channels / reduction, minDim);
        Convs = RegisterModule("convs", new ModuleList<Sequential>());
        for (int i = 0; i < paths; i++)
            Convs.Add(new Sequential(
                new Conv2d(channels, channels, 3, stride: stride, padding: 1 + i, dilation: 1 + i, groups: groups, bias: false),
                new BatchNorm2d(channels),
                new ReLU(inplace: true)));
        Gap = RegisterModule("gap", new AdaptiveAvgPool2d(1));
        Fc = RegisterModule("fc", new Sequential(new Conv2d(channels, D, 1, bias: false), new BatchNorm2d(D), new ReLU(inplace: true)));
        Fcs = RegisterModule("fcs", new ModuleList<Conv2d>());
        for (int i = 0; i < paths; i++) Fcs.Add(new Conv2d(D, channels, 1));
        Softmax = RegisterModule("softmax", new Softmax(1));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        long n = input.Size(0);
        var feats = Tensor.Cat(Convs.Select(c => c.Forward(input)).ToArray(), 1);
        var fs = feats.Shape;
        feats = feats.View(n, Paths, _channels, fs[2], fs[3]);
        var z = Fc.Forward(Gap.Forward(feats.Sum(1)));
        var attention = Tensor.Cat(Fcs.Select(f => f.Forward(z)).ToArray(), 1).View(n, Paths, _channels, 1, 1);
        return (feats * Softmax.Forward(attention)).Sum(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, paths={Paths}, groups={_groups}, stride={_stride}, d={D}";
}
