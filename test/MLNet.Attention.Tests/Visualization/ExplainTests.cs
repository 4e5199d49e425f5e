using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Visualization;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Tests.Visualization;

/// <summary>
/// Attention maps captured from every attention family (and checked against what the layer applies), and Grad-CAM:
/// parity with PyTorch on a fixed network, a trained network that looks where the evidence is, every attention
/// backbone, and its errors.
/// </summary>
[TestClass]
public sealed class ExplainTests : OneThreadTest
{
    private static Tensor Image(ulong seed = 3)
    {
        TorchRuntime.ManualSeed(seed);
        return Tensor.Randn(new long[] { 1, 28, 28 });
    }

    [TestMethod]
    public void CapturesEveryAttentionFamilysMaps()
    {
        var expect = new Dictionary<string, (string Kind, int Count, bool Spatial)[]>
        {
            ["seresnet50"] = new[] { ("se", 16, false) },
            ["epsanet50"] = new[] { ("psa", 16, false) },
            ["cbam_resnet50"] = new[] { ("cbam-channel", 16, false), ("cbam-spatial", 16, true) },
            ["bam_resnet50"] = new[] { ("bam", 3, true) },
            ["ca_resnet50"] = new[] { ("coordinate", 16, true) },
            ["attention56"] = new[] { ("soft-mask", 3, true) },
        };
        using var x = Image();
        foreach (var (name, kinds) in expect)
        {
            using var model = HookTests.Build(name);
            var cap = AttentionMaps.Capture(model, x);
            Assert.AreEqual(10, cap.Logits.Count, name);
            Assert.AreEqual(1.0, cap.Probabilities.Sum(), 1e-5, name);
            foreach (var (kind, count, spatial) in kinds)
            {
                int n = spatial ? cap.Spatial.Count(s => s.Kind == kind) : cap.Channel.Count(c => c.Kind == kind);
                Assert.AreEqual(count, n, $"{name}: {kind} maps");
            }
            foreach (var s in cap.Spatial)
                foreach (var v in s.Map.Values.ToArray())
                    Assert.IsTrue(v > 0 && v < 1, $"{name} {s.Module}: {v} is not a gate value");
            foreach (var c in cap.Channel)
                foreach (var v in c.Series.SelectMany(se => se.Weights))
                    Assert.IsTrue(v > 0 && v < 1, $"{name} {c.Module}: {v}");
            Assert.IsFalse(model.NamedModules().Any(p => p.Value.HasHooks), $"{name}: hooks left behind");
        }
    }

    [TestMethod]
    public void CapturedMapsAreWhatTheLayersApply()
    {
        using var x = Image();
        // SE: out = in · w per channel
        using (var model = HookTests.Build("seresnet50"))
        {
            var se = model.NamedModules().First(p => p.Key == "layer3.1.se").Value;
            float[]? input = null, output = null;
            using (se.RegisterForwardHook((m, i, o) => { input = AttentionMaps.Copy(i); output = AttentionMaps.Copy(o); }))
            {
                var w = AttentionMaps.Capture(model, x).Channel.Single(c => c.Module == "layer3.1.se").Series[0].Weights;
                int hw = input!.Length / w.Count;
                for (int i = 0; i < input.Length; i += 7) Assert.AreEqual(input[i] * w[i / hw], output![i], 1e-5f * (1 + Math.Abs(output[i])), $"SE element {i}");
            }
        }
        // PSA: the four branch shares of every channel sum to 1
        using (var model = HookTests.Build("epsanet50"))
        {
            var psa = AttentionMaps.Capture(model, x).Channel.First(c => c.Kind == "psa");
            Assert.AreEqual(4, psa.Series.Count);
            for (int j = 0; j < psa.Series[0].Weights.Count; j++) Assert.AreEqual(1.0, psa.Series.Sum(s => s.Weights[j]), 1e-5, $"channel {j}");
        }
        // CBAM spatial gate: out = in · map at every position; CA: out = in · a_h · a_w, averaged over channels = the map for a constant input ratio
        using (var model = HookTests.Build("cbam_resnet50"))
        {
            var gate = model.NamedModules().First(p => p.Key == "layer1.0.cbam.SpatialGate").Value;
            float[]? input = null, output = null;
            using (gate.RegisterForwardHook((m, i, o) => { input = AttentionMaps.Copy(i); output = AttentionMaps.Copy(o); }))
            {
                var map = AttentionMaps.Capture(model, x).Spatial.Single(s => s.Module == "layer1.0.cbam.SpatialGate").Map;
                Assert.AreEqual((28, 28), (map.Height, map.Width), "stage 1 of the small-image form is at full resolution");
                int hw = map.Width * map.Height;
                for (int i = 0; i < input!.Length; i += 5) Assert.AreEqual(input[i] * map.Values[i % hw], output![i], 1e-5f * (1 + Math.Abs(output[i])), $"CBAM element {i}");
            }
        }
        using (var model = HookTests.Build("ca_resnet50"))
        {
            var maps = AttentionMaps.Capture(model, x);
            var ah = maps.Reported.First(r => r.Name == "attention_h");
            var aw = maps.Reported.First(r => r.Module == ah.Module && r.Name == "attention_w");
            var ca = maps.Spatial.First(s => s.Module == ah.Module).Map;
            int c = ah.Shape[0], h = ah.Shape[1], w = aw.Shape[2];
            double expected = Enumerable.Range(0, c).Average(k => ah.Values[k * h + 2] * aw.Values[k * w + 3]);
            Assert.AreEqual(expected, ca[2, 3], 1e-6, "CA map = mean over channels of a_h ⊗ a_w");
        }
    }

