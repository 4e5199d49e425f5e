using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// Turns an attention name into a layer for a given channel count, like timm's <c>create_attn</c>, so that one
/// ResNet builder can take any of them (<c>attnLayer: "cbam"</c>). Every layer maps (N,C,H,W) to (N,C,H,W) and is
/// built with its paper's defaults.
/// </summary>
public static class AttentionFactory
{
    private static readonly (string Name, Func<long, Module<Tensor, Tensor>> Create)[] Entries =
    {
        ("se", c => new SqueezeExcite(c)),
        ("cbam", c => new Cbam(c)),
        ("bam", c => new Bam(c)),
        ("eca", c => new EfficientChannelAttention(c)),
        ("ca", c => new CoordAttention(c)),
        ("gc", c => new GlobalContext(c)),
        ("sk", c => new SelectiveKernel(c)),
        ("nonlocal", c => new NonLocal(c)),
        ("axial", c => new AxialSelfAttention(c, HeadsFor(c))),
    };

    // Four heads where the width allows (BoTNet's choice), fewer for narrow layers.
    private static long HeadsFor(long channels) => channels % 4 == 0 ? 4 : channels % 2 == 0 ? 2 : 1;

    /// <summary>The names <see cref="Create"/> accepts besides "none": se, cbam, bam, eca, ca, gc, sk, nonlocal, axial.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    /// <summary>
    /// A new attention layer for <paramref name="channels"/> channels: "se" <see cref="SqueezeExcite"/> (r 16),
    /// "cbam" <see cref="Cbam"/> (r 16), "bam" <see cref="Bam"/> (r 16), "eca" <see cref="EfficientChannelAttention"/>
    /// (adaptive k), "ca" <see cref="CoordAttention"/> (r 32), "gc" <see cref="GlobalContext"/> (r 16),
    /// "sk" <see cref="SelectiveKernel"/> (2 paths, 32 groups), "nonlocal" <see cref="NonLocal"/>, "axial" <see cref="AxialSelfAttention"/> (4 heads where they divide the
    /// channels); null, "" or "none"
    /// give an <see cref="Identity"/>. Names are case-insensitive.
    /// </summary>
    /// <exception cref="ArgumentException">The name is unknown (the message lists the known ones), or the layer rejects <paramref name="channels"/>.</exception>
    public static Module<Tensor, Tensor> Create(string? name, long channels)
    {
        LayerArguments.Channels(channels);
        var key = name?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(key) || key == "none") return new Identity();
        foreach (var (n, create) in Entries)
            if (n == key) return create(channels);
        throw new ArgumentException($"unknown attention layer '{name}'; known: none, {string.Join(", ", Names)}", nameof(name));
    }
}
