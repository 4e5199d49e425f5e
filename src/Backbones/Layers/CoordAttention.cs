using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Coordinate attention (Hou, Zhou and Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021;
/// Andrew-Qibin/CoordAttention <c>coordatt.py</c>). The input is average-pooled along W (an H×1 map) and along H
/// (1×W, transposed to W×1); both are concatenated along the spatial dim, go through <c>conv1</c> (1×1 with bias) to
/// mip = max(8, C/r) channels, <c>bn1</c> and h-swish, are split again, and <c>conv_h</c>/<c>conv_w</c> (1×1 with bias)
/// with a sigmoid give the attention along H and along W: out = x · a_w · a_h. Reports a_h (N,C,H,1) as
/// <c>attention_h</c> and a_w (N,C,1,W) as <c>attention_w</c> to intermediate hooks (<see cref="Module.RegisterIntermediateHook"/>).
/// </summary>
public sealed class CoordAttention : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduction;

    /// <summary>Channels of the shared bottleneck: max(8, channels / reduction).</summary>
    public long MipChannels { get; }
    /// <summary>Average over W: (N,C,H,1).</summary>
    public AdaptiveAvgPool2d PoolH { get; }
    /// <summary>Average over H: (N,C,1,W).</summary>
    public AdaptiveAvgPool2d PoolW { get; }
    /// <summary>1×1 conv C → mip, with bias.</summary>
    public Conv2d Conv1 { get; }
    /// <summary>Batch norm of the bottleneck.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>h-swish, x·relu6(x+3)/6.</summary>
    public Hardswish Act { get; }
    /// <summary>1×1 conv mip → C for the attention along H, with bias.</summary>
    public Conv2d ConvH { get; }
    /// <summary>1×1 conv mip → C for the attention along W, with bias.</summary>
    public Conv2d ConvW { get; }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="reduction">Bottleneck reduction (32 in the reference); the bottleneck keeps at least 8 channels.</param>
    /// <exception cref="ArgumentException">channels or reduction is not positive.</exception>
    public CoordAttention(long channels, long reduction = 32)
    {
        LayerArguments.Channels(channels);
        LayerArguments.Positive(reduction, nameof(reduction));
        _channels = channels;
        _reduction = reduction;
        MipChannels = Math.Max(8, channels / reduction);
        PoolH = RegisterModule("pool_h", new AdaptiveAvgPool2d(null, 1));
        PoolW = RegisterModule("pool_w", new AdaptiveAvgPool2d(1, null));
        Conv1 = RegisterModule("conv1", new Conv2d(channels, MipChannels, 1));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(MipChannels));
        Act = RegisterModule("act", new Hardswish());
        ConvH = RegisterModule("conv_h", new Conv2d(MipChannels, channels, 1));
        ConvW = RegisterModule("conv_w", new Conv2d(MipChannels, channels, 1));
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
        var s = input.Shape;
        long h = s[2], w = s[3];
        var y = Tensor.Cat(new[] { PoolH.Forward(input), PoolW.Forward(input).Permute(0, 1, 3, 2) }, 2);
        y = Act.Forward(Bn1.Forward(Conv1.Forward(y)));
        var parts = y.Split(new[] { h, w }, 2);
        var aH = ConvH.Forward(parts[0]).Sigmoid();
        var aW = ConvW.Forward(parts[1].Permute(0, 1, 3, 2)).Sigmoid();
        ReportIntermediate("attention_h", aH);
        ReportIntermediate("attention_w", aW);
        return (input * aW * aH).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduction={_reduction}, mip={MipChannels}";
}
