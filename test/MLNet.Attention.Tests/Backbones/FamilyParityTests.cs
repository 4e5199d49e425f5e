using System.Globalization;
using System.Text.Json;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// The backbone families of src/Backbones/Models (MobileNetV2, C2f, MobileViTv2, Residual Attention, BoTNet) against
/// their PyTorch references (test/reference/make_family_fixtures.py: torchvision's MobileNetV2, re-implementations of
/// the other published codes):
/// <list type="bullet">
/// <item>every registered model at full size has the reference's state-dict keys, shapes and order, its parameter
/// count, and its multiply-adds at 224 px (convolutions, linear layers and attention products, as counted there);</item>
/// <item>the published parameter counts (and multiply-adds where comparable) within 0.5 % (3 %);</item>
/// <item>reduced models (small width, 10 classes) loaded with the reference's weights give the same training-mode
/// output and eval-mode output (float32), and the same training-mode input gradient (float64 on both sides).</item>
/// </list>
/// </summary>
[TestClass]
public sealed class FamilyParityTests
{
    private const string File = "families.safetensors";
    private const double Rtol = 1e-4;

    private static Dictionary<string, Tensor> Fx => Fixtures.Load(File);

    private static readonly Lazy<IReadOnlyDictionary<string, string>> MetadataCache = new(() =>
    {
        SafeTensors.Read(Fixtures.PathOf(File), out var meta);
        return meta;
    });

    private static IReadOnlyDictionary<string, string> Meta => MetadataCache.Value;

    /// <summary>
    /// Published parameter counts and multiply-adds (224 px unless noted) with the tolerance each comparison allows;
    /// null where nothing comparable is published. The measured values are in the comments.
    /// </summary>
    private static readonly Dictionary<string, (double Params, double ParamsTol, double? Macs, double MacsTol)> Published = new()
    {
        // torchvision: 3,504,872 params, 0.30 GMACs (paper 3.4M / 300M). Measured 3,504,872 / 300.8M.
        ["mobilenetv2"] = (3.504872e6, 0.005, 0.30e9, 0.03),
        // Hou et al. 2021, Table: 3.95M / 0.31G. Measured 3,950,648 / 306.7M (CA's pooling and 1×1 convs; -1.1 %).
        ["mobilenetv2_ca"] = (3.95e6, 0.005, 0.31e9, 0.03),
        // Ultralytics YOLOv8-cls table: 2.7M (n) and 6.4M (s), given to 0.1M: hence 2 % and 1 %. Measured 2,719,288 and
        // 6,361,736, as ultralytics' own model summary. Its FLOPs are at 640 px: see C2fMatchesUltralyticsFlopsAt640.
        ["c2f_cls_n"] = (2.7e6, 0.02, null, 0),
        ["c2f_cls_s"] = (6.4e6, 0.01, null, 0),
        // timm's model table: 1.37M / 2.87M / 4.90M params; measured 1,370,593 / 2,866,009 / 4,901,841. timm's GMACs are
        // at 256 px: see MobileViTv2MatchesTimmMacsAt256.
        ["mobilevitv2_050"] = (1.37e6, 0.005, null, 0),
        ["mobilevitv2_075"] = (2.87e6, 0.005, null, 0),
        ["mobilevitv2_100"] = (4.90e6, 0.005, null, 0),
        // Wang et al. 2017, Table 6 (224 px): Attention-56 31.9M / 6.3G; measured 31,810,728 / 6.271G (-0.3 %, -0.5 %).
        ["attention56"] = (31.9e6, 0.005, 6.3e9, 0.03),
        // Attention-92: 51.3M / 10.4G published; tengshaofeng's Attention-92, which we follow, measures 52,466,344 /
        // 10.534G: +2.3 % parameters, +1.3 % multiply-adds. Its extra modules are the same modules as Attention-56's,
        // so the paper's own Attention-92 must differ in some unit we cannot see from the paper; the comparison is
        // kept at the measured gap.
        ["attention92"] = (51.3e6, 0.025, 10.4e9, 0.03),
        // Srinivas et al. 2021: BoT50 20.8M parameters (ResNet-50 25.5M); measured 20,852,008 (+0.25 %; the relative
        // tables are sized for 224 px). The paper gives multiply-adds only at 1024 px; at 224 px we measure 4.025G,
        // ResNet-50's 4.11G less layer4's 3×3 convs (0.35G) plus qkv projections and attention products (0.27G).
        ["botnet50"] = (20.8e6, 0.005, null, 0),
    };

