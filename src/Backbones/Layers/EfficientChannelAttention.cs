using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Efficient channel attention (Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural
/// Networks", CVPR 2020; BangguWu/ECANet <c>models/eca_module.py</c>): global average pool, a 1-D convolution of
/// kernel k across the channel axis (<c>conv</c> = Conv1d(1, 1, k, padding (k-1)/2, no bias)), sigmoid, and the input
/// scaled per channel — local cross-channel interaction without dimensionality reduction.
/// </summary>
public sealed class EfficientChannelAttention : Module<Tensor, Tensor>
{
    private readonly long _channels;

    /// <summary>The kernel size of the channel convolution.</summary>
    public long KernelSize { get; }
    /// <summary>Global average pooling to 1×1.</summary>
    public AdaptiveAvgPool2d AvgPool { get; }
    /// <summary>Conv1d(1, 1, k) over the channel axis, no bias.</summary>
    public Conv1d Conv { get; }

    /// <summary>
    /// The paper's adaptive kernel size ψ(C): t = ⌊|log₂(C)/γ + b/γ|⌋, made odd by adding 1 when even
    /// (γ = 2, b = 1 give 3 for C = 64, 5 for 128..1024, 7 for 2048).
    /// </summary>
    /// <exception cref="ArgumentException">channels, gamma or b out of range.</exception>
    public static long AdaptiveKernelSize(long channels, double gamma = 2, double b = 1)
    {
        LayerArguments.Channels(channels);
        if (!(gamma > 0)) throw new ArgumentException($"gamma must be > 0, got {gamma}", nameof(gamma));
        long t = (long)Math.Abs(Math.Log2(channels) / gamma + b / gamma);
        return t % 2 == 1 ? t : t + 1;
    }

    /// <summary>Creates the module for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="kernelSize">An odd kernel size; null picks <see cref="AdaptiveKernelSize"/>(channels).</param>
    /// <exception cref="ArgumentException">channels is not positive, or the kernel size is not odd and positive.</exception>
    public EfficientChannelAttention(long channels, long? kernelSize = null)
    {
        LayerArguments.Channels(channels);
        long k = kernelSize ?? AdaptiveKernelSize(channels);
        if (k <= 0 || k % 2 == 0) throw new ArgumentException($"kernelSize must be odd and > 0, got {k}", nameof(kernelSize));
        _channels = channels;
        KernelSize = k;
        AvgPool = RegisterModule("avg_pool", new AdaptiveAvgPool2d(1));
        Conv = RegisterModule("conv", new Conv1d(1, 1, k, padding: (k - 1) / 2, bias: false));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        // (N,C,1,1) → (N,1,C): the channels become the sequence the Conv1d slides over.
        var y = AvgPool.Forward(input).Squeeze(-1).Transpose(-1, -2);
        y = Conv.Forward(y).Transpose(-1, -2).Unsqueeze(-1);
        return (input * y.Sigmoid()).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, kernel_size={KernelSize}";
}
