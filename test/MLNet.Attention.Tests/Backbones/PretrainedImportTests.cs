using System.Text.Json;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Backbones.Pretrained;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// torchvision and timm checkpoints, saved as their hubs save them (test/reference/make_pretrained_fixtures.py:
/// torchvision's legacy .pth without num_batches_tracked, timm's model.safetensors and .pth), load into the registry
/// models with no renaming, and the models then predict what the reference predicts, and pool the same features.
/// </summary>
[TestClass]
public sealed class PretrainedImportTests
{
    private const double Tol = 1e-4;
    private const string Expected = "pretrained/expected.safetensors";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> MetadataCache = new(() =>
    {
        SafeTensors.Read(Fixtures.PathOf("pretrained", "expected.safetensors"), out var metadata);
        return metadata;
    });

    private static IReadOnlyDictionary<string, string> Meta => MetadataCache.Value;

    public static IEnumerable<object[]> Checkpoints =>
        Meta.Where(p => p.Key.EndsWith("/config", StringComparison.Ordinal))
            .SelectMany(p =>
            {
                string name = p.Key[..^"/config".Length];
                using var doc = JsonDocument.Parse(p.Value);
                return doc.RootElement.GetProperty("files").EnumerateArray().Select(f => new object[] { name, f.GetString()! }).ToList();
            })
            .OrderBy(a => (string)a[1], StringComparer.Ordinal);

    public static IEnumerable<object[]> FullLayouts =>
        Meta.Keys.Where(k => k.StartsWith("FULL/", StringComparison.Ordinal)).Select(k => new object[] { k.Split('/')[1] }).OrderBy(a => (string)a[0], StringComparer.Ordinal);

    private static (string Model, double Width) ConfigOf(string name)
    {
        using var doc = JsonDocument.Parse(Meta[$"{name}/config"]);
        return (doc.RootElement.GetProperty("model").GetString()!, doc.RootElement.GetProperty("width").GetDouble());
    }

    [TestMethod]
    public void FixturesCoverTorchvisionAndTimmInBothFormats()
    {
        var files = Checkpoints.Select(a => (string)a[1]).ToList();
        Assert.IsTrue(files.Count(f => f.StartsWith("tv_", StringComparison.Ordinal)) >= 3, string.Join(", ", files));
        Assert.IsTrue(files.Any(f => f.StartsWith("timm_", StringComparison.Ordinal) && f.EndsWith(".safetensors", StringComparison.Ordinal)));
        Assert.IsTrue(files.Any(f => f.StartsWith("timm_", StringComparison.Ordinal) && f.EndsWith(".pth", StringComparison.Ordinal)));
    }

    [TestMethod]
    [DynamicData(nameof(Checkpoints))]
    public void HubCheckpointLoadsAndPredictsAsTheReference(string name, string file)
    {
        var (arch, width) = ConfigOf(name);
        using var model = ModelRegistry.Create(arch, new BackboneOptions(NumClasses: 10, InChannels: 3, WidthMultiplier: width));
        var weights = new PretrainedWeights(Fixtures.PathOf("pretrained", file));
        Assert.AreEqual(PretrainedSource.File, weights.Source);
        var report = weights.LoadInto(model);
        Assert.IsTrue(report.IsClean, $"{file}: {report}");

        var fx = Fixtures.Load(Expected);
        model.Eval();
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        var x = fx[$"{name}/x"].To(DType.Float32);
        var probs = Functional.Softmax(model.Forward(x), 1);
        Fixtures.AssertClose(fx[$"{name}/probs"], probs, Tol, $"{file}: probabilities");
        var features = ((IFeatureBackbone)model).ForwardFeatures(x);
        Fixtures.AssertClose(fx[$"{name}/features"], features, Tol, $"{file}: pooled features");
    }

    [TestMethod]
    [DynamicData(nameof(FullLayouts))]
    public void FullSizeRegistryModelHasTheHubsKeysAndShapes(string arch)
    {
        using var model = ModelRegistry.Create(arch);
        var mine = string.Join(",", model.StateDict().Select(p => $"{p.Key}:{string.Join('x', p.Value.Shape)}"));
        var expected = Meta[$"FULL/{arch}/keys"].Split(',');
        var actual = mine.Split(',');
        var missing = expected.Except(actual).Take(5).ToList();
        var extra = actual.Except(expected).Take(5).ToList();
        Assert.AreEqual(string.Join(",", expected), mine, $"{arch}: missing {string.Join(" ", missing)}; extra {string.Join(" ", extra)}");
    }

