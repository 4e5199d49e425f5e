using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// Every attention layer against its PyTorch reference (test/reference/make_layer_fixtures.py, which re-implements
/// each published module): the same state-dict keys in the same order, and — from the same weights — the same
/// training-mode output, input gradient and running statistics, and the same eval-mode output.
/// </summary>
[TestClass]
public sealed class LayerParityTests
{
    private const string File = "layers.safetensors";
    private const double Rtol = 1e-4;

    /// <summary>How each fixture entry's layer is built, with the arguments the python script used.</summary>
    private static readonly Dictionary<string, Func<Module<Tensor, Tensor>>> Builders = new()
    {
        ["se"] = () => new SqueezeExcite(32, 16),
        ["seweight"] = () => new SEWeightModule(32, 8),
        ["psa"] = () => new PSAModule(64, 64),
        ["psa_stride2"] = () => new PSAModule(16, 64, stride: 2),
        ["cbam"] = () => new Cbam(32, 16),
        ["ca"] = () => new CoordAttention(32, 32),
        ["eca"] = () => new EfficientChannelAttention(32, kernelSize: 5),
        ["bam"] = () => new Bam(32),
        ["gc"] = () => new GlobalContext(32, 4),
        ["sk"] = () => new SelectiveKernel(64, paths: 2, groups: 32, reduction: 16),
        ["sk_stride2"] = () => new SelectiveKernel(32, paths: 2, groups: 8, reduction: 4, stride: 2, minDim: 4),
        ["nonlocal"] = () => new NonLocal(32),
        ["nonlocal_nosub"] = () => new NonLocal(32, interChannels: 8, subSample: false),
    };

    private static Dictionary<string, Tensor> Fx => Fixtures.Load(File);

    private static IReadOnlyDictionary<string, string> Metadata()
    {
        SafeTensors.Read(Fixtures.PathOf(File), out var meta);
        return meta;
    }

    public static IEnumerable<object[]> FixtureLayers() =>
        Fixtures.Load(File).Keys.Select(k => k.Split('/')[0]).Distinct().OrderBy(k => k, StringComparer.Ordinal).Select(k => new object[] { k });

    private static List<KeyValuePair<string, Tensor>> StateDictOf(string name)
    {
        var prefix = $"{name}/sd/";
        return Fx.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Select(p => new KeyValuePair<string, Tensor>(p.Key[prefix.Length..], p.Value)).ToList();
    }

    [TestMethod]
    public void EveryFixtureLayerHasACSharpBuilder()
    {
        var names = FixtureLayers().Select(o => (string)o[0]).ToList();
        Assert.AreEqual(13, names.Count, "layers in the fixture");
        CollectionAssert.AreEquivalent(names, Builders.Keys.ToList());
    }

    [TestMethod]
    [DynamicData(nameof(FixtureLayers))]
    public void StateDictKeysAndOrderEqualPyTorch(string name)
    {
        var expected = Metadata()[$"{name}/keys"].Split(',');
        using var layer = Builders[name]();
        var own = layer.StateDict();
        CollectionAssert.AreEqual(expected, own.Select(p => p.Key).ToArray(), $"{name}: keys");
        var sd = StateDictOf(name).ToDictionary(p => p.Key, p => p.Value);
        foreach (var (key, value) in own)
            CollectionAssert.AreEqual(sd[key].Shape, value.Shape, $"{name}: shape of {key}");
    }

    [TestMethod]
    [DynamicData(nameof(FixtureLayers))]
    public void TrainingForwardBackwardAndEvalMatchPyTorch(string name)
    {
        var fx = Fx;
        var sd = StateDictOf(name);
        using var layer = Builders[name]();
        var report = layer.LoadStateDict(sd);
        Assert.IsTrue(report.IsClean, report.ToString());

        using (var scope = Tensor.NewDisposeScope())
        {
            layer.Train();
            var x = fx[$"{name}/x"].Clone().RequiresGrad_();
            var y = layer.Forward(x);
            Fixtures.AssertClose(fx[$"{name}/out_train"], y, Rtol, $"{name}: training output");
            (y * fx[$"{name}/gout"]).Sum().Backward();
            var grad = x.Grad;
            Assert.IsNotNull(grad, $"{name}: the input got no gradient");
            Fixtures.AssertClose(fx[$"{name}/grad_x"], grad, Rtol, $"{name}: input gradient");
            foreach (var (key, buffer) in layer.NamedBuffers())
                Fixtures.AssertClose(fx[$"{name}/after_train/{key}"], buffer, Rtol, $"{name}: {key} after the training step");
            foreach (var p in layer.Parameters())
                Assert.IsNotNull(p.Grad, $"{name}: a parameter got no gradient");
        }

        Assert.IsTrue(layer.LoadStateDict(sd).IsClean);
        layer.Eval();
        using (var scope = Tensor.NewDisposeScope())
        using (TorchRuntime.NoGrad())
        {
            var y = layer.Forward(fx[$"{name}/x"]);
            Fixtures.AssertClose(fx[$"{name}/out_eval"], y, Rtol, $"{name}: eval output");
        }
    }
}
