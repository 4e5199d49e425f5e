using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

// Srinivas, Lin, Parmar, Shlens, Abbeel and Vaswani, "Bottleneck Transformers for Visual Recognition", CVPR 2021:
// BoTNet-50 is ResNet-50 whose three last-stage 3×3 convs are multi-head self-attention with relative position
// logits over H and W, the first one followed by a 2×2 average pool for its stride. The network is the
// torchvision-layout ResNet of ResNet.cs (conv1, bn1, layer1..layer4, fc: torchvision ResNet-50 checkpoints load into
// layers 1–3); the attention is timm's BottleneckAttn (timm/layers/bottleneck_attn.py, after the authors' reference
// gist), with its module names (layer4.0.conv2.qkv.weight, layer4.0.conv2.pos_embed.height_rel).

/// <summary>The BoTNet model <c>botnet50</c>.</summary>
public sealed class BotNetFamily : IModelFamily
{
    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models => new[]
    {
        new ModelInfo("botnet50", "botnet",
            "BoTNet-50 (Srinivas et al. 2021): ResNet-50 with 4-head relative-position self-attention as layer4's 3×3 convs; built for 224 px (32 px in the small-image form), smaller inputs work",
            o => BotNet.BotNet50(o)),
    };
}

/// <summary>Builds BoTNet networks.</summary>
public static class BotNet
{
    /// <summary>
    /// BoTNet-50: a ResNet-50 (<see cref="ResNet"/>, torchvision layout, widths as <see cref="ResNetFamily"/> scales
    /// them) whose layer4 blocks replace the 3×3 conv by <see cref="BottleneckAttention"/> (4 heads).
    /// </summary>
    /// <remarks>
    /// The relative-position tables have 2·n − 1 rows for a feature map of side n, so the network is built for an image
    /// size: <paramref name="imageSize"/>, by default 224 (32 in the small-image form), which gives the first layer4
    /// block a 14×14 map (8×8) and the other two 7×7 (4×4). Any input up to that size works: attention on an m×m map
    /// uses the central 2·m − 1 rows, the relative offsets it can have. Larger inputs are rejected; build the network
    /// for them.
    /// </remarks>
    /// <param name="options">Classes, input channels, small-image form, width multiplier (the family takes no other attention layer).</param>
    /// <param name="imageSize">The largest input side the attention supports (default 224, or 32 in the small-image form).</param>
    /// <param name="heads">Attention heads (the paper: 4).</param>
    /// <exception cref="ArgumentException">An option or size is out of range, or options.Attention names a layer.</exception>
    public static ResNet BotNet50(BackboneOptions? options = null, int? imageSize = null, int heads = 4)
    {
        options ??= new BackboneOptions();
        options.Validate();
        if (options.Attention is { } a && a.Trim().ToLowerInvariant() is not ("" or "none"))
            throw new ArgumentException($"BoTNet has its own attention; options.Attention '{a}' does not apply", nameof(options));
        int size = imageSize ?? (options.SmallImage ? 32 : 224);
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "must be >= 1");
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "must be >= 1");

        // Map sides: a stride-2 conv or pool with padding gives ⌈s/2⌉; layer4 attends at f0, then at ⌈f0/2⌉.
        long f0 = size;
        if (!options.SmallImage) f0 = Half(Half(f0));  // stem conv, max pool
        f0 = Half(Half(f0));                              // layer2, layer3
        long f1 = Half(f0);

        var attention = new List<BottleneckAttention>();
        var planes = ResNet.StagePlanes(options.WidthMultiplier, 16);
        if (planes[3] % heads != 0) throw new ArgumentException($"{heads} heads must divide layer4's width {planes[3]}", nameof(heads));
        var model = new ResNet(new ResNetConfig
        {
            Block = ResNetBlockType.Bottleneck,
            Layers = new[] { 3, 4, 6, 3 },
            Planes = planes,
            NumClasses = options.NumClasses,
            InChannels = options.InChannels,
            SmallImage = options.SmallImage,
            SpatialConv = (width, stride, stage) =>
            {
                if (stage < 3) return new Conv2d(width, width, 3, stride, 1, bias: false);
                long f = stride == 2 ? f0 : f1;
                var att = new BottleneckAttention(width, (f, f), stride, heads);
                attention.Add(att);
                return att;
            },
        });
        foreach (var att in attention) att.ResetParameters();  // ResNet initialised the qkv conv as a 3×3 conv's replacement
        return model;
    }

    private static long Half(long s) => (s + 1) / 2;
}