    [TestMethod]
    public void GradCamEqualsPyTorchOnAFixedNetwork()
    {
        var fx = Fixtures.Load("viz/gradcam.safetensors");
        using var model = new Sequential(new Conv2d(3, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new Conv2d(8, 16, 3, stride: 2, padding: 1), new ReLU(),
            new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 5));
        model.LoadStateDict(fx.Where(p => p.Key.StartsWith("sd/", StringComparison.Ordinal)).Select(p => new KeyValuePair<string, Tensor>(p.Key[3..], p.Value)));
        model.Eval();
        var x = fx["x"];
        foreach (var (name, layer, target) in new[] { ("default", (string?)null, (int?)null), ("layer2_class3", "2", 3) })
        {
            var r = GradCam.Compute(model, x, target, layer);
            Assert.AreEqual(name == "default" ? "4" : "2", r.Layer.Module, "the default layer is the last ReLU before pooling");
            Assert.AreEqual((int)fx[$"{name}/target"].Item(), r.TargetClass, name);
            AssertClose(fx[$"{name}/logits"], r.Logits.ToArray(), 1e-5, $"{name} logits");
            AssertClose(fx[$"{name}/alpha"], r.ChannelWeights.ToArray(), 1e-4, $"{name} alpha");
            AssertClose(fx[$"{name}/cam"], r.Cam.ToArray(), 1e-4, $"{name} cam");
            AssertClose(fx[$"{name}/normalized"], r.Normalized.ToArray(), 1e-4, $"{name} normalized");
            AssertClose(fx[$"{name}/upsampled"], r.Upsampled.ToArray(), 1e-4, $"{name} upsampled");
            Assert.AreEqual((12, 12), (r.Upsampled.Height, r.Upsampled.Width));
        }
        Assert.IsFalse(model.IsTraining, "eval mode kept");
    }

    private static void AssertClose(Tensor expected, float[] actual, double rtol, string what)
    {
        var e = expected.To(DType.Float32).ToArray<float>();
        Assert.AreEqual(e.Length, actual.Length, $"{what}: length");
        double scale = Math.Max(1e-6, e.Max(v => Math.Abs((double)v)));
        for (int i = 0; i < e.Length; i++) Assert.AreEqual(e[i], actual[i], rtol * scale, $"{what}[{i}]");
    }

