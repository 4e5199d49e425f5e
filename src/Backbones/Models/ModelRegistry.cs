using System.Diagnostics.CodeAnalysis;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

/// <summary>What every backbone builder takes.</summary>
/// <param name="NumClasses">Classifier outputs.</param>
/// <param name="InChannels">1 (grayscale) or 3 (RGB).</param>
/// <param name="SmallImage">The small-image form for 28–96 px inputs: a 3×3 stride-1 stem and no stem max-pool.</param>
/// <param name="WidthMultiplier">Scales every stage's channel count (rounded as the family's reference code does).</param>
/// <param name="Attention">An attention layer name for <see cref="Layers.AttentionFactory"/> where the family takes one (e.g. ResNet); null: the family's own.</param>
public sealed record BackboneOptions(int NumClasses = 1000, int InChannels = 3, bool SmallImage = false, double WidthMultiplier = 1.0, string? Attention = null)
{
    /// <summary>
    /// Stride of the stem convolution: 0 (default) keeps the form's own — 2 in the 224-px form (then the stride-2 max-pool),
    /// 1 in the small-image form. 2 in the small-image form halves the maps once more (a 28-px image reaches stage 1 at
    /// 14×14): about 4× fewer multiply-adds, which makes EPSANet's PSA blocks affordable for Fashion-MNIST-sized images on a
    /// CPU. Taken by the ResNet and EPSANet families (<see cref="ModelInfo.TakesStemStride"/>).
    /// </summary>
    public int StemStride { get; init; }

    /// <summary>Throws when an option is out of range, naming it.</summary>
    public void Validate()
    {
        if (StemStride is < 0 or > 4) throw new ArgumentOutOfRangeException(nameof(StemStride), StemStride, "must be 0 (the form's own), 1, 2, 3 or 4");
        if (NumClasses < 1) throw new ArgumentOutOfRangeException(nameof(NumClasses), NumClasses, "must be >= 1");
        if (InChannels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(InChannels), InChannels, "must be 1 or 3");
        if (!(WidthMultiplier > 0) || WidthMultiplier > 8) throw new ArgumentOutOfRangeException(nameof(WidthMultiplier), WidthMultiplier, "must be in (0, 8]");
    }
}

/// <summary>A registered backbone: its name, family, the paper it comes from, and how to build it.</summary>
/// <param name="Name">Registry name (timm style, e.g. "seresnet50").</param>
/// <param name="Family">Family (e.g. "resnet", "epsanet").</param>
/// <param name="Description">One line: what it is and where it comes from.</param>
/// <param name="Create">Builds the model.</param>
public sealed record ModelInfo(string Name, string Family, string Description, Func<BackboneOptions, Module<Tensor, Tensor>> Create)
{
    /// <summary>Whether the builder honours <see cref="BackboneOptions.StemStride"/> (the ResNet and EPSANet families).</summary>
    public bool TakesStemStride { get; init; }
}

/// <summary>A family of backbones; every non-abstract implementation in this assembly is registered.</summary>
public interface IModelFamily
{
    /// <summary>The models of the family.</summary>
    IEnumerable<ModelInfo> Models { get; }
}

/// <summary>Every backbone by name, with parameter count and multiply-adds at a given input size.</summary>
public static class ModelRegistry
{
    private static readonly Lazy<IReadOnlyDictionary<string, ModelInfo>> Table = new(Discover);

    // Trimmed apps (build/gpu/publish.sh): the families are found by reflection, so each one's constructor is kept by a
    // DynamicDependency here (a test checks that every IModelFamily of the assembly is listed).
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(BotNetFamily))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(C2fFamily))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(EpsaNetFamily))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(MobileNetV2Family))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(MobileViTv2Family))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(ResidualAttentionFamily))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(ResNetFamily))]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "GetTypes only lists the families; each is kept by a DynamicDependency above.")]
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "The families' parameterless constructors are kept by the DynamicDependency attributes above.")]
    private static IReadOnlyDictionary<string, ModelInfo> Discover()
    {
        var d = new SortedDictionary<string, ModelInfo>(StringComparer.Ordinal);
        foreach (var t in typeof(ModelRegistry).Assembly.GetTypes().Where(t => typeof(IModelFamily).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var family = (IModelFamily)Activator.CreateInstance(t)!;
            foreach (var m in family.Models)
                if (!d.TryAdd(m.Name, m)) throw new InvalidOperationException($"model '{m.Name}' is registered twice");
        }
        return d;
    }

    /// <summary>All registered models, by name.</summary>
    public static IReadOnlyList<ModelInfo> All => Table.Value.Values.ToList();

    /// <summary>The model registered as <paramref name="name"/>, or an error listing the names.</summary>
    public static ModelInfo Get(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Table.Value.TryGetValue(name.ToLowerInvariant(), out var m)) return m;
        throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Table.Value.Keys)}", nameof(name));
    }

    /// <summary>Builds model <paramref name="name"/>.</summary>
    public static Module<Tensor, Tensor> Create(string name, BackboneOptions? options = null)
    {
        options ??= new BackboneOptions();
        options.Validate();
        var info = Get(name);
        if (options.StemStride != 0 && !info.TakesStemStride)
            throw new ArgumentException($"{info.Name} ({info.Family}) does not take StemStride (got {options.StemStride}); the ResNet and EPSANet families do", nameof(options));
        return info.Create(options);
    }

    /// <summary>Parameter count and multiply-adds of one forward pass of a 1×C×size×size image (eval mode, no grad).</summary>
    public static (long Parameters, long MultiplyAdds) Measure(string name, BackboneOptions? options = null, int imageSize = 224)
    {
        options ??= new BackboneOptions();
        using var model = Create(name, options);
        return Measure(model, options.InChannels, imageSize);
    }

    /// <summary>Parameter count and multiply-adds of <paramref name="model"/> on a 1×C×size×size input.</summary>
    public static (long Parameters, long MultiplyAdds) Measure(Module<Tensor, Tensor> model, int inChannels, int imageSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Eval();
        using var noGrad = TorchRuntime.NoGrad();
        using var scope = Tensor.NewDisposeScope();
        using var flops = FlopCounter.Start();
        model.Forward(Tensor.Zeros(new long[] { 1, inChannels, imageSize, imageSize }));
        return (model.ParameterCount(), flops.MultiplyAdds);
    }
}
