using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// timm's ConvNormAct with batch norm (<c>timm/layers/conv_bn_act.py</c>): <c>conv</c> (k×k, no bias, padding
/// ((stride − 1) + dilation·(k − 1)) / 2 as timm's <c>get_padding</c>), <c>bn</c>, then ReLU unless linear.
/// </summary>
public sealed class ConvBnReLU : Module<Tensor, Tensor>
{
    private readonly bool _act;

    /// <summary>The convolution.</summary>
    public Conv2d Conv { get; }

    /// <summary>Its batch norm.</summary>
    public BatchNorm2d Bn { get; }

    /// <summary>Creates the layer.</summary>
    public ConvBnReLU(long input, long output, long kernel, long stride = 1, long dilation = 1, long groups = 1, bool act = true)
    {
        Conv = RegisterModule("conv", new Conv2d(input, output, kernel, stride, ((stride - 1) + dilation * (kernel - 1)) / 2, dilation, groups, bias: false));
        Bn = RegisterModule("bn", new BatchNorm2d(output));
        _act = act;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = Bn.Forward(Conv.Forward(input));
        return (_act ? y.Relu_() : y).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// timm's selective-kernel convolution (<c>timm/layers/selective_kernel.py</c>, <c>SelectiveKernel</c> with its
/// defaults kernel [3, 5] → two 3×3 paths of dilation 1 and 2, <c>keep_3x3</c>): <c>paths.i</c> = ConvBnReLU, each on
/// half the input channels when <c>split_input</c>; <c>attn</c> = <see cref="TimmSelectiveKernelAttention"/> weighs the
/// paths per channel (softmax over paths), and the weighted paths are summed. The SKNet paper's form with the
/// reference's names is <see cref="SelectiveKernel"/>.
/// </summary>
public sealed class TimmSelectiveKernel : Module<Tensor, Tensor>
{
    private readonly long _inChannels;
    private readonly bool _split;

    /// <summary>The two paths.</summary>
    public ModuleList<ConvBnReLU> Paths { get; }

    /// <summary>The path attention.</summary>
    public TimmSelectiveKernelAttention Attention { get; }

    /// <summary>Creates the module.</summary>
    /// <param name="inChannels">Input channels (even when <paramref name="splitInput"/>).</param>
    /// <param name="outChannels">Output channels of every path.</param>
    /// <param name="stride">Stride of the paths.</param>
    /// <param name="groups">Groups of the path convolutions (at most <paramref name="outChannels"/>).</param>
    /// <param name="rdRatio">timm's <c>rd_ratio</c>: attention width = make_divisible(out · ratio, divisor).</param>
    /// <param name="rdDivisor">timm's <c>rd_divisor</c>.</param>
    /// <param name="splitInput">Each path sees its half of the input channels (timm's skresnet18/34), else all of them.</param>
    public TimmSelectiveKernel(long inChannels, long outChannels, long stride = 1, long groups = 1, double rdRatio = 1.0 / 16, long rdDivisor = 8, bool splitInput = true)
    {
        LayerArguments.Channels(inChannels, nameof(inChannels));
        LayerArguments.Channels(outChannels, nameof(outChannels));
        const int paths = 2;
        if (splitInput && inChannels % paths != 0) throw new ArgumentException($"split input needs even input channels, got {inChannels}", nameof(inChannels));
        _inChannels = inChannels;
        _split = splitInput;
        long pathIn = splitInput ? inChannels / paths : inChannels;
        groups = Math.Min(outChannels, groups);
        Paths = RegisterModule("paths", new ModuleList<ConvBnReLU>());
        for (int i = 0; i < paths; i++) Paths.Add(new ConvBnReLU(pathIn, outChannels, 3, stride, dilation: i + 1, groups: groups));
        long attn = MakeDivisible(outChannels * rdRatio, rdDivisor);
        Attention = RegisterModule("attn", new TimmSelectiveKernelAttention(outChannels, paths, attn));
    }

    /// <summary>timm's <c>make_divisible</c> (round_limit 0.9): the nearest multiple, at least the divisor, never more than 10 % below.</summary>
    internal static long MakeDivisible(double v, long divisor)
    {
        long r = Math.Max(divisor, (long)(v + divisor / 2.0) / divisor * divisor);
        return r < 0.9 * v ? r + divisor : r;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var parts = _split ? input.Split(_inChannels / Paths.Count, 1) : Enumerable.Repeat(input, Paths.Count).ToArray();
        var x = Tensor.Cat(Paths.Select((p, i) => p.Forward(parts[i]).Unsqueeze(1)).ToArray(), 1);
        return (x * Attention.Forward(x)).Sum(1).MoveToOuterDisposeScope();
    }
}

/// <summary>timm's <c>SelectiveKernelAttn</c>: sum over paths, global mean, <c>fc_reduce</c> (1×1, no bias) + <c>bn</c> + ReLU, <c>fc_select</c> (1×1 to paths·C, no bias), softmax over the paths.</summary>
public sealed class TimmSelectiveKernelAttention : Module<Tensor, Tensor>
{
    private readonly int _paths;

    /// <summary>Creates the module.</summary>
    public TimmSelectiveKernelAttention(long channels, int paths, long attnChannels)
    {
        _paths = paths;
        RegisterModule("fc_reduce", new Conv2d(channels, attnChannels, 1, bias: false));
        RegisterModule("bn", new BatchNorm2d(attnChannels));
        RegisterModule("act", new ReLU(inplace: true));
        RegisterModule("fc_select", new Conv2d(attnChannels, channels * paths, 1, bias: false));
    }

    /// <summary>(B, paths, C, H, W) stacked paths → (B, paths, C, 1, 1) weights.</summary>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = input.Sum(1).Mean(new long[] { 2, 3 }, keepDim: true);
        foreach (var (_, m) in NamedChildren()) x = ((Module<Tensor, Tensor>)m).Forward(x);
        long b = x.Size(0), c = x.Size(1);
        return Functional.Softmax(x.View(b, _paths, c / _paths, 1, 1), 1).MoveToOuterDisposeScope();
    }
}
