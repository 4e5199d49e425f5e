using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Convolutional block attention module (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018;
/// Jongchan/attention-module <c>MODELS/cbam.py</c>): a channel gate (<see cref="CbamChannelGate"/>) then a spatial gate
/// (<see cref="CbamSpatialGate"/>). Submodules are named <c>ChannelGate</c> and <c>SpatialGate</c> as in the reference,
/// so its checkpoints load (<c>ChannelGate.mlp.1.weight</c>, <c>SpatialGate.spatial.bn.running_mean</c>, …).
/// The gates report their attention to intermediate hooks (<see cref="Module.RegisterIntermediateHook"/>).
/// </summary>
public sealed class Cbam : Module<Tensor, Tensor>
{
    /// <summary>The channel gate.</summary>
    public CbamChannelGate ChannelGate { get; }

    /// <summary>The spatial gate, or null with <c>noSpatial</c>.</summary>
    public CbamSpatialGate? SpatialGate { get; }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="reduction">Reduction of the channel gate's MLP (16 in the paper).</param>
    /// <param name="noSpatial">Leave out the spatial gate (the reference's <c>no_spatial</c>).</param>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public Cbam(long channels, long reduction = 16, bool noSpatial = false)
    {
        ChannelGate = RegisterModule("ChannelGate", new CbamChannelGate(channels, reduction));
        if (!noSpatial) SpatialGate = RegisterModule("SpatialGate", new CbamSpatialGate());
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return RunForwardHooks(input, Gate(input));
    }

    private Tensor Gate(Tensor input)
    {
        if (SpatialGate is null) return ChannelGate.Forward(input);
        using var scope = Tensor.NewDisposeScope();
        return SpatialGate.Forward(ChannelGate.Forward(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}

/// <summary>
/// CBAM's channel attention: the average- and the max-pooled descriptors go through one shared MLP
/// (<c>mlp</c> = Flatten, Linear(C, C/r), ReLU, Linear(C/r, C), both linears with bias), are summed, squashed by a
/// sigmoid and scale the input's channels. Reports the (N,C,1,1) sigmoid weights as <c>channel_weights</c>.
/// </summary>
public sealed class CbamChannelGate : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduction;

    /// <summary>The shared MLP (index 0 is the Flatten, so the linears are <c>mlp.1</c> and <c>mlp.3</c>).</summary>
    public Sequential Mlp { get; }

    /// <summary>Creates the gate.</summary>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public CbamChannelGate(long channels, long reduction = 16)
    {
        long hidden = LayerArguments.Reduced(channels, reduction);
        _channels = channels;
        _reduction = reduction;
        Mlp = RegisterModule("mlp", new Sequential(new Flatten(), new Linear(channels, hidden), new ReLU(), new Linear(hidden, channels)));
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
        var att = Mlp.Forward(Functional.AdaptiveAvgPool2d(input, 1)) + Mlp.Forward(Functional.AdaptiveMaxPool2d(input, 1));
        var scale = att.Sigmoid().Unsqueeze(2).Unsqueeze(3);
        ReportIntermediate("channel_weights", scale);
        return (input * scale).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduction={_reduction}";
}

/// <summary>
/// CBAM's spatial attention: the channel-wise max and mean (in that order) are stacked into 2 channels, go through a
/// 7×7 conv (no bias) + BN (<see cref="BasicConv"/> <c>spatial</c>), a sigmoid, and scale every position.
/// Reports the (N,1,H,W) sigmoid map as <c>spatial_map</c>.
/// </summary>
public sealed class CbamSpatialGate : Module<Tensor, Tensor>
{
    /// <summary>The reference's kernel size.</summary>
    public const long KernelSize = 7;

    /// <summary>Conv 2→1, 7×7, padding 3, no bias; BN with momentum 0.01; no ReLU.</summary>
    public BasicConv Spatial { get; }

    /// <summary>Creates the gate.</summary>
    public CbamSpatialGate()
    {
        Spatial = RegisterModule("spatial", new BasicConv(2, 1, KernelSize, padding: (KernelSize - 1) / 2, relu: false));
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
        var compressed = Tensor.Cat(new[] { input.Max(1, keepDim: true).Values, input.Mean(1, keepDim: true) }, 1);
        var scale = Spatial.Forward(compressed).Sigmoid();
        ReportIntermediate("spatial_map", scale);
        return (input * scale).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}

/// <summary>
/// The reference's <c>BasicConv</c>: <c>conv</c> (Conv2d), optional <c>bn</c> (BatchNorm2d with eps 1e-5 and
/// momentum 0.01 — not PyTorch's default 0.1) and optional ReLU.
/// </summary>
public sealed class BasicConv : Module<Tensor, Tensor>
{
    /// <summary>The convolution.</summary>
    public Conv2d Conv { get; }
    /// <summary>The batch norm, or null.</summary>
    public BatchNorm2d? Bn { get; }
    /// <summary>The ReLU, or null.</summary>
    public ReLU? Relu { get; }

    /// <summary>Creates the layer.</summary>
    public BasicConv(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1, long groups = 1,
        bool relu = true, bool bn = true, bool bias = false)
    {
        Conv = RegisterModule("conv", new Conv2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias));
        if (bn) Bn = RegisterModule("bn", new BatchNorm2d(outChannels, eps: 1e-5, momentum: 0.01));
        if (relu) Relu = RegisterModule("relu", new ReLU());
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var x = Conv.Forward(input);
        if (Bn is not null) x = Bn.Forward(x);
        if (Relu is not null) x = Relu.Forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
