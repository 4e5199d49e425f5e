using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Squeeze-and-excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018), in the form of the common SENet
/// code the seeds show: global average pool → <c>fc</c> = Linear(C, C/r, no bias) → ReLU → Linear(C/r, C, no bias) →
/// sigmoid, and the input scaled per channel. State-dict keys <c>fc.0.weight</c>, <c>fc.2.weight</c>.
/// Reports its (N,C,1,1) channel weights as <c>channel_weights</c> to intermediate hooks (<see cref="Module.RegisterIntermediateHook"/>).
/// </summary>
public sealed class SqueezeExcite : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduction;

    /// <summary>Global average pooling to 1×1 (the squeeze).</summary>
    public AdaptiveAvgPool2d AvgPool { get; }

    /// <summary>The excitation: Linear, ReLU, Linear, Sigmoid (indices 0..3 as in <c>nn.Sequential</c>).</summary>
    public Sequential Fc { get; }

    /// <summary>Creates the block for <paramref name="channels"/> channels with bottleneck width channels/<paramref name="reduction"/>.</summary>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public SqueezeExcite(long channels, long reduction = 16)
    {
        long hidden = LayerArguments.Reduced(channels, reduction);
        _channels = channels;
        _reduction = reduction;
        AvgPool = RegisterModule("avg_pool", new AdaptiveAvgPool2d(1));
        Fc = RegisterModule("fc", new Sequential(
            new Linear(channels, hidden, bias: false),
            new ReLU(inplace: true),
            new Linear(hidden, channels, bias: false),
            new Sigmoid()));
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
        var s = input.Shape;
        var w = Fc.Forward(AvgPool.Forward(input).View(s[0], s[1])).View(s[0], s[1], 1, 1);
        ReportIntermediate("channel_weights", w);
        return (input * w).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduction={_reduction}";
}
