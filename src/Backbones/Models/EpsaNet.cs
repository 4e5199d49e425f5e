using MLNet.Attention.Backbones.Layers;

namespace MLNet.Attention.Backbones.Models;

/// <summary>
/// EPSANet (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional Neural Network",
/// 2021; murufeng/EPSANet <c>models/epsanet.py</c>): a ResNet-50/101 whose bottleneck 3×3 conv is a
/// <see cref="PSAModule"/> (the EPSA block). Built as a <see cref="ResNet"/>, so the keys are the official ones:
/// <c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, <c>layer1.0.conv2.conv_1.weight</c>,
/// <c>layer1.0.conv2.se.fc1.bias</c>, <c>layer1.0.bn2</c>, <c>layer1.0.downsample.0</c>, <c>fc.weight</c>.
/// </summary>
/// <remarks>
/// <para>"Small" is the official code: PSA groups 1, 4, 8, 16 for kernels 3, 5, 7, 9, bottleneck width = planes.</para>
/// <para>
/// "Large" is not in the official code. As the answers in murufeng/EPSANet issue #15 read the paper's architecture
/// table, its first 1×1 conv and PSA module are twice as wide (128 channels in stage 1, as in
/// ResNeXt-50), with PSA groups 32, 32, 32, 32. That gives 30.10 M parameters and 5.05 G multiply-adds for
/// EPSANet-50 (53.74 M / 9.67 G for 101), about 8 % above the published 27.90 M / 4.72 G (49.59 M / 8.97 G). The
/// published counts of both depths fit the doubled width with a PSA of Σk²/G = 3.375 per branch width² to 0.01 %,
/// which no grouping of kernels 3, 5, 7, 9 reaches (the 32-channel branches of stage 1 take at most 32 groups, so
/// Σk²/G ≥ 5.125): the paper's exact configuration is not recoverable, and this follows the stated groups.
/// </para>
/// <para>
/// Width rule: stage s has planes 64·2ˢ·<see cref="BackboneOptions.WidthMultiplier"/> rounded to a multiple of 64
/// (at least 64): each PSA branch has width/4 channels, which the groups (up to 16, or 32 on the doubled width) and
/// the SE weight module's reduction 16 must divide.
/// </para>
/// </remarks>
public sealed class EpsaNetFamily : IModelFamily
{
    private const string Family = "epsanet";

    /// <summary>PSA groups of EPSANet "large".</summary>
    public static IReadOnlyList<long> LargeGroups { get; } = new long[] { 32, 32, 32, 32 };

    /// <inheritdoc/>
    public IEnumerable<ModelInfo> Models { get; } = new[]
    {
        new ModelInfo("epsanet50", Family, "EPSANet-50 small (Zhang et al. 2021): PSA (kernels 3,5,7,9, groups 1,4,8,16) as the bottleneck 3x3 conv", o => Create(o, large: false, new[] { 3, 4, 6, 3 })),
        new ModelInfo("epsanet14", Family, "EPSANet-14: one PSA bottleneck per stage (timm's ResNet-14 depth), the CPU-sized EPSANet for 28-64 px images", o => Create(o, large: false, new[] { 1, 1, 1, 1 })),
        new ModelInfo("epsanet26", Family, "EPSANet-26: EPSANet-50's PSA bottleneck in timm's ResNet-26 depth (2, 2, 2, 2 blocks), for small images and CPUs", o => Create(o, large: false, new[] { 2, 2, 2, 2 })),
        new ModelInfo("epsanet101", Family, "EPSANet-101 small (Zhang et al. 2021): PSA (kernels 3,5,7,9, groups 1,4,8,16) as the bottleneck 3x3 conv", o => Create(o, large: false, new[] { 3, 4, 23, 3 })),
        new ModelInfo("epsanet50_large", Family, "EPSANet-50 large (Zhang et al. 2021): double-width bottleneck, PSA groups 32,32,32,32", o => Create(o, large: true, new[] { 3, 4, 6, 3 })),
        new ModelInfo("epsanet101_large", Family, "EPSANet-101 large (Zhang et al. 2021): double-width bottleneck, PSA groups 32,32,32,32", o => Create(o, large: true, new[] { 3, 4, 23, 3 })),
    }.Select(m => m with { TakesStemStride = true }).ToArray();

    /// <summary>An EPSANet with blocks <paramref name="layers"/>, PSA groups <paramref name="groups"/> and bottleneck width planes·<paramref name="baseWidth"/>/64.</summary>
    /// <param name="options">Classes, channels, small-image stem, width multiplier; Attention must be null (PSA is the attention).</param>
    /// <param name="layers">Blocks per stage.</param>
    /// <param name="groups">The four PSA branches' groups.</param>
    /// <param name="baseWidth">64 (small) or 128 (large: the doubled width).</param>
    /// <exception cref="ArgumentException">An option is out of range, or an attention layer was asked for.</exception>
    public static ResNet Build(BackboneOptions options, IReadOnlyList<int> layers, IReadOnlyList<long> groups, long baseWidth = 64)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var key = options.Attention?.Trim().ToLowerInvariant();
        if (!string.IsNullOrEmpty(key) && key != "none")
            throw new ArgumentException($"EPSANet's attention is its PSA module; Attention must be null, got '{options.Attention}' (use resnet50 for other layers)", nameof(options));
        var g = groups.ToArray();
        return new ResNet(new ResNetConfig
        {
            Block = ResNetBlockType.Bottleneck,
            Layers = layers,
            Planes = ResNet.StagePlanes(options.WidthMultiplier, 64),
            BaseWidth = baseWidth,
            SpatialConv = (width, stride, _) => new PSAModule(width, width, PSAModule.DefaultKernels, stride, g),
            NumClasses = options.NumClasses,
            InChannels = options.InChannels,
            SmallImage = options.SmallImage,
            StemStride = options.StemStride,
        });
    }

    private static ResNet Create(BackboneOptions o, bool large, int[] layers) =>
        large ? Build(o, layers, LargeGroups, baseWidth: 128) : Build(o, layers, PSAModule.DefaultGroups);
}