/// <summary>
/// BoTNet's multi-head self-attention (timm's <c>BottleneckAttn</c>): <c>qkv</c> (1×1, no bias) gives per head
/// queries and keys of d = make_divisible(C)/heads channels and values of C/heads; the logits are q·k/√d plus relative
/// position logits q·r_h(Δy) + q·w(Δx) from <c>pos_embed.height_rel</c> and <c>pos_embed.width_rel</c>; softmax over the
/// H·W keys; the heads' outputs concatenated; a 2×2 average pool when the stride is 2.
/// </summary>
/// <remarks>
/// Built for a feature size (H, W); an input map of up to that size is accepted and uses the central rows of the
/// tables (offsets −(h−1)..h−1), so the same weights serve smaller images. The pool rounds odd sides up (ceil mode), so
/// that it matches the strided 1×1 shortcut of the block; timm's pool, for the even sides it supports, is the same.
/// Initialisation as timm: qkv ~ N(0, 1/C), tables ~ N(0, 1/d) (timm truncates at ±2, which these widths never reach).
/// The attention's matrix products are reported to <see cref="FlopCounter"/>.
/// </remarks>
public sealed class BottleneckAttention : Module<Tensor, Tensor>
{
    private readonly long _heads, _dimHeadQk, _dimHeadV, _stride, _maxH, _maxW;
    private readonly double _scale;
    private readonly Conv2d _qkv;
    private readonly RelativePositionTables _posEmbed;