    [TestMethod]
    public void GradCamOfATrainedNetworkPeaksWhereTheEvidenceIs()
    {
        // Class 1: a bright 4x4 square somewhere in a 16x16 noise image; class 0: noise only.
        TorchRuntime.ManualSeed(11);
        var rnd = new Random(11);
        (Tensor X, Tensor Y) Batch(int n, (int Y, int X)? at = null)
        {
            var px = new float[n * 16 * 16];
            var labels = new long[n];
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < 256; j++) px[i * 256 + j] = (float)(rnd.NextDouble() * 0.3);
                labels[i] = at is null ? rnd.Next(2) : 1;
                if (labels[i] == 0) continue;
                var (sy, sx) = at ?? (rnd.Next(13), rnd.Next(13));
                for (int y = sy; y < sy + 4; y++) for (int x = sx; x < sx + 4; x++) px[i * 256 + y * 16 + x] = 1;
            }
            return (Tensor.FromArray<float>(px, new long[] { n, 1, 16, 16 }), Tensor.FromArray<long>(labels, new long[] { n }));
        }
        using var model = new Sequential(new Conv2d(1, 8, 3, padding: 1), new ReLU(), new Conv2d(8, 8, 3, padding: 1), new ReLU(),
            new AdaptiveAvgPool2d(1), new Flatten(), new Linear(8, 2));
        using (var opt = new SGD(model.Parameters(), 0.1, momentum: 0.9))
            for (int step = 0; step < 150; step++)
            {
                using var scope = Tensor.NewDisposeScope();
                var (bx, by) = Batch(32);
                opt.ZeroGrad();
                F.CrossEntropy(model.Forward(bx), by).Backward();
                opt.Step();
            }
        model.Eval();
        int hits = 0;
        foreach (var at in new[] { (2, 2), (10, 3), (5, 11), (11, 11), (0, 7) })
        {
            using var scope = Tensor.NewDisposeScope();
            var (img, _) = Batch(1, at);
            var r = GradCam.Compute(model, img, targetClass: 1);
            Assert.AreEqual(1, r.Predicted, $"square at {at} is recognised");
            var (py, px) = r.Upsampled.ArgMax();
            if (py >= at.Item1 - 1 && py <= at.Item1 + 4 && px >= at.Item2 - 1 && px <= at.Item2 + 4) hits++;
        }
        Assert.AreEqual(5, hits, "the CAM peak lies on (or next to) the square every time");
    }

    [TestMethod]
    [DynamicData(nameof(HookTests.Models), typeof(HookTests))]
    public void GradCamWorksOnEveryAttentionBackbone(string name)
    {
        using var model = HookTests.Build(name);
        model.Train();
        using var x = Image();
        var r = GradCam.Compute(model, x);
        Assert.IsTrue(r.Layer.Height > 1 && r.Layer.Width > 1, $"{name}: layer {r.Layer}");
        Assert.AreEqual((28, 28), (r.Upsampled.Height, r.Upsampled.Width));
        Assert.IsTrue(r.Upsampled.Values.ToArray().All(v => v >= 0 && v <= 1), name);
        Assert.AreEqual(r.Predicted, r.TargetClass);
        Assert.AreEqual(r.Layer.Channels, r.ChannelWeights.Count);
        Assert.IsTrue(model.NamedModules().All(p => p.Value.IsTraining), $"{name}: training mode restored");
        var other = GradCam.Compute(model, x, targetClass: (r.TargetClass + 1) % 10, layer: r.Layer.Module);
        Assert.AreEqual(r.Layer, other.Layer);
        CollectionAssert.AreNotEqual(r.ChannelWeights.ToArray(), other.ChannelWeights.ToArray(), $"{name}: another class, other weights");
    }

    [TestMethod]
    public void GradCamErrorsNameTheProblem()
    {
        using var model = HookTests.Build("seresnet50");
        using var x = Image();
        var e = Assert.ThrowsExactly<ArgumentException>(() => GradCam.Compute(model, x, layer: "layer9"));
        StringAssert.Contains(e.Message, "'layer9'");
        StringAssert.Contains(e.Message, "layer4.2");
        e = Assert.ThrowsExactly<ArgumentException>(() => GradCam.Compute(model, x, layer: "avgpool"));
        StringAssert.Contains(e.Message, "no 4-D feature map");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => GradCam.Compute(model, x, targetClass: 10));
        using var batch = Tensor.Randn(new long[] { 2, 1, 28, 28 });
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => GradCam.Compute(model, batch)).Message, "one (C, H, W)");
        Assert.AreEqual("layer4", GradCam.FeatureLayers(model, x)[^1].Module, "the last stage (a Sequential, which fires its hooks)");
    }
}