    [TestMethod]
    public void MissingNumBatchesTrackedIsOptionalEverythingElseIsReported()
    {
        // The torchvision fixture lacks every num_batches_tracked (as torchvision's legacy files do): clean.
        using var model = ModelRegistry.Create("resnet18", new BackboneOptions(NumClasses: 10, WidthMultiplier: 1.0 / 16));
        var weights = new PretrainedWeights(Fixtures.PathOf("pretrained", "tv_resnet18.pth"));
        Assert.IsTrue(weights.LoadInto(model).IsClean);

        // Into another architecture: strict throws naming the file and the keys, and copies nothing.
        using var other = ModelRegistry.Create("resnet18d", new BackboneOptions(NumClasses: 10, WidthMultiplier: 1.0 / 16));
        var before = other.StateDict().Select(p => p.Value.ToBytes()).ToList();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => weights.LoadInto(other));
        StringAssert.Contains(e.Message, "tv_resnet18.pth");
        StringAssert.Contains(e.Message, "missing keys: conv1.0.weight");
        StringAssert.Contains(e.Message, "unexpected keys: conv1.weight");
        CollectionAssert.AreEqual(before.SelectMany(b => b).ToArray(), other.StateDict().SelectMany(p => p.Value.ToBytes()).ToArray());

        // A head of another class count is skipped by the caller's filter, the rest loads.
        using var five = ModelRegistry.Create("resnet18", new BackboneOptions(NumClasses: 5, WidthMultiplier: 1.0 / 16));
        var strictError = Assert.ThrowsExactly<InvalidOperationException>(() => weights.LoadInto(five));
        StringAssert.Contains(strictError.Message, "fc.weight (module [5, 32], state dict [10, 32])");
        Assert.IsTrue(weights.LoadInto(five, ignore: k => k.StartsWith("fc.", StringComparison.Ordinal)).IsClean);
    }

    [TestMethod]
    public void ADataParallelCheckpointLikeTheOfficialEpsaNetReleaseLoads()
    {
        // murufeng/EPSANet saves {'state_dict': model.state_dict()} of a DataParallel model: every key starts with
        // "module." (the torch.save form of that wrapping is read in ModuleWeightsImportTests; its full-size layout is
        // checked in BackboneParityTests).
        var options = new BackboneOptions(NumClasses: 10, WidthMultiplier: 0.25);
        TorchRuntime.ManualSeed(5);
        using var source = ModelRegistry.Create("epsanet14", options);
        var dir = Directory.CreateTempSubdirectory("mlnet-epsanet-");
        try
        {
            string path = Path.Combine(dir.FullName, "epsanet14_module.safetensors");
            TensorSerialization.SaveSafeTensors(path, source.StateDict().Select(p => new KeyValuePair<string, Tensor>("module." + p.Key, p.Value)));
            TorchRuntime.ManualSeed(6);
            using var target = ModelRegistry.Create("epsanet14", options);
            Assert.IsTrue(new PretrainedWeights(path).LoadInto(target).IsClean);
            foreach (var ((k, a), (_, b)) in source.StateDict().Zip(target.StateDict()))
                CollectionAssert.AreEqual(a.ToBytes(), b.ToBytes(), k);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [TestMethod]
    public void KeyMapStripsWrappersOnlyWhenEveryKeyHasThem()
    {
        var wrapped = new List<KeyValuePair<string, int>> { new("module.conv.weight", 1), new("module.fc.bias", 2) };
        CollectionAssert.AreEqual(new[] { "conv.weight", "fc.bias" }, CheckpointKeyMap.Apply(wrapped).Select(p => p.Key).ToArray());
        var compiled = new List<KeyValuePair<string, int>> { new("_orig_mod.module.conv.weight", 1) };
        Assert.AreEqual("conv.weight", CheckpointKeyMap.Apply(compiled).Single().Key);
        var mixed = new List<KeyValuePair<string, int>> { new("module.conv.weight", 1), new("fc.bias", 2) };
        CollectionAssert.AreEqual(new[] { "module.conv.weight", "fc.bias" }, CheckpointKeyMap.Apply(mixed).Select(p => p.Key).ToArray());
        var c2f = new List<KeyValuePair<string, int>> { new("model.0.conv.weight", 1) };
        Assert.AreEqual("model.0.conv.weight", CheckpointKeyMap.Apply(c2f).Single().Key, "C2f's own 'model.' is no wrapper");
        Assert.IsTrue(CheckpointKeyMap.IsOptional("layer1.0.bn1.num_batches_tracked"));
        Assert.IsFalse(CheckpointKeyMap.IsOptional("layer1.0.bn1.running_var"));
    }

    [TestMethod]
    public void EveryKnownWeightsEntryNamesARegistryModelAndSanePreprocessing()
    {
        Assert.IsTrue(KnownWeights.All.Count >= 20);
        Assert.AreEqual(KnownWeights.All.Count, KnownWeights.All.Select(w => w.Name.ToLowerInvariant()).Distinct().Count(), "names are unique");
        foreach (var w in KnownWeights.All)
        {
            Assert.AreEqual(w.Architecture, ModelRegistry.Get(w.Architecture).Name, w.Name);
            Assert.AreEqual("https", w.Url.Scheme, w.Name);
            Assert.IsTrue(w.Name.StartsWith("timm/", StringComparison.Ordinal) || w.Name.StartsWith("torchvision/", StringComparison.Ordinal), w.Name);
            var p = w.Preprocessing;
            Assert.IsTrue(p.InputSize is >= 160 and <= 320 && p.CropPct is > 0.8 and <= 1.0, w.Name);
            Assert.AreEqual(3, p.Mean.Count);
            Assert.AreEqual(3, p.Std.Count);
            Assert.IsTrue(p.Interpolation is "bilinear" or "bicubic", w.Name);
        }
        // torchvision's own transforms: resize 256 (232 for the V2 weights), crop 224, bilinear, ImageNet mean/std
        var tv = KnownWeights.Find("torchvision/resnet50.IMAGENET1K_V2")!;
        Assert.AreEqual((224, 232, "bilinear"), (tv.Preprocessing.InputSize, tv.Preprocessing.ResizeSize, tv.Preprocessing.Interpolation));
        Assert.AreEqual("11ad3fa6", tv.Hash.Sha256Prefix);
        Assert.AreEqual(256, KnownWeights.Find("TORCHVISION/resnet18.IMAGENET1K_V1")!.Preprocessing.ResizeSize);
        var se = new PretrainedWeights("timm/seresnet50.a1_in1k");
        Assert.AreEqual((PretrainedSource.Known, "seresnet50_timm"), (se.Source, se.Architecture));
        Assert.AreEqual("https://huggingface.co/timm/seresnet50.a1_in1k/resolve/main/model.safetensors", se.Url!.ToString());
        Assert.AreEqual((224, 0.95, "bicubic"), (se.Preprocessing!.InputSize, se.Preprocessing.CropPct, se.Preprocessing.Interpolation));
        var mvit = KnownWeights.Find("timm/mobilevitv2_050.cvnets_in1k")!.Preprocessing;
        Assert.AreEqual((256, 0f, 1f), (mvit.InputSize, mvit.Mean[0], mvit.Std[0]));
    }

    [TestMethod]
    public void PreprocessingDifferencesAreNamed()
    {
        var p = KnownWeights.Find("timm/resnet50.a1_in1k")!.Preprocessing;
        Assert.AreEqual(0, p.Differences(224, new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f }).Count);
        var d = p.Differences(128, null, null);
        Assert.AreEqual(3, d.Count, string.Join("; ", d));
        StringAssert.Contains(d[0], "image size 128, the weights were trained at 224");
        StringAssert.Contains(d[1], "mean (0), the weights expect (0.485, 0.456, 0.406)");
        // ExtractPixels(scale) + NormalizeImage(offset): p/255 − mean) / std == p·scale − offset
        Assert.AreEqual((200 / 255.0 - 0.485) / 0.229, 200 * p.PixelScale[0] - p.PixelOffset[0], 1e-5);
    }

    [TestMethod]
    public void UnknownNamesAndMissingFilesAreClearErrors()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new PretrainedWeights("timm/seresnet51.nope"));
        StringAssert.Contains(e.Message, "unknown pretrained weights 'timm/seresnet51.nope'");
        StringAssert.Contains(e.Message, "timm/seresnet50.a1_in1k");
        var f = Assert.ThrowsExactly<FileNotFoundException>(() => new PretrainedWeights("/no/such/weights.pth"));
        StringAssert.Contains(f.Message, "/no/such/weights.pth");
        Assert.ThrowsExactly<ArgumentException>(() => new PretrainedWeights("https://example.org/"));
    }
}
