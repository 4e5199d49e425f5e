using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>The attention factory, the layers' argument checks, their reference initialisation and their memory hygiene.</summary>
[TestClass]
public sealed class AttentionLayerTests
{
    public static IEnumerable<object[]> FactoryNames() => AttentionFactory.Names.Select(n => new object[] { n });

    [TestMethod]
    public void FactoryKnowsTheNineLayersByName()
    {
        CollectionAssert.AreEqual(new[] { "se", "cbam", "bam", "eca", "ca", "gc", "sk", "nonlocal", "axial" }, AttentionFactory.Names.ToArray());
        var expected = new Dictionary<string, Type>
        {
            ["se"] = typeof(SqueezeExcite), ["cbam"] = typeof(Cbam), ["bam"] = typeof(Bam), ["eca"] = typeof(EfficientChannelAttention),
            ["ca"] = typeof(CoordAttention), ["gc"] = typeof(GlobalContext), ["sk"] = typeof(SelectiveKernel), ["nonlocal"] = typeof(NonLocal),
            ["axial"] = typeof(AxialSelfAttention),
        };
        foreach (var (name, type) in expected)
        {
            using var layer = AttentionFactory.Create(name, 64);
            Assert.IsInstanceOfType(layer, type, name);
            using var upper = AttentionFactory.Create(" " + name.ToUpperInvariant() + " ", 64);
            Assert.IsInstanceOfType(upper, type, $"{name} in capitals");
        }
    }

    [TestMethod]
    [DynamicData(nameof(FactoryNames))]
    public void FactoryLayersKeepTheShapeTrainAndFreeTheirIntermediates(string name)
    {
        TorchRuntime.ManualSeed(3);
        using var layer = AttentionFactory.Create(name, 64);
        using (var scope = Tensor.NewDisposeScope())
        {
            var x = Tensor.Randn(new long[] { 2, 64, 8, 6 }).RequiresGrad_();
            var y = layer.Forward(x);
            CollectionAssert.AreEqual(x.Shape, y.Shape, $"{name}: output shape");
            Assert.AreEqual(2, scope.Count, $"{name}: only the input and the output may be left in the caller's scope");
            Assert.IsTrue(y.IsFinite().To(DType.Float32).Min().Item() == 1, $"{name}: non-finite output");
            y.Square().Sum().Backward();
            var g = x.Grad;
            Assert.IsNotNull(g, $"{name}: no input gradient");
            Assert.IsTrue(g.Abs().Sum().Item() > 0, $"{name}: zero input gradient");
        }
        layer.Eval();
        using (var scope = Tensor.NewDisposeScope())
        using (TorchRuntime.NoGrad())
        {
            var x = Tensor.Randn(new long[] { 1, 64, 5, 7 });
            var y = layer.Forward(x);
            CollectionAssert.AreEqual(x.Shape, y.Shape, $"{name}: eval output shape (batch of one)");
            Assert.AreEqual(2, scope.Count, $"{name}: eval intermediates");
        }
    }

    [TestMethod]
    public void FactoryNoneIsTheIdentityAndUnknownNamesListTheKnownOnes()
    {
        using var x = Tensor.Randn(new long[] { 1, 8, 3, 3 });
        foreach (var name in new[] { null, "", "none", "None" })
        {
            using var layer = AttentionFactory.Create(name, 8);
            Assert.IsInstanceOfType<Identity>(layer, $"'{name}'");
            using var y = layer.Forward(x);
            CollectionAssert.AreEqual(x.ToArray<float>(), y.ToArray<float>());
        }
        var e = Assert.ThrowsExactly<ArgumentException>(() => AttentionFactory.Create("triplet", 64));
        Assert.AreEqual("name", e.ParamName);
        StringAssert.Contains(e.Message, "'triplet'");
        foreach (var known in AttentionFactory.Names.Append("none")) StringAssert.Contains(e.Message, known);
        Assert.AreEqual("channels", Assert.ThrowsExactly<ArgumentException>(() => AttentionFactory.Create("se", 0)).ParamName);
        Assert.AreEqual("groups", Assert.ThrowsExactly<ArgumentException>(() => AttentionFactory.Create("sk", 48)).ParamName);
    }

