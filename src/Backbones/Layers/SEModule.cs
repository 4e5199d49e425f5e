using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Squeeze-and-excitation as timm builds it (<c>timm/layers/squeeze_excite.py</c>, <c>SEModule</c>; the SE of timm's
/// <c>seresnet*</c>): the channel means → <c>fc1</c> = 1×1 conv C → r with bias → ReLU → <c>fc2</c> = 1×1 conv r → C
/// with bias → sigmoid, and the input scaled per channel. r = <see cref="ReducedChannels"/>(C) =
/// make_divisible(C/16, 8, round_limit 0). State-dict keys <c>fc1.weight</c>, <c>fc1.bias</c>, <c>fc2.weight</c>,
/// <c>fc2.bias</c> (the reference SENet form with bias-free linear layers is <see cref="SqueezeExcite"/>).
/// Reports its (N,C,1,1) channel weights as <c>channel_weights</c> to intermediate hooks.
/// </summary>
public sealed class SEModule : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduced;

    /// <summary>1×1 conv to the reduced width, with bias.</summary>
    public Conv2d Fc1 { get; }

    /// <summary>1×1 conv back to the channels, with bias.</summary>
    public Conv2d Fc2 { get; }

    /// <summary>
    /// timm's <c>make_divisible(channels · ratio, divisor, round_limit=0.)</c>: the nearest multiple of
    /// <paramref name="divisor"/> (halves round up), at least <paramref name="divisor"/>.
    /// </summary>
    public static long ReducedChannels(long channels, double ratio = 1.0 / 16, long divisor = 8)
    {
        LayerArguments.Channels(channels);
        LayerArguments.Positive(divisor, nameof(divisor));
        if (!(ratio > 0) || ratio > 1) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "must be in (0, 1]");
        double v = channels * ratio;
        return Math.Max(divisor, (long)(v + divisor / 2.0) / divisor * divisor);
    }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="ratio">timm's <c>rd_ratio</c> (1/16).</param>
    /// <param name="divisor">timm's <c>rd_divisor</c> (8).</param>
    public SEModule(long channels, double ratio = 1.0 / 16, long divisor = 8)
    {
        _reduced = ReducedChannels(channels, ratio, divisor);
        _channels = channels;
        Fc1 = RegisterModule("fc1", new Conv2d(channels, _reduced, 1, bias: true));
        RegisterModule("bn", new Identity());
        RegisterModule("act", new ReLU(inplace: true));
        Fc2 = RegisterModule("fc2", new Conv2d(_reduced, channels, 1, bias: true));
        RegisterModule("gate", new Sigmoid());
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunForwardHooks(input, Scale(input));
    }

    private Tensor Scale(Tensor input)
    {
        using var scope = Tensor.NewDisposeScope();
        var w = Fc2.Forward(Fc1.Forward(input.Mean(new long[] { 2, 3 }, keepDim: true)).Relu_()).Sigmoid_();
        ReportIntermediate("channel_weights", w);
        return (input * w).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduced={_reduced}";
}
