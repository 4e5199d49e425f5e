using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// Every registered backbone trains and evaluates (timm's registry-wide tests), the ResNet and EPSANet families
/// have the published parameter counts and multiply-adds at 224×224 / 1000 classes, and their builders honour
/// <see cref="BackboneOptions"/>.
/// </summary>
[TestClass]
public sealed class RegistryTests
{
    /// <summary>The small form every registered model is exercised in: 1 channel, 32×32, 10 classes, reduced width.</summary>
    private static readonly BackboneOptions Small = new(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.25);

    public static IEnumerable<object[]> AllModels() => ModelRegistry.All.Select(m => new object[] { m.Name });

    private static bool AllFinite(Tensor t)
    {
        using var finite = t.IsFinite();
        using var all = finite.To(DType.Float32).Min();
        return all.Item() == 1;
    }

    private static Dictionary<string, Tensor> StateOf(Module m) => m.StateDict().ToDictionary(p => p.Key, p => p.Value);

    private static double Std(Tensor t)
    {
        using var s = t.Std();
        return s.Item();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Every registered model.

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void ForwardBackwardAndTrainEvalSwitch(string name)
    {
        TorchRuntime.ManualSeed(7);
        using var scope = Tensor.NewDisposeScope();
        using var model = ModelRegistry.Create(name, Small);
        Assert.IsTrue(model.NamedModules().All(m => m.Value.IsTraining), $"{name}: a fresh model is in training mode");

        var x = Tensor.Randn(new long[] { 2, 1, 32, 32 }).RequiresGrad_();
        var y = model.Forward(x);
        CollectionAssert.AreEqual(new long[] { 2, 10 }, y.Shape, $"{name}: logits shape");
        Assert.IsTrue(AllFinite(y), $"{name}: training logits hold NaN or infinity");
        var loss = Functional.CrossEntropy(y, Tensor.FromArray(new long[] { 3, 7 }, 2));
        loss.Backward();
        Assert.IsNotNull(x.Grad, $"{name}: the input got no gradient");
        Assert.IsTrue(AllFinite(x.Grad), $"{name}: input gradient holds NaN or infinity");
        Assert.IsGreaterThan(0.0, x.Grad.Abs().Max().Item(), $"{name}: the input gradient is zero");
        foreach (var (key, p) in model.NamedParameters())
        {
            Assert.IsNotNull(p.Grad, $"{name}: {key} got no gradient");
            Assert.IsTrue(AllFinite(p.Grad), $"{name}: the gradient of {key} holds NaN or infinity");
        }

        var stats = model.NamedBuffers().Where(b => b.Key.EndsWith("running_mean", StringComparison.Ordinal)).ToList();
        Assert.IsNotEmpty(stats, $"{name}: no batch norm statistics");
        var before = stats.Select(b => b.Value.Clone()).ToList();

        model.Eval();
        Assert.IsTrue(model.NamedModules().All(m => !m.Value.IsTraining), $"{name}: Eval() reaches every submodule");
        using (TorchRuntime.NoGrad())
        {
            var e1 = model.Forward(x.Detach());
            var e2 = model.Forward(x.Detach());
            CollectionAssert.AreEqual(new long[] { 2, 10 }, e1.Shape, $"{name}: eval logits shape");
            Assert.IsTrue(AllFinite(e1), $"{name}: eval logits hold NaN or infinity");
            CollectionAssert.AreEqual(e1.ToArray<float>(), e2.ToArray<float>(), $"{name}: eval is deterministic");
            // Eval uses the running statistics and leaves them alone; training used the batch's.
            for (int i = 0; i < stats.Count; i++)
                CollectionAssert.AreEqual(before[i].ToArray<float>(), stats[i].Value.ToArray<float>(), $"{name}: eval changed {stats[i].Key}");
            Assert.IsGreaterThan(1e-6, (e1 - y.Detach()).Abs().Max().Item(), $"{name}: eval (running statistics) equals training (batch statistics)");
        }
        model.Train();
        Assert.IsTrue(model.NamedModules().All(m => m.Value.IsTraining), $"{name}: Train() reaches every submodule");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Published counts at 224×224, 1000 classes, 3 channels.

    /// <summary>torchvision's ResNets: our layout is theirs, so the counts are equal to the parameter.</summary>
    [TestMethod]
    [DataRow("resnet18", 11_689_512L)]
    [DataRow("resnet34", 21_797_672L)]
    [DataRow("resnet50", 25_557_032L)]
    [DataRow("resnet101", 44_549_160L)]
    public void ParameterCountsEqualTorchvision(string name, long torchvision)
    {
        using var model = ModelRegistry.Create(name);
        Assert.AreEqual(torchvision, model.ParameterCount(), name);
    }

    /// <summary>
    /// Within 0.5 % of the published parameters and 3 % of the published multiply-adds (REFERENCE.md; torchvision's
    /// model table for ResNet-18/34/101). Measured: resnet18 11.69 M / 1.814 G, resnet34 21.80 M / 3.664 G,
    /// resnet50 25.557 M / 4.089 G, resnet101 44.55 M / 7.801 G, eca_resnet50 25.557 M / 4.089 G,
    /// sk_resnet50 27.49 M / 4.463 G, epsanet50 22.562 M / 3.598 G, epsanet101 38.900 M / 6.788 G.
    /// </summary>
    [TestMethod]
    [DataRow("resnet18", 11.69, 1.81)]
    [DataRow("resnet34", 21.80, 3.66)]
    [DataRow("resnet50", 25.56, 4.12)]
    [DataRow("resnet101", 44.55, 7.80)]
    [DataRow("eca_resnet50", 25.56, 4.12)]
    [DataRow("sk_resnet50", 27.5, 4.47)]
    [DataRow("epsanet50", 22.56, 3.62)]
    [DataRow("epsanet101", 38.90, 6.82)]
    public void ParametersAndMultiplyAddsMatchThePapers(string name, double paramsM, double gmacs)
    {
        var (p, macs) = ModelRegistry.Measure(name);
        Assert.AreEqual(paramsM, p / 1e6, paramsM * 0.005, $"{name}: parameters (M)");
        Assert.AreEqual(gmacs, macs / 1e9, gmacs * 0.03, $"{name}: multiply-adds (G)");
    }

    /// <summary>
    /// SE-ResNet-50 and CBAM-ResNet-50 have the published 28.09 M parameters. Their published 3.86 G multiply-adds are
    /// counted on the original (Caffe) ResNet-50, whose bottlenecks stride in the first 1×1 conv: torchvision's
    /// ResNet-50 moved to that layout measures 3.858 G, while the torchvision layout (v1.5, stride in the 3×3 conv)
    /// built here measures 4.089 G, and the attention layers add a few M: 4.092 G (SE) and 4.096 G (CBAM).
    /// </summary>
    [TestMethod]
    [DataRow("seresnet50", 28.09)]
    [DataRow("cbam_resnet50", 28.09)]
    public void SeAndCbamMatchThePapersParametersAndCountMultiplyAddsOnResNetV15(string name, double paramsM)
    {
        var (p, macs) = ModelRegistry.Measure(name);
        Assert.AreEqual(paramsM, p / 1e6, paramsM * 0.005, $"{name}: parameters (M)");
        var (_, plain) = ModelRegistry.Measure("resnet50");
        Assert.AreEqual(4.089, plain / 1e9, 0.001, "resnet50 (v1.5) multiply-adds (G)");
        Assert.AreEqual(plain / 1e9, macs / 1e9, 0.01, $"{name}: multiply-adds (G) = ResNet-50 v1.5's plus the attention's few M, not the v1 paper's 3.86");
    }

    /// <summary>
    /// EPSANet "large" as stated (double-width bottleneck as the paper's architecture table and murufeng/EPSANet
    /// issue #15 describe, PSA groups 32, 32, 32, 32) measures 30.10 M / 5.053 G and 53.74 M / 9.666 G: 7.9 % and
    /// 8.4 % above the published 27.90 M and 49.59 M (multiply-adds 7 % and 8 % above 4.72 G and 8.97 G), so this
    /// test pins the measured values instead of the published ones. The published counts of both depths are matched
    /// to 0.01 % by the doubled width with a PSA of Σk²/G = 3.375 per branch width², which no grouping of kernels
    /// 3, 5, 7, 9 reaches (the 32-channel branches of stage 1 take at most 32 groups: Σk²/G ≥ 164/32 = 5.125);
    /// the normal width with groups 32 would have fewer parameters (15.86 M) than "small".
    /// </summary>
    [TestMethod]
    public void EpsaNetLargeHasTheStatedLayoutsCounts()
    {
        var (p50, m50) = ModelRegistry.Measure("epsanet50_large");
        var (p101, m101) = ModelRegistry.Measure("epsanet101_large");
        Assert.AreEqual(30_100_094L, p50, "epsanet50_large parameters");
        Assert.AreEqual(53_742_470L, p101, "epsanet101_large parameters");
        Assert.AreEqual(5.053, m50 / 1e9, 0.001, "epsanet50_large multiply-adds (G)");
        Assert.AreEqual(9.666, m101 / 1e9, 0.001, "epsanet101_large multiply-adds (G)");
        Assert.AreEqual(27.90, p50 / 1e6, 27.90 * 0.08, "within 8 % of the published EPSANet-50 large");
        Assert.AreEqual(49.59, p101 / 1e6, 49.59 * 0.085, "within 8.5 % of the published EPSANet-101 large");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Options.

    [TestMethod]
    public void AttentionOptionPutsTheLayerInEveryBlockUnderItsName()
    {
        using var r18 = ModelRegistry.Create("resnet18", Small with { Attention = "CBAM" });
        var keys = StateOf(r18).Keys.ToList();
        Assert.AreEqual(8, keys.Count(k => k.EndsWith(".cbam.ChannelGate.mlp.1.weight", StringComparison.Ordinal)), "one CBAM per basic block");
        Assert.IsTrue(keys.Contains("layer1.0.cbam.SpatialGate.spatial.conv.weight"));

        using var r50 = ModelRegistry.Create("resnet50", new BackboneOptions(Attention: "eca"));
        // The factory's adaptive kernel: ψ(256) = 5 in the first stage, ψ(2048) = 7 in the last.
        CollectionAssert.AreEqual(new long[] { 1, 1, 5 }, StateOf(r50)["layer1.0.eca.conv.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 1, 1, 7 }, StateOf(r50)["layer4.2.eca.conv.weight"].Shape);

        using var none = ModelRegistry.Create("resnet50", Small with { Attention = "none" });
        using var plain = ModelRegistry.Create("resnet50", Small);
        CollectionAssert.AreEqual(StateOf(plain).Keys.ToList(), StateOf(none).Keys.ToList(), "'none' is no attention");
    }

    [TestMethod]
    public void EcaResNet50UsesThePapersKernelPerStage()
    {
        using var model = ModelRegistry.Create("eca_resnet50", Small);
        var sd = StateOf(model);
        for (int s = 0; s < 4; s++)
            CollectionAssert.AreEqual(new[] { 1, 1, ResNetFamily.EcaResNet50Kernels[s] }, sd[$"layer{s + 1}.0.eca.conv.weight"].Shape, $"stage {s + 1}");
        CollectionAssert.AreEqual(new long[] { 3, 5, 5, 7 }, ResNetFamily.EcaResNet50Kernels.ToArray());
    }

    [TestMethod]
    public void BamSitsAfterStagesOneToThreeInJongchansOrder()
    {
        using var model = ModelRegistry.Create("bam_resnet50");
        var keys = StateOf(model).Keys.ToList();
        Assert.IsFalse(keys.Any(k => k.Contains(".bam", StringComparison.Ordinal)), "no BAM inside the blocks");
        Assert.IsFalse(keys.Any(k => k.StartsWith("bam4", StringComparison.Ordinal)), "no BAM after the last stage");
        // Jongchan's ResNet registers bam1..3 after the stem, before layer1; channels 256, 512, 1024.
        int bn1 = keys.IndexOf("bn1.weight"), bam1 = keys.IndexOf("bam1.channel_att.gate_c.gate_c_fc_0.weight"), layer1 = keys.IndexOf("layer1.0.conv1.weight");
        Assert.IsTrue(bn1 < bam1 && bam1 < layer1, "key order conv1, bn1, bam1..3, layer1");
        var sd = StateOf(model);
        CollectionAssert.AreEqual(new long[] { 16, 256 }, sd["bam1.channel_att.gate_c.gate_c_fc_0.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 32, 512 }, sd["bam2.channel_att.gate_c.gate_c_fc_0.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 64, 1024 }, sd["bam3.channel_att.gate_c.gate_c_fc_0.weight"].Shape);
        using var viaOption = ModelRegistry.Create("resnet50", new BackboneOptions(Attention: "bam"));
        CollectionAssert.AreEqual(keys, StateOf(viaOption).Keys.ToList(), "resnet50 + Attention \"bam\" is bam_resnet50");
    }

    [TestMethod]
    public void SkResNet50IsSkNet50()
    {
        using var model = ModelRegistry.Create("sk_resnet50");
        var sd = StateOf(model);
        // ResNeXt-50 32×4d widths (128 in stage 1), the 3×3 conv replaced by the two-path selective kernel, d = max(C/16, 32).
        CollectionAssert.AreEqual(new long[] { 128, 64, 1, 1 }, sd["layer1.0.conv1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 128, 4, 3, 3 }, sd["layer1.0.conv2.convs.1.0.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 32, 128, 1, 1 }, sd["layer1.0.conv2.fc.0.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 64, 1024, 1, 1 }, sd["layer4.0.conv2.fc.0.weight"].Shape);
        Assert.IsFalse(sd.ContainsKey("layer1.0.bn2.weight"), "the selective kernel normalises its own paths");
        Assert.IsTrue(sd.ContainsKey("layer1.0.conv3.weight") && sd.ContainsKey("layer1.0.bn3.weight"));
    }

    [TestMethod]
    public void StemFollowsSmallImageAndInChannels()
    {
        using var imagenet = (ResNet)ModelRegistry.Create("resnet50");
        CollectionAssert.AreEqual(new long[] { 64, 3, 7, 7 }, ((Conv2d)imagenet.Conv1).Weight.Shape);
        Assert.IsInstanceOfType<MaxPool2d>(imagenet.MaxPool);
        using var small = (ResNet)ModelRegistry.Create("epsanet50", new BackboneOptions(NumClasses: 7, InChannels: 1, SmallImage: true));
        CollectionAssert.AreEqual(new long[] { 64, 1, 3, 3 }, ((Conv2d)small.Conv1).Weight.Shape);
        Assert.IsInstanceOfType<Identity>(small.MaxPool);
        CollectionAssert.AreEqual(new long[] { 7, 2048 }, small.Fc.Weight.Shape);
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        small.Eval();
        // No stride in the stem: a 32×32 image reaches the last stage at 4×4 instead of 1×1.
        CollectionAssert.AreEqual(new long[] { 1, 2048, 4, 4 }, small.Stages.Aggregate(small.Bn1.Forward(small.Conv1.Forward(Tensor.Zeros(new long[] { 1, 1, 32, 32 }))),
            (x, stage) => stage.Forward(x)).Shape);
    }

    [TestMethod]
    public void WidthMultiplierRoundsStageWidthsToTheFamilysDivisor()
    {
        // ResNet: multiples of 16 (timm's make_divisible): 64·0.3 = 19.2 → 32 (16 would be > 10 % below), 38.4 → 48, 76.8 → 80, 153.6 → 160.
        using var r50 = (ResNet)ModelRegistry.Create("resnet50", new BackboneOptions(WidthMultiplier: 0.3));
        var sd = StateOf(r50);
        CollectionAssert.AreEqual(new long[] { 32, 32, 1, 1 }, sd["layer1.0.conv1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 48, 128, 1, 1 }, sd["layer2.0.conv1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 80, 192, 1, 1 }, sd["layer3.0.conv1.weight"].Shape);
        Assert.AreEqual(640, r50.NumFeatures);
        using var wide = (ResNet)ModelRegistry.Create("resnet18", new BackboneOptions(WidthMultiplier: 2));
        Assert.AreEqual(1024, wide.NumFeatures);

        // EPSANet: multiples of 64, so that planes/4 takes the groups 1, 4, 8, 16 and SE's reduction 16:
        // 19.2 → 64, 38.4 → 64, 76.8 → 128 (64 would be > 10 % below), 153.6 → 192.
        using var e50 = (ResNet)ModelRegistry.Create("epsanet50", new BackboneOptions(WidthMultiplier: 0.3));
        var e = StateOf(e50);
        CollectionAssert.AreEqual(new long[] { 16, 64, 3, 3 }, e["layer1.0.conv2.conv_1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 16, 4, 9, 9 }, e["layer2.0.conv2.conv_4.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 1, 16, 1, 1 }, e["layer1.0.conv2.se.fc1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 32, 8, 9, 9 }, e["layer3.0.conv2.conv_4.weight"].Shape);
        Assert.AreEqual(768, e50.NumFeatures);

        // Large: the bottleneck is twice as wide; 32 groups on width/4.
        using var large = ModelRegistry.Create("epsanet50_large", new BackboneOptions(WidthMultiplier: 0.25));
        var l = StateOf(large);
        CollectionAssert.AreEqual(new long[] { 128, 64, 1, 1 }, l["layer1.0.conv1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 32, 4, 9, 9 }, l["layer1.0.conv2.conv_4.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 256, 128, 1, 1 }, l["layer1.0.conv3.weight"].Shape);
    }

    [TestMethod]
    public void AttentionOptionsThatCannotApplyAreRejected()
    {
        var unknown = Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("resnet50", new BackboneOptions(Attention: "transformer")));
        StringAssert.Contains(unknown.Message, "cbam");
        var other = Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("seresnet50", new BackboneOptions(Attention: "cbam")));
        StringAssert.Contains(other.Message, "seresnet50 has its own attention 'se'");
        var psa = Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("epsanet50", new BackboneOptions(Attention: "se")));
        StringAssert.Contains(psa.Message, "PSA");
        using var own = ModelRegistry.Create("seresnet50", Small with { Attention = "se" });
        Assert.IsTrue(StateOf(own).ContainsKey("layer1.0.se.fc.0.weight"), "a variant's own attention is accepted");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ModelRegistry.Create("resnet18", new BackboneOptions(InChannels: 2)));
    }

    /// <summary>
    /// The seed's initialisation: every conv ~ N(0, √(2/(k·k·out))), the PSA module's SE convs included (the official
    /// loop runs over all modules); BN γ = 1, β = 0. Attention layers keep their own (GC's last conv stays zero).
    /// </summary>
    [TestMethod]
    public void InitialisationFollowsTheSeedAndKeepsTheAttentionLayersOwn()
    {
        TorchRuntime.ManualSeed(3);
        using var epsa = ModelRegistry.Create("epsanet50");
        var sd = StateOf(epsa);
        Assert.AreEqual(Math.Sqrt(2.0 / (9 * 9 * 64)), Std(sd["layer3.0.conv2.conv_4.weight"]), 0.03 * Math.Sqrt(2.0 / (9 * 9 * 64)), "PSA conv_4 (81·64 fan out)");
        Assert.AreEqual(Math.Sqrt(2.0 / (1 * 1 * 8)), Std(sd["layer4.0.conv2.se.fc1.weight"]), 0.1 * Math.Sqrt(2.0 / 8), "PSA SE fc1 (8 outputs)");
        Assert.AreEqual(Math.Sqrt(2.0 / (7 * 7 * 64)), Std(sd["conv1.weight"]), 0.05 * Math.Sqrt(2.0 / (7 * 7 * 64)), "stem conv");
        CollectionAssert.AreEqual(Enumerable.Repeat(1f, 128).ToArray(), sd["layer2.1.bn2.weight"].ToArray<float>());
        CollectionAssert.AreEqual(new float[128], sd["layer2.1.bn2.bias"].ToArray<float>());

        using var gc = ModelRegistry.Create("gc_resnet50", Small);
        var g = StateOf(gc);
        Assert.AreEqual(0.0, g["layer1.0.gc.channel_add_conv.3.weight"].Abs().Max().Item(), "GC's zero-initialised last conv is kept");
        Assert.IsGreaterThan(0.0, Std(g["layer1.0.conv2.weight"]), "the block's own convs are initialised");
    }

    [TestMethod]
    public void FamiliesRegisterTheIssuesModels()
    {
        var names = ModelRegistry.All.Select(m => m.Name).ToHashSet();
        foreach (var n in new[]
        {
            "resnet18", "resnet34", "resnet50", "resnet101", "seresnet50", "cbam_resnet50", "bam_resnet50", "eca_resnet50", "ca_resnet50",
            "gc_resnet50", "sk_resnet50", "epsanet50", "epsanet101", "epsanet50_large", "epsanet101_large",
        })
            Assert.IsTrue(names.Contains(n), $"{n} is registered");
        Assert.IsTrue(ModelRegistry.All.Where(m => m.Family is "resnet" or "epsanet").All(m => m.Description.Length > 20));
        Assert.AreEqual("epsanet", ModelRegistry.Get("EPSANet50_Large").Family);
    }

    public static IEnumerable<object[]> FactoryAttentions() => AttentionFactory.Names.Select(n => new object[] { n });

    /// <summary>resnet* takes any name of the attention factory: in every block under that name (BAM after the stages).</summary>
    [TestMethod]
    [DynamicData(nameof(FactoryAttentions))]
    public void EveryFactoryAttentionBuildsIntoResNet(string attention)
    {
        foreach (var name in new[] { "resnet18", "resnet50" })
        {
            using var scope = Tensor.NewDisposeScope();
            using var model = ModelRegistry.Create(name, Small with { Attention = attention });
            var keys = StateOf(model).Keys.ToList();
            int blocks = name == "resnet18" ? 8 : 16;
            if (attention == "bam")
                Assert.AreEqual(3, keys.Select(k => k.Split('.')[0]).Distinct().Count(k => k.StartsWith("bam", StringComparison.Ordinal)), $"{name}: bam1..3");
            else
                Assert.AreEqual(blocks, keys.Where(k => k.Contains($".{attention}.", StringComparison.Ordinal)).Select(k => string.Join('.', k.Split('.').Take(2))).Distinct().Count(),
                    $"{name}: one {attention} per block");
            model.Eval();
            using var noGrad = TorchRuntime.NoGrad();
            var y = model.Forward(Tensor.Randn(new long[] { 1, 1, 32, 32 }));
            CollectionAssert.AreEqual(new long[] { 1, 10 }, y.Shape, $"{name} + {attention}");
            Assert.IsTrue(AllFinite(y), $"{name} + {attention}: NaN or infinity");
        }
    }
}
