using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// EPSANet's channel-weight branch (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on
/// Convolutional Neural Network", 2021; murufeng/EPSANet <c>SEWeightModule</c>): global average pool →
/// <c>fc1</c> = 1×1 conv C→C/r (with bias) → ReLU → <c>fc2</c> = 1×1 conv C/r→C (with bias) → sigmoid.
/// Unlike <see cref="SqueezeExcite"/> it returns the (N,C,1,1) weight, not the rescaled input: <see cref="PSAModule"/>
/// normalises the weights of its four branches with a softmax before applying them.
/// </summary>
public sealed class SEWeightModule : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduction;

    /// <summary>Global average pooling to 1×1.</summary>
    public AdaptiveAvgPool2d AvgPool { get; }
    /// <summary>1×1 convolution C → C/r, with bias.</summary>
    public Conv2d Fc1 { get; }
    /// <summary>ReLU (in place, as the reference).</summary>
    public ReLU Relu { get; }
    /// <summary>1×1 convolution C/r → C, with bias.</summary>
    public Conv2d Fc2 { get; }
    /// <summary>The gate.</summary>
    public Sigmoid Sigmoid { get; }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public SEWeightModule(long channels, long reduction = 16)
    {
        long hidden = LayerArguments.Reduced(channels, reduction);
        _channels = channels;
        _reduction = reduction;
        AvgPool = RegisterModule("avg_pool", new AdaptiveAvgPool2d(1));
        Fc1 = RegisterModule("fc1", new Conv2d(channels, hidden, 1));
        Relu = RegisterModule("relu", new ReLU(inplace: true));
        Fc2 = RegisterModule("fc2", new Conv2d(hidden, channels, 1));
        Sigmoid = RegisterModule("sigmoid", new Sigmoid());
    }

    /// <summary>The (N,C,1,1) channel weights in (0, 1) of a (N,C,H,W) input.</summary>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunForwardHooks(input, Weights(input));
    }

    private Tensor Weights(Tensor input)
    {
        using var scope = Tensor.NewDisposeScope();
        var y = Relu.Forward(Fc1.Forward(AvgPool.Forward(input)));
        return Sigmoid.Forward(Fc2.Forward(y)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduction={_reduction}";
}