    // ------------------------------------------------------------------------------------------------------------
    // full-size models

    public static IEnumerable<object[]> FullModels() =>
        Meta.Keys.Where(k => k.StartsWith("FULL/", StringComparison.Ordinal) && k.EndsWith("/keys", StringComparison.Ordinal))
            .Select(k => k.Split('/')[1]).OrderBy(k => k, StringComparer.Ordinal).Select(k => new object[] { k });

    private static string KeyShapes(Module model) =>
        string.Join(",", model.StateDict().Select(p => $"{p.Key}:{string.Join("x", p.Value.Shape)}"));

    [TestMethod]
    [DynamicData(nameof(FullModels))]
    public void FullSizeModelHasTheReferenceKeysShapesParametersAndMacs(string name)
    {
        using var model = ModelRegistry.Create(name);
        var expected = Meta[$"FULL/{name}/keys"].Split(',');
        var actual = KeyShapes(model).Split(',');
        for (int i = 0; i < Math.Min(expected.Length, actual.Length); i++)
            Assert.AreEqual(expected[i], actual[i], $"{name}: state-dict entry {i}");
        Assert.AreEqual(expected.Length, actual.Length, $"{name}: state-dict entries");

        var (parameters, macs) = ModelRegistry.Measure(model, 3, 224);
        Assert.AreEqual(long.Parse(Meta[$"FULL/{name}/params"], CultureInfo.InvariantCulture), parameters, $"{name}: parameters");
        Assert.AreEqual(long.Parse(Meta[$"FULL/{name}/macs"], CultureInfo.InvariantCulture), macs, $"{name}: multiply-adds at 224 px");

        if (Published.TryGetValue(name, out var pub))
        {
            Assert.AreEqual(pub.Params, parameters, pub.Params * pub.ParamsTol, $"{name}: published parameter count");
            if (pub.Macs is double m) Assert.AreEqual(m, macs, m * pub.MacsTol, $"{name}: published multiply-adds");
        }
    }

    [TestMethod]
    public void EveryFamilyModelIsRegisteredAndCompared()
    {
        var full = FullModels().Select(o => (string)o[0]).ToList();
        CollectionAssert.AreEquivalent(new[] { "mobilenetv2", "mobilenetv2_ca", "c2f_cls_n", "c2f_ca_cls_n", "c2f_cls_s", "c2f_ca_cls_s",
            "mobilevitv2_050", "mobilevitv2_075", "mobilevitv2_100", "attention56", "attention92", "botnet50" }, full);
        foreach (var name in full)
            Assert.AreEqual(name, ModelRegistry.Get(name).Name);
        foreach (var name in Published.Keys) CollectionAssert.Contains(full, name, "a published figure without its model");
    }

    [TestMethod]
    public void C2fMatchesUltralyticsFlopsAt640()
    {
        // Ultralytics' table gives YOLOv8n/s-cls 4.3 / 13.5 GFLOPs "at 640": 2 × multiply-adds, profiled at 32 px and
        // scaled by (640/32)², which scales the convolutions exactly but also counts the 1280×1000 linear layer 400
        // times. The same arithmetic on our 224 px count gives 4.31 and 13.47 GFLOPs.
        foreach (var (name, published) in new[] { ("c2f_cls_n", 4.3e9), ("c2f_cls_s", 13.5e9) })
        {
            long macs = long.Parse(Meta[$"FULL/{name}/macs"], CultureInfo.InvariantCulture);
            const double linear = 1280.0 * 1000;
            double flops = 2 * ((macs - linear) * (640.0 / 224) * (640.0 / 224) + linear * 400);
            Assert.AreEqual(published, flops, published * 0.01, name);
        }
    }

    [TestMethod]
    public void MobileViTv2MatchesTimmMacsAt256()
    {
        // timm's table (256 px, its native size): 0.48 / 1.05 / 1.84 GMACs. We count convolutions, linear layers and
        // the attention's context products: 0.465 / 1.028 / 1.813 G, 3.2 / 2.1 / 1.5 % below. timm's counter also
        // counts the normalisation layers' elementwise work (it grows with width, not width², as the gap does).
        foreach (var (name, published, tol) in new[] { ("mobilevitv2_050", 0.48e9, 0.035), ("mobilevitv2_075", 1.05e9, 0.03), ("mobilevitv2_100", 1.84e9, 0.03) })
        {
            var (_, macs) = ModelRegistry.Measure(name, imageSize: 256);
            Assert.AreEqual(long.Parse(Meta[$"FULL/{name}/macs256"], CultureInfo.InvariantCulture), macs, $"{name}: multiply-adds at 256 px");
            Assert.AreEqual(published, macs, published * tol, $"{name}: timm's GMACs");
        }
    }

