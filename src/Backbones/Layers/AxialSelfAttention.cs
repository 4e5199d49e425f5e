using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Row/column ("axial") separable self-attention, the seed's separable self-attention (seed 004; the factorisation of
/// Ho et al., "Axial Attention in Multidimensional Transformers", 2019): multi-head scaled dot-product attention
/// softmax(QKᵀ/√d)V computed along each row (over W) and along each column (over H) instead of over all H·W
/// positions, the two results summed and projected back — O(HW(H+W)d) instead of O((HW)²d).
/// Keys: <c>qkv.weight</c> (1×1 conv C→3C, no bias), <c>proj.weight</c>, <c>proj.bias</c> (1×1 conv C→C).
/// The block is residual: out = x + proj(row + column), so a trained network can start from identity.
/// </summary>
public sealed class AxialSelfAttention : Module<Tensor, Tensor>
{
    private readonly long _channels;

    /// <summary>Number of heads.</summary>
    public long Heads { get; }
    /// <summary>Q, K, V projection: Conv2d(C, 3C, 1, no bias).</summary>
    public Conv2d Qkv { get; }
    /// <summary>Output projection: Conv2d(C, C, 1).</summary>
    public Conv2d Proj { get; }

    /// <summary>Creates the layer.</summary>
    /// <exception cref="ArgumentException">channels is not positive or not divisible by heads.</exception>
    public AxialSelfAttention(long channels, long heads = 4)
    {
        LayerArguments.Channels(channels);
        if (heads <= 0 || channels % heads != 0)
            throw new ArgumentException($"heads must be > 0 and divide channels={channels}, got {heads}", nameof(heads));
        _channels = channels;
        Heads = heads;
        Qkv = RegisterModule("qkv", new Conv2d(channels, 3 * channels, 1, bias: false));
        Proj = RegisterModule("proj", new Conv2d(channels, channels, 1));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = Tensor.NewDisposeScope();
        var s = input.Shape;
        long n = s[0], h = s[2], w = s[3], d = _channels / Heads;
        double scale = 1.0 / Math.Sqrt(d);
        // (N, 3, heads, d, H, W) → q, k, v as (N, heads, H, W, d)
        var qkv = Qkv.Forward(input).View(n, 3, Heads, d, h, w).Permute(1, 0, 2, 4, 5, 3);
        var q = qkv.Select(0, 0);
        var k = qkv.Select(0, 1);
        var v = qkv.Select(0, 2);
        // rows: each (n, head, row) attends over its W positions
        var rows = Functional.Softmax(q.MatMul(k.Transpose(-1, -2)) * scale, -1).MatMul(v);             // (N,heads,H,W,d)
        // columns: each (n, head, column) attends over its H positions
        var qc = q.Transpose(2, 3); var kc = k.Transpose(2, 3); var vc = v.Transpose(2, 3);              // (N,heads,W,H,d)
        var cols = Functional.Softmax(qc.MatMul(kc.Transpose(-1, -2)) * scale, -1).MatMul(vc).Transpose(2, 3);
        var y = (rows + cols).Permute(0, 1, 4, 2, 3).Reshape(n, _channels, h, w);
        if (FlopCounter.IsActive) FlopCounter.Add(2 * n * Heads * h * w * (w + h) * d);
        return (input + Proj.Forward(y)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"channels={_channels}, heads={Heads}";
}
