using System.Globalization;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Bottleneck attention module (Park et al., "BAM: Bottleneck Attention Module", BMVC 2018; Jongchan/attention-module
/// <c>MODELS/bam.py</c>): a channel branch M_c (<see cref="BamChannelGate"/>) and a spatial branch M_s
/// (<see cref="BamSpatialGate"/>) run in parallel and are combined as in the reference code,
/// out = x · (1 + sigmoid(M_c · M_s)) — the product of the two branches (the paper's text writes their sum).
/// Placed after stages 1–3 of a ResNet, not in every block. Reports the (N,C,H,W) gate sigmoid(M_c · M_s) as
/// <c>attention</c> to intermediate hooks (<see cref="Module.RegisterIntermediateHook"/>).
/// </summary>
public sealed class Bam : Module<Tensor, Tensor>
{
    /// <summary>The channel branch (<c>channel_att</c>).</summary>
    public BamChannelGate ChannelAtt { get; }
    /// <summary>The spatial branch (<c>spatial_att</c>).</summary>
    public BamSpatialGate SpatialAtt { get; }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="reduction">Reduction of both branches (16 in the paper).</param>
    /// <param name="dilationConvCount">Dilated 3×3 convs in the spatial branch (2).</param>
    /// <param name="dilation">Their dilation (4).</param>
    /// <exception cref="ArgumentException">An argument is out of range, or reduction does not divide channels.</exception>
    public Bam(long channels, long reduction = 16, int dilationConvCount = 2, long dilation = 4)
    {
        ChannelAtt = RegisterModule("channel_att", new BamChannelGate(channels, reduction));
        SpatialAtt = RegisterModule("spatial_att", new BamSpatialGate(channels, reduction, dilationConvCount, dilation));
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
        var gate = (ChannelAtt.Forward(input) * SpatialAtt.Forward(input)).Sigmoid();
        ReportIntermediate("attention", gate);
        var att = gate + 1;
        return (att * input).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}

/// <summary>
/// BAM's channel branch: global average pool, then <c>gate_c</c> = flatten → <c>gate_c_fc_0</c> Linear(C, C/r) →
/// <c>gate_c_bn_1</c> BatchNorm1d → ReLU → <c>gate_c_fc_final</c> Linear(C/r, C), broadcast to the input's shape.
/// </summary>
/// <remarks>
/// The reference pools with a square window of side H (<c>avg_pool2d(x, x.size(2))</c>), which is the global average
/// only for square inputs; this gate always averages over the whole map.
/// </remarks>
public sealed class BamChannelGate : Module<Tensor, Tensor>
{
    /// <summary>The MLP with the reference's layer names.</summary>
    public NamedSequential GateC { get; }

    /// <summary>Creates the branch.</summary>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public BamChannelGate(long channels, long reduction = 16)
    {
        long mid = LayerArguments.Reduced(channels, reduction);
        GateC = RegisterModule("gate_c", new NamedSequential()
            .Add("flatten", new Flatten())
            .Add("gate_c_fc_0", new Linear(channels, mid))
            .Add("gate_c_bn_1", new BatchNorm1d(mid))
            .Add("gate_c_relu_1", new ReLU())
            .Add("gate_c_fc_final", new Linear(mid, channels)));
    }

    /// <summary>The channel attention logits, expanded to the input's (N,C,H,W) shape.</summary>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var y = GateC.Forward(Functional.AdaptiveAvgPool2d(input, 1)).Unsqueeze(2).Unsqueeze(3);
        return y.Expand(input.Shape).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// BAM's spatial branch, <c>gate_s</c>: 1×1 conv C→C/r + BN + ReLU (<c>gate_s_*_reduce0</c>), then
/// <c>dilationConvCount</c> × (3×3 conv with dilation d and padding d + BN + ReLU) (<c>gate_s_*_di_i</c>), then a 1×1
/// conv to one channel (<c>gate_s_conv_final</c>), broadcast to the input's shape. All convs have a bias.
/// </summary>
public sealed class BamSpatialGate : Module<Tensor, Tensor>
{
    /// <summary>The convolutions with the reference's layer names.</summary>
    public NamedSequential GateS { get; }

    /// <summary>Creates the branch.</summary>
    /// <exception cref="ArgumentException">An argument is out of range, or reduction does not divide channels.</exception>
    public BamSpatialGate(long channels, long reduction = 16, int dilationConvCount = 2, long dilation = 4)
    {
        long mid = LayerArguments.Reduced(channels, reduction);
        if (dilationConvCount < 0) throw new ArgumentException($"dilationConvCount must be >= 0, got {dilationConvCount}", nameof(dilationConvCount));
        LayerArguments.Positive(dilation, nameof(dilation));
        var gate = new NamedSequential()
            .Add("gate_s_conv_reduce0", new Conv2d(channels, mid, 1))
            .Add("gate_s_bn_reduce0", new BatchNorm2d(mid))
            .Add("gate_s_relu_reduce0", new ReLU());
        for (int i = 0; i < dilationConvCount; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            gate.Add("gate_s_conv_di_" + n, new Conv2d(mid, mid, 3, padding: dilation, dilation: dilation))
                .Add("gate_s_bn_di_" + n, new BatchNorm2d(mid))
                .Add("gate_s_relu_di_" + n, new ReLU());
        }
        gate.Add("gate_s_conv_final", new Conv2d(mid, 1, 1));
        GateS = RegisterModule("gate_s", gate);
    }

    /// <summary>The spatial attention logits, expanded to the input's (N,C,H,W) shape.</summary>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        return GateS.Forward(input).Expand(input.Shape).MoveToOuterDisposeScope();
    }
}