    /// <summary>Creates the layer.</summary>
    /// <param name="dim">Input and output channels.</param>
    /// <param name="featureSize">The largest (H, W) of the input map.</param>
    /// <param name="stride">1, or 2 for a 2×2 average pool after the attention.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dim"/>.</param>
    /// <exception cref="ArgumentException">A size is not positive, the stride is not 1 or 2, or the heads do not divide the channels.</exception>
    public BottleneckAttention(long dim, (long H, long W) featureSize, long stride = 1, long heads = 4)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "must be >= 1");
        if (featureSize.H < 1 || featureSize.W < 1) throw new ArgumentOutOfRangeException(nameof(featureSize), featureSize, "must be >= 1");
        if (stride is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(stride), stride, "must be 1 or 2");
        if (heads < 1 || dim % heads != 0) throw new ArgumentException($"heads={heads} must divide dim={dim}", nameof(heads));
        _heads = heads;
        long qkDim = Math.Max(8, (dim + 4) / 8 * 8);  // timm's make_divisible(dim, 8)
        if (qkDim < 0.9 * dim) qkDim += 8;
        _dimHeadQk = qkDim / heads;
        _dimHeadV = dim / heads;
        _scale = 1 / Math.Sqrt(_dimHeadQk);
        _stride = stride;
        (_maxH, _maxW) = featureSize;
        _qkv = RegisterModule("qkv", new Conv2d(dim, 2 * heads * _dimHeadQk + dim, 1, bias: false));
        _posEmbed = RegisterModule("pos_embed", new RelativePositionTables(featureSize, _dimHeadQk));
        RegisterModule<Module<Tensor, Tensor>>("pool", stride == 2 ? new AvgPool2d(2, 2, ceilMode: true) : new Identity());
        ResetParameters();
    }

    /// <summary>Re-draws the weights as timm does: qkv ~ N(0, 1/C), the tables ~ N(0, 1/d).</summary>
    public void ResetParameters()
    {
        Init.Normal_(_qkv.Weight, 0, 1 / Math.Sqrt(_qkv.Weight.Size(1)));
        Init.Normal_(_posEmbed.HeightRel, 0, _scale);
        Init.Normal_(_posEmbed.WidthRel, 0, _scale);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var s = input.Shape;
        long b = s[0], h = s[2], w = s[3], n = h * w, bh = b * _heads;
        if (h > _maxH || w > _maxW)
            throw new ArgumentException($"a {h}×{w} map exceeds the {_maxH}×{_maxW} this attention was built for; build the network for the larger image size", nameof(input));
        using var scope = Tensor.NewDisposeScope();
        long qk = _heads * _dimHeadQk, v = _heads * _dimHeadV;
        var parts = _qkv.Forward(input).Split(new[] { qk, qk, v }, 1);
        var q = parts[0].Reshape(bh, _dimHeadQk, n).Transpose(-1, -2);  // (B·heads, HW, d)
        var k = parts[1].Reshape(bh, _dimHeadQk, n);                     // (B·heads, d, HW)
        var val = parts[2].Reshape(bh, _dimHeadV, n).Transpose(-1, -2);  // (B·heads, HW, dv)
        var attn = Functional.Softmax(q.MatMul(k) * _scale + _posEmbed.Logits(q, h, w), -1);
        var y = attn.MatMul(val).Transpose(-1, -2).Reshape(b, v, h, w);
        if (FlopCounter.IsActive)
            FlopCounter.Add(bh * n * n * (_dimHeadQk + _dimHeadV) + bh * n * ((2 * w - 1) + (2 * h - 1)) * _dimHeadQk);
        if (_stride == 2) y = Functional.AvgPool2d(y, new long[] { 2 }, new long[] { 2 }, ceilMode: true);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>timm's PosEmbedRel: the tables <c>height_rel</c> (2H−1, d) and <c>width_rel</c> (2W−1, d).</summary>
    private sealed class RelativePositionTables : Module
    {
        public Tensor HeightRel { get; }
        public Tensor WidthRel { get; }

        public RelativePositionTables((long H, long W) size, long dim)
        {
            HeightRel = RegisterParameter("height_rel", Tensor.Empty(new[] { 2 * size.H - 1, dim }))!;
            WidthRel = RegisterParameter("width_rel", Tensor.Empty(new[] { 2 * size.W - 1, dim }))!;
        }

        /// <summary>
        /// (B·heads, HW, HW) logits for queries q (B·heads, HW, d) on an h×w map: entry (y·w + x, y'·w + x') is
        /// q(y,x)·height_rel[y' − y] + q(y,x)·width_rel[x' − x], offsets counted from the table's centre row.
        /// </summary>
        public Tensor Logits(Tensor q, long h, long w)
        {
            long bh = q.Size(0), d = q.Size(2);
            var q4 = q.Reshape(bh, h, w, d);
            // along W: (B·heads, h, w, 2w−1) products with the offsets −(w−1)..w−1, then entry [x, x'] = offset x' − x
            var lw = Relative(q4, WidthRel, w).Reshape(bh, h, w, 1, w);
            // along H: the same on the transposed map, back to [y, x, y']
            var lh = Relative(q4.Transpose(1, 2), HeightRel, h).Permute(0, 2, 1, 3).Reshape(bh, h, w, h, 1);
            return (lh + lw).Reshape(bh, h * w, h * w);
        }

        /// <summary>For q (B', a, n, d): out[.., i, j] = q[.., i, :]·table[centre + j − i], shape (B', a, n, n).</summary>
        private static Tensor Relative(Tensor q, Tensor table, long n)
        {
            long centre = (table.Size(0) - 1) / 2;
            var rows = table.Narrow(0, centre - (n - 1), 2 * n - 1);       // offsets −(n−1)..n−1
            var all = q.MatMul(rows.Transpose(0, 1));                       // (B', a, n, 2n−1)
            var index = new long[n * n];
            for (long i = 0; i < n; i++)
                for (long j = 0; j < n; j++)
                    index[i * n + j] = i * (2 * n - 1) + (j - i + n - 1);
            var s = all.Shape;
            using var idx = Tensor.FromArray(index);
            return all.Reshape(s[0], s[1], n * (2 * n - 1)).IndexSelect(2, idx).Reshape(s[0], s[1], n, n);
        }
    }
}
