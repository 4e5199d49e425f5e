using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using MLNet.Attention.Backbones.Models;

namespace MLNet.Attention.Tests.Amp;

/// <summary>
/// What the trimmed GPU runner (build/gpu/publish.sh) relies on: ModelRegistry discovers its families by reflection, and
/// a trimmed app keeps only the family constructors its DynamicDependency attributes name — so every family must be named.
/// </summary>
[TestClass]
public sealed class TrimmingTests
{
    [TestMethod]
    public void EveryModelFamilyIsKeptForTrimmedApps()
    {
        var discover = typeof(ModelRegistry).GetMethod("Discover", BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new AssertFailedException("ModelRegistry.Discover not found");
        var kept = discover.GetCustomAttributes<DynamicDependencyAttribute>()
            .Where(a => a.MemberTypes.HasFlag(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor))
            .Select(a => a.Type).ToHashSet();
        var families = typeof(ModelRegistry).Assembly.GetTypes()
            .Where(t => typeof(IModelFamily).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }).ToList();
        Assert.IsNotEmpty(families);
        foreach (var f in families)
            Assert.Contains(f, kept, $"{f.Name} implements IModelFamily but ModelRegistry.Discover has no [DynamicDependency] for it: trimmed apps would lose its models");
    }
}
