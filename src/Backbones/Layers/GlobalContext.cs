using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Global context block (Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond", 2019;
/// xvjiarui/GCNet <c>ContextBlock2d</c> with attention pooling and channel-add fusion): a 1×1 conv <c>conv_mask</c>
/// C→1 and a softmax over the H·W positions give one attention map shared by all channels; the attention-pooled
/// (N,C,1,1) context goes through <c>channel_add_conv</c> = 1×1 conv C→C/r → LayerNorm([C/r,1,1]) → ReLU →
/// 1×1 conv C/r→C and is ADDED to every position: out = x + transform(context).
/// As in the reference, <c>conv_mask</c> starts from Kaiming-normal (fan in) weights and a zero bias, and the last
/// conv of the transform from zeros, so a fresh block is the identity.
/// </summary>
public sealed class GlobalContext : Module<Tensor, Tensor>
{
    private readonly long _channels, _reduction;

    /// <summary>Channels of the transform's bottleneck (channels / reduction).</summary>
    public long Planes { get; }
    /// <summary>1×1 conv C → 1, with bias: the attention logits.</summary>
    public Conv2d ConvMask { get; }
    /// <summary>Softmax over the flattened positions (dim 2 of (N,1,H·W)).</summary>
    public Softmax Softmax { get; }
    /// <summary>The transform: Conv2d, LayerNorm, ReLU, Conv2d (indices 0..3).</summary>
    public Sequential ChannelAddConv { get; }

    /// <summary>Creates the block for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="reduction">Bottleneck reduction r of the transform (GCNet's r16 and r4 settings).</param>
    /// <exception cref="ArgumentException">channels is not positive, or reduction does not divide it.</exception>
    public GlobalContext(long channels, long reduction = 16)
    {
        Planes = LayerArguments.Reduced(channels, reduction);
        _channels = channels;
        _reduction = reduction;
        ConvMask = RegisterModule("conv_mask", new Conv2d(channels, 1, 1));
        Softmax = RegisterModule("softmax", new Softmax(2));
        var last = new Conv2d(Planes, channels, 1);
        ChannelAddConv = RegisterModule("channel_add_conv", new Sequential(
            new Conv2d(channels, Planes, 1),
            new LayerNorm(new[] { Planes, 1L, 1L }),
            new ReLU(inplace: true),
            last));
        // mmcv's kaiming_init(conv_mask, mode='fan_in'): normal, relu gain, zero bias; last_zero_init of the transform.
        Init.KaimingNormal_(ConvMask.Weight, mode: FanMode.FanIn, nonlinearity: "relu");
        Init.Zeros_(ConvMask.Bias!);
        Init.Zeros_(last.Weight);
        Init.Zeros_(last.Bias!);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var s = input.Shape;
        long n = s[0], c = s[1], hw = s[2] * s[3];
        var values = input.Reshape(n, c, hw).Unsqueeze(1);                               // (N,1,C,HW)
        var mask = Softmax.Forward(ConvMask.Forward(input).Reshape(n, 1, hw)).Unsqueeze(3); // (N,1,HW,1)
        var context = values.MatMul(mask).Reshape(n, c, 1, 1);                           // (N,C,1,1)
        if (FlopCounter.IsActive) FlopCounter.Add(n * c * hw);                             // the attention pooling
        return (input + ChannelAddConv.Forward(context)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, reduction={_reduction}";
}