    [TestMethod]
    public void ConstructorsNameTheArgumentThatIsWrong()
    {
        void Check(string param, Func<Module> create)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => create().Dispose(), param);
            Assert.AreEqual(param, e.ParamName, e.Message);
        }
        Check("channels", () => new SqueezeExcite(0));
        Check("reduction", () => new SqueezeExcite(30, 16));
        Check("reduction", () => new SEWeightModule(16, 0));
        Check("planes", () => new PSAModule(64, 62));
        Check("groups", () => new PSAModule(60, 64));
        Check("groups", () => new PSAModule(64, 32));
        Check("kernels", () => new PSAModule(64, 64, kernels: new long[] { 3, 5, 7 }));
        Check("kernels", () => new PSAModule(64, 64, kernels: new long[] { 3, 5, 7, 8 }));
        Check("seReduction", () => new PSAModule(64, 64, seReduction: 32));
        Check("stride", () => new PSAModule(64, 64, stride: 0));
        Check("reduction", () => new Cbam(32, 5));
        Check("reduction", () => new Bam(40));
        Check("dilation", () => new Bam(32, dilation: 0));
        Check("dilationConvCount", () => new Bam(32, dilationConvCount: -1));
        Check("reduction", () => new CoordAttention(32, 0));
        Check("kernelSize", () => new EfficientChannelAttention(32, 4));
        Check("reduction", () => new GlobalContext(32, 3));
        Check("groups", () => new SelectiveKernel(48));
        Check("paths", () => new SelectiveKernel(64, paths: 0));
        Check("minDim", () => new SelectiveKernel(64, minDim: 0));
        Check("interChannels", () => new NonLocal(32, interChannels: 0));
    }

    [TestMethod]
    public void EcaKernelSizeFollowsThePaperFormula()
    {
        var expected = new Dictionary<long, long> { [16] = 3, [32] = 3, [64] = 3, [128] = 5, [256] = 5, [512] = 5, [1024] = 5, [2048] = 7 };
        foreach (var (c, k) in expected) Assert.AreEqual(k, EfficientChannelAttention.AdaptiveKernelSize(c), $"C={c}");
        using var eca = new EfficientChannelAttention(2048);
        Assert.AreEqual(7, eca.KernelSize);
        CollectionAssert.AreEqual(new long[] { 1, 1, 7 }, eca.Conv.Weight.Shape);
        Assert.IsNull(eca.Conv.Bias);
    }

    [TestMethod]
    public void PsaAndSkExposeTheReferenceWidths()
    {
        using var psa = new PSAModule(64, 256, stride: 2);
        Assert.AreEqual(64, psa.SplitChannels);
        CollectionAssert.AreEqual(new long[] { 64, 64 / 16, 9, 9 }, psa.Convs[3].Weight.Shape, "conv_4: groups 16, kernel 9");
        CollectionAssert.AreEqual(new long[] { 4, 64, 1, 1 }, psa.Se.Fc1.Weight.Shape, "shared SE: 64 → 64/16");
        using var sk = new SelectiveKernel(256);
        Assert.AreEqual(32, sk.D, "d = max(256/16, 32)");
        using var sk2 = new SelectiveKernel(1024);
        Assert.AreEqual(64, sk2.D, "d = max(1024/16, 32)");
        using var ca = new CoordAttention(512);
        Assert.AreEqual(16, ca.MipChannels, "mip = max(8, 512/32)");
    }

    [TestMethod]
    public void GlobalContextAndNonLocalStartAsTheIdentity()
    {
        TorchRuntime.ManualSeed(5);
        using var x = Tensor.Randn(new long[] { 2, 32, 6, 5 });
        using var gc = new GlobalContext(32);
        Assert.IsTrue(gc.ConvMask.Bias!.ToArray<float>().All(v => v == 0), "conv_mask bias starts at zero");
        double std = Math.Sqrt(gc.ConvMask.Weight.Square().Mean().Item());
        Assert.IsTrue(std > 0.05 && std < 0.5, $"conv_mask weight ~ N(0, 2/32): rms {std}");
        using (var y = gc.Forward(x)) CollectionAssert.AreEqual(x.ToArray<float>(), y.ToArray<float>(), "fresh GC block");

        using var nl = new NonLocal(32);
        var bn = (BatchNorm)nl.W[1];
        Assert.IsTrue(bn.Weight!.ToArray<float>().All(v => v == 0) && bn.Bias!.ToArray<float>().All(v => v == 0), "W's BN starts at γ = β = 0");
        using (var y = nl.Forward(x)) CollectionAssert.AreEqual(x.ToArray<float>(), y.ToArray<float>(), "fresh non-local block");
    }

    [TestMethod]
    public void SeWeightReturnsTheWeightsAndCbamCanSkipTheSpatialGate()
    {
        TorchRuntime.ManualSeed(9);
        using var x = Tensor.Randn(new long[] { 3, 32, 4, 4 });
        using var sew = new SEWeightModule(32);
        using (var w = sew.Forward(x))
        {
            CollectionAssert.AreEqual(new long[] { 3, 32, 1, 1 }, w.Shape);
            Assert.IsTrue(w.ToArray<float>().All(v => v > 0 && v < 1));
        }
        using var cbam = new Cbam(32, noSpatial: true);
        Assert.IsNull(cbam.SpatialGate);
        Assert.IsTrue(cbam.StateDict().All(p => p.Key.StartsWith("ChannelGate.", StringComparison.Ordinal)));
        using var y = cbam.Forward(x);
        using var z = cbam.ChannelGate.Forward(x);
        CollectionAssert.AreEqual(z.ToArray<float>(), y.ToArray<float>());
    }
}