    [TestMethod]
    public void C2fAttentionSitsInEachC2fAndKeepsTheLayerIndices()
    {
        var small = new BackboneOptions(NumClasses: 10, SmallImage: true, WidthMultiplier: 0.5);
        using var plain = ModelRegistry.Create("c2f_cls_n", small);
        using var ca = ModelRegistry.Create("c2f_ca_cls_n", small);
        using var eca = ModelRegistry.Create("c2f_cls_n", small with { Attention = "eca" });
        var plainKeys = plain.StateDict().Select(p => p.Key).ToList();
        var caKeys = ca.StateDict().Select(p => p.Key).ToList();
        var ecaKeys = eca.StateDict().Select(p => p.Key).ToList();
        foreach (var i in new[] { 2, 4, 6, 8 })
        {
            CollectionAssert.Contains(caKeys, $"model.{i}.ca.conv_h.weight");
            CollectionAssert.Contains(ecaKeys, $"model.{i}.eca.conv.weight");
        }
        CollectionAssert.AreEqual(plainKeys, caKeys.Where(k => !k.Contains(".ca.", StringComparison.Ordinal)).ToList(), "the plain network's keys, in order");
        CollectionAssert.Contains(plainKeys, "model.9.linear.weight");

        using var scope = Tensor.NewDisposeScope();
        var y = ca.Forward(Tensor.Randn(new long[] { 2, 3, 28, 28 }));
        CollectionAssert.AreEqual(new long[] { 2, 10 }, y.Shape);
    }

