using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Non-local block, embedded-Gaussian form (Wang, Girshick, Gupta and He, "Non-local Neural Networks", CVPR 2018;
/// keys and layout of AlexHex7/Non-local_pytorch <c>NONLocalBlock2D</c> with <c>bn_layer=True</c>): 1×1 convs
/// <c>theta</c>, <c>phi</c>, <c>g</c> to C/2 channels, the affinity softmax(θᵀφ) over all positions, y = softmax·g,
/// and <c>W</c> = 1×1 conv back to C + BN whose γ and β start at zero, so a fresh block is the identity:
/// z = W(y) + x. With <c>subSample</c> (the reference's default) <c>g</c> and <c>phi</c> are followed by a 2×2 max
/// pool, which cuts the cost of the affinity by 4.
/// </summary>
public sealed class NonLocal : Module<Tensor, Tensor>
{
    private readonly long _channels;
    private readonly bool _subSample;

    /// <summary>Width of θ, φ and g (channels/2 unless given).</summary>
    public long InterChannels { get; }
    /// <summary>g: a Conv2d, or Sequential(Conv2d, MaxPool2d(2)) with sub-sampling.</summary>
    public Module<Tensor, Tensor> G { get; }
    /// <summary>W: Sequential(Conv2d(inter, C, 1), BatchNorm2d(C)).</summary>
    public Sequential W { get; }
    /// <summary>θ: Conv2d(C, inter, 1).</summary>
    public Conv2d Theta { get; }
    /// <summary>φ: a Conv2d, or Sequential(Conv2d, MaxPool2d(2)) with sub-sampling.</summary>
    public Module<Tensor, Tensor> Phi { get; }

    /// <summary>Creates the block for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">Input (and output) channels.</param>
    /// <param name="interChannels">Width of the embeddings; null: channels/2 (at least 1).</param>
    /// <param name="subSample">Max-pool g and φ by 2×2 (the reference's default).</param>
    /// <exception cref="ArgumentException">channels or interChannels is not positive.</exception>
    public NonLocal(long channels, long? interChannels = null, bool subSample = true)
    {
        LayerArguments.Channels(channels);
        long inter = interChannels ?? Math.Max(1, channels / 2);
        LayerArguments.Positive(inter, nameof(interChannels));
        _channels = channels;
        _subSample = subSample;
        InterChannels = inter;
        // Registration order g, W, theta, phi: the reference's attribute order, hence its state-dict order.
        G = RegisterModule("g", Embedding(channels, inter, subSample));
        var bn = new BatchNorm2d(channels);
        W = RegisterModule("W", new Sequential(new Conv2d(inter, channels, 1), bn));
        Init.Zeros_(bn.Weight!);
        Init.Zeros_(bn.Bias!);
        Theta = RegisterModule("theta", new Conv2d(channels, inter, 1));
        Phi = RegisterModule("phi", Embedding(channels, inter, subSample));
    }

    private static Module<Tensor, Tensor> Embedding(long channels, long inter, bool subSample)
    {
        var conv = new Conv2d(channels, inter, 1);
        return subSample ? new Sequential(conv, new MaxPool2d(2)) : conv;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var s = input.Shape;
        long n = s[0];
        var g = G.Forward(input).Reshape(n, InterChannels, -1).Permute(0, 2, 1);         // (N, HW', inter)
        var theta = Theta.Forward(input).Reshape(n, InterChannels, -1).Permute(0, 2, 1); // (N, HW, inter)
        var phi = Phi.Forward(input).Reshape(n, InterChannels, -1);                      // (N, inter, HW')
        var affinity = Functional.Softmax(theta.MatMul(phi), -1);                        // (N, HW, HW')
        var y = affinity.MatMul(g).Permute(0, 2, 1).Contiguous().View(n, InterChannels, s[2], s[3]);
        if (FlopCounter.IsActive) FlopCounter.Add(2 * affinity.NumElements * InterChannels); // θφᵀ and (·)g
        return (W.Forward(y) + input).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, inter_channels={InterChannels}, sub_sample={(_subSample ? "True" : "False")}";
}
