using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// Every registry backbone is an <see cref="IFeatureBackbone"/>: its pooled features are what its classifier takes
/// (the reference's pooled features are compared in <see cref="PretrainedImportTests"/>).
/// </summary>
[TestClass]
public sealed class FeatureBackboneTests
{
    private static readonly BackboneOptions Small = new(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.25);

    [TestMethod]
    [DynamicData(nameof(RegistryTests.AllModels), typeof(RegistryTests))]
    public void ClassifierOfForwardFeaturesIsForward(string name)
    {
        TorchRuntime.ManualSeed(11);
        using var model = ModelRegistry.Create(name, Small);
        var fb = model as IFeatureBackbone;
        Assert.IsNotNull(fb, $"{name} is no IFeatureBackbone");
        var head = model.NamedModules().Single(m => m.Key == fb.ClassifierName).Value;
        Assert.AreSame(fb.Classifier, head, $"{name}: ClassifierName '{fb.ClassifierName}' is not the classifier");
        CollectionAssert.AreEqual(new[] { 10L, fb.NumFeatures }, fb.Classifier.Weight.Shape, $"{name}: classifier shape");

        model.Eval();
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        var x = Tensor.Randn(new long[] { 2, 1, 32, 32 });
        var features = fb.ForwardFeatures(x);
        CollectionAssert.AreEqual(new[] { 2L, fb.NumFeatures }, features.Shape, $"{name}: features shape");
        Fixtures.AssertClose(model.Forward(x), fb.Classifier.Forward(features), 1e-6, $"{name}: Classifier(ForwardFeatures(x))");
    }
}