    [TestMethod]
    public void MobileNetV2PutsTheNamedAttentionLayerWhereMbv2CaPutsCoordinateAttention()
    {
        var small = new BackboneOptions(NumClasses: 10, SmallImage: true, WidthMultiplier: 0.5);
        using var se = ModelRegistry.Create("mobilenetv2", small with { Attention = "se" });
        var keys = se.StateDict().Select(p => p.Key).ToList();
        CollectionAssert.Contains(keys, "features.2.conv.6.fc.0.weight", "SE after the depthwise conv + BN + ReLU6 of an expanding block");
        Assert.IsFalse(keys.Any(k => k.StartsWith("features.1.conv.6", StringComparison.Ordinal)), "no attention in the t = 1 block");
        CollectionAssert.Contains(keys, "conv.0.weight", "mbv2_ca's layout: the last 1×1 conv is `conv`");

        using var ca = ModelRegistry.Create("mobilenetv2_ca", small);
        using var factoryCa = ModelRegistry.Create("mobilenetv2", small with { Attention = "ca" });
        CollectionAssert.Contains(ca.StateDict().Select(p => p.Key).ToList(), "features.2.conv.6.conv3.weight", "mbv2_ca's own CoordAtt names");
        CollectionAssert.Contains(factoryCa.StateDict().Select(p => p.Key).ToList(), "features.2.conv.6.conv_w.weight", "coordatt.py's names");
        Assert.AreEqual(ca.ParameterCount(), factoryCa.ParameterCount(), "the same layer under other names");

        using var plain = ModelRegistry.Create("mobilenetv2", small with { Attention = "none" });
        CollectionAssert.Contains(plain.StateDict().Select(p => p.Key).ToList(), "features.1.conv.0.0.weight", "torchvision's layout");

        using var scope = Tensor.NewDisposeScope();
        var y = se.Forward(Tensor.Randn(new long[] { 2, 3, 32, 32 }));
        CollectionAssert.AreEqual(new long[] { 2, 10 }, y.Shape);
        Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("mobilenetv2", small with { Attention = "triplet" }));
    }

    [TestMethod]
    public void InitialisationFollowsTheReferences()
    {
        static double Std(Module m, string key)
        {
            using var s = m.StateDict().Single(p => p.Key == key).Value.Std();
            return s.Item();
        }
        static double AbsSum(Module m, string key)
        {
            using var a = m.StateDict().Single(p => p.Key == key).Value.Abs();
            using var s = a.Sum();
            return s.Item();
        }
        TorchRuntime.ManualSeed(11);

        // torchvision / mbv2_ca: convs N(0, √(2/(k·k·out))), classifier N(0, 0.01) with zero bias
        using (var mbv2 = ModelRegistry.Create("mobilenetv2_ca"))
        {
            Assert.AreEqual(Math.Sqrt(2.0 / (3 * 3 * 32)), Std(mbv2, "features.0.0.weight"), 0.1 * Math.Sqrt(2.0 / (3 * 3 * 32)));
            Assert.AreEqual(Math.Sqrt(2.0 / 960), Std(mbv2, "features.17.conv.6.conv2.weight"), 0.1 * Math.Sqrt(2.0 / 960), "mbv2_ca initialises its CA too");
            Assert.AreEqual(0.01, Std(mbv2, "classifier.1.weight"), 0.001);
            Assert.AreEqual(0.0, AbsSum(mbv2, "classifier.1.bias"));
        }
        // another attention layer keeps its own initialisation (GC's zero last conv)
        using (var gc = ModelRegistry.Create("mobilenetv2", new BackboneOptions(Attention: "gc")))
            Assert.AreEqual(0.0, AbsSum(gc, "features.2.conv.6.channel_add_conv.3.weight"), "GC's last conv starts at zero");

        // ByobNet: N(0, √(2/(k·k·out/groups))) (depthwise: √(2/9)), zero γ in the last BN of residual MV2 blocks
        using (var vit = ModelRegistry.Create("mobilevitv2_100"))
        {
            Assert.AreEqual(Math.Sqrt(2.0 / 9), Std(vit, "stages.2.1.conv_kxk.conv.weight"), 0.1 * Math.Sqrt(2.0 / 9));
            Assert.AreEqual(0.0, AbsSum(vit, "stages.1.1.conv3_1x1.bn.weight"));
            Assert.AreEqual(128.0, AbsSum(vit, "stages.1.0.conv3_1x1.bn.weight"), "no residual: γ = 1 for its 128 channels");
            Assert.AreEqual(0.01, Std(vit, "head.fc.weight"), 0.001);
        }

        // timm's BottleneckAttn: qkv N(0, 1/C), relative tables N(0, 1/d), after the ResNet's own initialisation
        using (var bot = ModelRegistry.Create("botnet50"))
        {
            Assert.AreEqual(1 / Math.Sqrt(512), Std(bot, "layer4.1.conv2.qkv.weight"), 0.1 / Math.Sqrt(512));
            Assert.AreEqual(1 / Math.Sqrt(128), Std(bot, "layer4.0.conv2.pos_embed.width_rel"), 0.15 / Math.Sqrt(128));
            Assert.AreEqual(Math.Sqrt(2.0 / (3 * 3 * 256)), Std(bot, "layer3.0.conv2.weight"), 0.1 * Math.Sqrt(2.0 / (3 * 3 * 256)));
        }
    }

    [TestMethod]
    public void BotNetTakesInputsUpToItsBuildSizeAndNamesTheLimit()
    {
        using var model = BotNet.BotNet50(new BackboneOptions(NumClasses: 10, SmallImage: true, WidthMultiplier: 0.25), imageSize: 32);
        model.Eval();
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        foreach (var (h, w) in new[] { (32, 32), (28, 28), (24, 32), (9, 11) })
            CollectionAssert.AreEqual(new long[] { 1, 10 }, model.Forward(Tensor.Randn(new long[] { 1, 3, h, w })).Shape, $"{h}×{w}");
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.Forward(Tensor.Randn(new long[] { 1, 3, 40, 32 })));
        StringAssert.Contains(e.Message, "10×8 map exceeds the 8×8");
        Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("botnet50", new BackboneOptions(Attention: "se")));
        Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("attention56", new BackboneOptions(Attention: "se")));
    }

    // ------------------------------------------------------------------------------------------------------------
    // reduced models with the reference's weights

    public static IEnumerable<object[]> FixtureModels() =>
        Meta.Keys.Where(k => !k.StartsWith("FULL/", StringComparison.Ordinal) && k.EndsWith("/config", StringComparison.Ordinal))
            .Select(k => k[..^"/config".Length]).OrderBy(k => k, StringComparer.Ordinal).Select(k => new object[] { k });

    private sealed record Config(string Model, int Classes, int InChans, bool Small, double Width, JsonElement Root)
    {
        public BackboneOptions Options => new(Classes, InChans, Small, Width);

        public string? String(string name) => Root.TryGetProperty(name, out var v) ? v.GetString() : null;

        public int? Int(string name) => Root.TryGetProperty(name, out var v) ? v.GetInt32() : null;

        public int[]? Ints(string name) => Root.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(e => e.GetInt32()).ToArray() : null;

        public int[][]? Rows(string name) =>
            Root.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray() : null;
    }

    private static Config ConfigOf(string name)
    {
        var root = JsonDocument.Parse(Meta[$"{name}/config"]).RootElement;
        return new Config(root.GetProperty("model").GetString()!, root.GetProperty("classes").GetInt32(), root.GetProperty("in_chans").GetInt32(),
            root.GetProperty("small").GetBoolean(), root.GetProperty("width").GetDouble(), root);
    }

    /// <summary>The C# model the reduced reference corresponds to (dropout 0: training-mode outputs must be deterministic).</summary>
    private static Module<Tensor, Tensor> Build(Config c)
    {
        IReadOnlyList<InvertedResidualSetting>? Settings() =>
            c.Rows("settings")?.Select(r => new InvertedResidualSetting(r[0], r[1], r[2], r[3])).ToArray();

        return c.Model switch
        {
            "mobilenetv2" => new MobileNetV2(c.Options, false, Settings(), c.Int("last_channel"), dropout: 0),
            "mobilenetv2_ca" => new MobileNetV2(c.Options, true, Settings(), c.Int("last_channel"), dropout: 0),
            "c2f_cls_n" => new C2fClassifier(c.Options, C2fScale.N, false, c.Int("head")!.Value),
            "c2f_cls_s" => new C2fClassifier(c.Options, C2fScale.S, false, c.Int("head")!.Value),
            "c2f_ca_cls_n" => new C2fClassifier(c.Options, C2fScale.N, true, c.Int("head")!.Value),
            "c2f_ca_cls_s" => new C2fClassifier(c.Options, C2fScale.S, true, c.Int("head")!.Value),
            "mobilevitv2_050" => new MobileViTv2(c.Options, 0.5, c.Ints("depths")),
            "mobilevitv2_075" => new MobileViTv2(c.Options, 0.75, c.Ints("depths")),
            "mobilevitv2_100" => new MobileViTv2(c.Options, 1.0, c.Ints("depths")),
            "attention56" => new ResidualAttentionNet(c.Options, 56),
            "attention92" => new ResidualAttentionNet(c.Options, 92),
            "botnet50" => BotNet.BotNet50(c.Options, c.Int("image_size")),
            _ => throw new AssertFailedException($"no builder for '{c.Model}'"),
        };
    }

    /// <summary>The fixture's state dict: one flat float16 tensor cut by the keys entry ("key:d0xd1,...").</summary>
    private static List<KeyValuePair<string, Tensor>> StateDictOf(string name)
    {
        var flat = Fx[$"{name}/sd"].To(DType.Float32);
        var result = new List<KeyValuePair<string, Tensor>>();
        long offset = 0;
        foreach (var entry in Meta[$"{name}/keys"].Split(','))
        {
            int colon = entry.LastIndexOf(':');
            var shape = entry[(colon + 1)..].Length == 0 ? Array.Empty<long>() : entry[(colon + 1)..].Split('x').Select(long.Parse).ToArray();
            long n = shape.Aggregate(1L, (a, b) => a * b);
            result.Add(new(entry[..colon], flat.Narrow(0, offset, n).Reshape(shape)));
            offset += n;
        }
        Assert.AreEqual(flat.NumElements, offset, $"{name}: the flat state dict holds exactly the listed tensors");
        return result;
    }

    [TestMethod]
    public void TheFixtureCoversEveryFamilyInBothForms()
    {
        var configs = FixtureModels().Select(o => ConfigOf((string)o[0])).ToList();
        Assert.AreEqual(11, configs.Count, "reduced models in the fixture");
        foreach (var c in configs) Assert.IsNotNull(ModelRegistry.Get(c.Model), c.Model);
        foreach (var family in configs.GroupBy(c => ModelRegistry.Get(c.Model).Family))
        {
            Assert.IsTrue(family.Any(c => c.Small), $"{family.Key}: no small-image model in the fixture");
            Assert.IsTrue(family.Any(c => !c.Small), $"{family.Key}: no ImageNet-form model in the fixture");
            Assert.IsTrue(family.Any(c => c.InChans == 1), $"{family.Key}: no grayscale model in the fixture");
        }
    }

    [TestMethod]
    [DynamicData(nameof(FixtureModels))]
    public void ReducedModelKeysShapesAndOrderEqualPyTorch(string name)
    {
        var c = ConfigOf(name);
        var sdName = c.String("sd") ?? name;
        using var model = Build(c);
        Assert.AreEqual(Meta[$"{sdName}/keys"], KeyShapes(model), $"{name}: state-dict keys, shapes and order");
    }

    [TestMethod]
    [DynamicData(nameof(FixtureModels))]
    public void TrainingForwardBackwardAndEvalMatchPyTorch(string name)
    {
        var fx = Fx;
        var c = ConfigOf(name);
        using var model = Build(c);
        using (var load = Tensor.NewDisposeScope())
        {
            var report = model.LoadStateDict(StateDictOf(c.String("sd") ?? name));
            Assert.IsTrue(report.IsClean, report.ToString());
        }
        var x32 = fx[$"{name}/x"].To(DType.Float32).DetachFromDisposeScope();
        try
        {
            using (var scope = Tensor.NewDisposeScope())
            {
                model.Train();
                var x = x32.Clone().RequiresGrad_();
                var y = model.Forward(x);
                Assert.AreEqual(2, scope.Count, $"{name}: Forward may leave only its output in the caller's scope");
                Fixtures.AssertClose(fx[$"{name}/out_train"], y, Rtol, $"{name}: training output");
                (y * fx[$"{name}/gout"].To(DType.Float32)).Sum().Backward();
                Assert.IsNotNull(x.Grad, $"{name}: the input got no gradient");
                foreach (var (key, p) in model.NamedParameters())
                    Assert.IsNotNull(p.Grad, $"{name}: {key} got no gradient");
            }

            // The input gradient in float64 on both sides (the fixture's is PyTorch's float64 gradient, stored as
            // float32). In float32 this backward is ill-conditioned at batch 2: batch norm's backward over a few values
            // per channel cancels, and PyTorch's own float32 gradient differs from its float64 one by 1.6e-2 for
            // attention56, 3.1e-3 for mobilenetv2, 2-3e-4 for the BoTNets and c2f_cls_n (the script's f32_vs_f64
            // lines), so float32 results depend on the CPU's SIMD path (AVX-512, AVX2 and scalar kernels sum in
            // other orders: 1.2e-3 between AVX-512 and AVX2 for botnet50). In float64 that rounding is ~1e-13, and the 1e-4
            // bound tells a wrong gradient from rounding on any CPU.
            using (var scope = Tensor.NewDisposeScope())
            {
                model.To(Device.Cpu, DType.Float64);
                using (var load = Tensor.NewDisposeScope())
                    Assert.IsTrue(model.LoadStateDict(StateDictOf(c.String("sd") ?? name)).IsClean);
                model.Train();
                var x = x32.To(DType.Float64).RequiresGrad_();
                var y = model.Forward(x);
                Assert.AreEqual(DType.Float64, y.DType, $"{name}: the float64 model computes in float64");
                (y * fx[$"{name}/gout"].To(DType.Float64)).Sum().Backward();
                Assert.IsNotNull(x.Grad, $"{name}: the input got no gradient (float64)");
                Fixtures.AssertClose(fx[$"{name}/grad_x"].To(DType.Float64), x.Grad, Rtol, $"{name}: input gradient (float64)");
                model.To(Device.Cpu, DType.Float32);
            }

            using (var load = Tensor.NewDisposeScope())
                Assert.IsTrue(model.LoadStateDict(StateDictOf(c.String("sd") ?? name)).IsClean);
            model.Eval();
            using (var scope = Tensor.NewDisposeScope())
            using (TorchRuntime.NoGrad())
            {
                var y = model.Forward(x32);
                Assert.AreEqual(1, scope.Count, $"{name}: Forward may leave only its output in the caller's scope");
                Fixtures.AssertClose(fx[$"{name}/out_eval"], y, Rtol, $"{name}: eval output");
            }
        }
        finally
        {
            x32.Dispose();
        }
    }
}
