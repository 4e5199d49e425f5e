using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// Every catalog trainer fits one short epoch on a tiny Fashion-MNIST subset (small-image form, reduced width) and
/// scores; the options that change what is trained (validation, early stopping, pretrained weights with a new head,
/// a frozen backbone, integer labels) do what they say.
/// </summary>
[TestClass]
public sealed class TrainerTests
{
    private static readonly Lazy<List<(ImageData Image, string Label)>> s_rows = new(() =>
    {
        var idx = IdxDataset.FashionMnist(train: true).Take(48);
        int px = idx.Width * idx.Height;
        return Enumerable.Range(0, idx.Count)
            .Select(i => (new ImageData(idx.Width, idx.Height, 1, idx.Images.AsSpan(i * px, px).ToArray()), idx.ClassNames[idx.Labels[i]])).ToList();
    });

    /// <summary>A labelled in-memory image.</summary>
    public sealed class ImageRow
    {
        [ImageType(28, 28, Channels = 1)]
        public ImageData Image { get; set; } = ImageData.Create(1, 1, 1);
        public string Label { get; set; } = "";
    }

    /// <summary>An image with an integer label.</summary>
    public sealed class IntLabelRow
    {
        [ImageType(28, 28, Channels = 1)]
        public ImageData Image { get; set; } = ImageData.Create(1, 1, 1);
        public int Label { get; set; }
    }

    private sealed class IntPrediction
    {
        public int Label { get; set; }
        public int PredictedLabel { get; set; }
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    private static IDataView Tiny(MLContext ml, int count = 48, int classes = 10)
    {
        var names = s_rows.Value.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).Take(classes).ToHashSet();
        return ml.Data.LoadFromEnumerable(s_rows.Value.Where(r => names.Contains(r.Label)).Take(count).Select(r => new ImageRow { Image = r.Image, Label = r.Label }).ToList());
    }

    private static AttentionBackboneTrainer.Options Fast(int epochs = 1) => new()
    {
        SmallImage = true, WidthMultiplier = 0.25, MaxEpoch = epochs, BatchSize = 16, LearningRate = 0.02, Workers = 0,
    };

    private static IEstimator<ITransformer> Features(MLContext ml) =>
        ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255);

    public static IEnumerable<object[]> Trainers() => new[]
    {
        new object[] { "EpsaNet", "epsanet50" }, new object[] { "SeResNet", "seresnet50" }, new object[] { "CbamResNet", "cbam_resnet50" },
        new object[] { "BamResNet", "bam_resnet50" }, new object[] { "EcaResNet", "eca_resnet50" }, new object[] { "ResidualAttention", "attention56" },
        new object[] { "CoordAttention", "mobilenetv2_ca" }, new object[] { "BotNet", "botnet50" }, new object[] { "MobileViTv2", "mobilevitv2_050" },
        new object[] { "C2fCa", "c2f_ca_cls_n" },
    };

    private static AttentionBackboneTrainer ByName(MLContext ml, string name, AttentionBackboneTrainer.Options o)
    {
        var t = ml.MulticlassClassification.Trainers;
        return name switch
        {
            "EpsaNet" => t.EpsaNet(o), "SeResNet" => t.SeResNet(o), "CbamResNet" => t.CbamResNet(o), "BamResNet" => t.BamResNet(o),
            "EcaResNet" => t.EcaResNet(o), "ResidualAttention" => t.ResidualAttention(o), "CoordAttention" => t.CoordAttention(o),
            "BotNet" => t.BotNet(o), "MobileViTv2" => t.MobileViTv2(o), "C2fCa" => t.C2fCa(o),
            _ => throw new ArgumentException(name),
        };
    }

    [TestMethod]
    [DynamicData(nameof(Trainers))]
    public void EveryTrainerFitsOneEpochAndScores(string trainer, string arch)
    {
        var ml = new MLContext(seed: 3);
        var data = Tiny(ml, count: 32);
        var epochs = new List<EpochMetrics>();
        var o = Fast();
        o.MetricsCallback = epochs.Add;
        var model = Features(ml).Append(ByName(ml, trainer, o)).Fit(data);
        var backbone = model.LastTransformer;
        Assert.AreEqual(arch, backbone.Architecture, $"{trainer} trains {arch} by default");
        Assert.HasCount(1, epochs);
        Assert.IsTrue(double.IsFinite(epochs[0].TrainLoss) && epochs[0].TrainLoss > 0, $"{trainer}: train loss {epochs[0].TrainLoss}");
        Assert.IsNotNull(backbone.TrainingResult);
        Assert.AreEqual(1, backbone.TrainingResult.History.Count);

        var scored = model.Transform(data);
        var score = scored.Schema["Score"];
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, backbone.Labels.Count), score.Type);
        CollectionAssert.AreEqual(backbone.Labels.ToArray(), score.GetSlotNames()!.ToArray(), "the class names are the Score column's slot names");
        var rows = scored.GetColumn<float[]>("Score").ToList();
        Assert.HasCount(32, rows);
        Assert.IsTrue(rows.All(r => Math.Abs(r.Sum() - 1) < 1e-4 && r.All(float.IsFinite)), $"{trainer}: probabilities");
        var predicted = scored.GetColumn<string>("PredictedLabel").ToList();
        Assert.IsTrue(predicted.All(backbone.Labels.Contains), "predicted labels are class names");
    }

    [TestMethod]
    public void AttentionBackboneTrainsAnyRegisteredModelAndChecksTheFamily()
    {
        var ml = new MLContext(seed: 4);
        var o = Fast();
        o.Arch = "gc_resnet50";
        var model = Features(ml).Append(ml.MulticlassClassification.Trainers.AttentionBackbone(o)).Fit(Tiny(ml, 16));
        Assert.AreEqual("gc_resnet50", model.LastTransformer.Architecture);

        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.MulticlassClassification.Trainers.AttentionBackbone(Fast()));
        StringAssert.Contains(e.Message, "seresnet50", "the error lists the registry names");
        var wrongFamily = Fast();
        wrongFamily.Arch = "epsanet50";
        e = Assert.ThrowsExactly<ArgumentException>(() => ml.MulticlassClassification.Trainers.SeResNet(wrongFamily));
        StringAssert.Contains(e.Message, "AttentionBackbone");
        var unknown = Fast();
        unknown.Arch = "resnet9000";
        e = Assert.ThrowsExactly<ArgumentException>(() => ml.MulticlassClassification.Trainers.AttentionBackbone(unknown));
        StringAssert.Contains(e.Message, "resnet9000");
    }

    [TestMethod]
    public void ValidationFractionFeedsValidationMetricsAndEarlyStoppingKeepsTheBest()
    {
        var ml = new MLContext(seed: 5);
        var epochs = new List<EpochMetrics>();
        var o = Fast(epochs: 3);
        o.Arch = "resnet18";
        o.ValidationSetFraction = 0.25f;
        o.EarlyStoppingCriteria = new EarlyStopping(patience: 1, EarlyStoppingMetric.ValidationLoss);
        o.MetricsCallback = epochs.Add;
        var model = Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(o)).Fit(Tiny(ml));
        Assert.IsTrue(epochs.Count is >= 1 and <= 3);
        Assert.IsTrue(epochs.All(m => m.ValidationLoss is not null && m.ValidationAccuracy is not null), "every epoch was validated");
        var r = model.LastTransformer.TrainingResult!;
        int best = epochs.Select((m, i) => (m.ValidationLoss!.Value, i + 1)).Min().Item2;
        Assert.AreEqual(best, r.BestEpoch, "early stopping keeps the epoch with the lowest validation loss");

        var noValidation = Fast();
        noValidation.EarlyStoppingCriteria = new EarlyStopping();
        var e = Assert.ThrowsExactly<ArgumentException>(() => Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(noValidation)).Fit(Tiny(ml, 16)));
        StringAssert.Contains(e.Message, "ValidationSet");
    }

    [TestMethod]
    public void ValidationSetWithAnUnseenLabelNamesIt()
    {
        var ml = new MLContext(seed: 6);
        var o = Fast();
        o.Arch = "resnet18";
        o.ValidationSet = Features(ml).Fit(Tiny(ml, 16)).Transform(Tiny(ml, 16));
        var train = Tiny(ml, 48, classes: 3);
        var e = Assert.ThrowsExactly<ImageDataException>(() => Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(o)).Fit(train));
        StringAssert.Contains(e.Message, "is not one of the 3 training classes");
    }

    [TestMethod]
    public void PretrainedWeightsLoadWithANewHeadAndFreezeBackboneKeepsThem()
    {
        var folder = EstimatorTestData.NewFolder("pretrained");
        var path = Path.Combine(folder, "resnet18-10.safetensors");
        var backboneOptions = new BackboneOptions(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.25);
        TorchRuntime.ManualSeed(123);
        using (var pre = ModelRegistry.Create("resnet18", backboneOptions)) pre.Save(path);
        var saved = SafeTensors.Read(path).ToDictionary(p => p.Key, p => p.Value);

        var ml = new MLContext(seed: 7);
        var logs = new List<string>();
        ml.Log += (_, e) => logs.Add(e.Message);
        var o = Fast();
        o.Arch = "resnet18";
        o.PretrainedWeightsPath = path;
        o.FreezeBackbone = true;
        var model = Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(o)).Fit(Tiny(ml, 48, classes: 3));
        var trained = model.LastTransformer;
        Assert.HasCount(3, trained.Labels);
        Assert.IsTrue(logs.Any(l => l.Contains("re-initialised", StringComparison.Ordinal) && l.Contains("fc.weight", StringComparison.Ordinal)), "the log says the head was re-initialised");
        int compared = 0;
        foreach (var (key, p) in trained.Model.NamedParameters())
        {
            if (key.StartsWith("fc.", StringComparison.Ordinal))
            {
                Assert.AreEqual(3L, p.Shape[0], "the head has one output per class of this data");
                Assert.IsFalse(p.ToRaw().Data.SequenceEqual(saved[key].Data) && p.Shape.SequenceEqual(saved[key].Shape), "the head was trained");
                continue;
            }
            CollectionAssert.AreEqual(saved[key].Data, p.ToRaw().Data, $"{key}: a frozen backbone keeps the pretrained weights");
            compared++;
        }
        Assert.IsGreaterThan(10, compared);

        var wrong = Fast();
        wrong.Arch = "resnet34";
        wrong.PretrainedWeightsPath = path;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(wrong)).Fit(Tiny(ml, 16)));
        StringAssert.Contains(e.Message, "do not fit resnet34");
    }

    [TestMethod]
    public void IntegerLabelsPredictIntegers()
    {
        var ml = new MLContext(seed: 8);
        var rows = s_rows.Value.Take(32).Select(r => new IntLabelRow { Image = r.Image, Label = Array.IndexOf(IdxDataset.FashionMnistClasses.ToArray(), r.Label) }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var o = Fast();
        o.Arch = "resnet18";
        var model = Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(o)).Fit(data);
        var scored = model.Transform(data);
        Assert.AreEqual(NumberDataViewType.Int32, scored.Schema["PredictedLabel"].Type, "PredictedLabel has the label column's type");
        var labels = model.LastTransformer.Labels.Select(int.Parse).ToArray();
        CollectionAssert.AreEqual(labels.Order().ToArray(), labels, "integer classes are in numeric order");
        var predictions = ml.Data.CreateEnumerable<IntPrediction>(scored).ToList();
        Assert.IsTrue(predictions.All(p => labels.Contains(p.PredictedLabel)));
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.AreEqual(predictions.Count(p => p.PredictedLabel == p.Label) / (double)predictions.Count, metrics.MicroAccuracy, 1e-12);
    }

    [TestMethod]
    public void TheSameSeedTrainsTheSameModelAndACheckpointResumes()
    {
        float[][] Scores(int seed, string? checkpoints, out AttentionBackboneTransformer backbone)
        {
            var ml = new MLContext(seed: seed);
            var o = Fast(epochs: 2);
            o.Arch = "resnet18";
            o.Workers = 2;
            o.CheckpointDirectory = checkpoints;
            var model = Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(o)).Fit(Tiny(ml, 32));
            backbone = model.LastTransformer;
            return model.Transform(Tiny(ml, 32)).GetColumn<float[]>("Score").ToArray();
        }

        var a = Scores(9, null, out _);
        var b = Scores(9, null, out _);
        var c = Scores(10, null, out _);
        for (int i = 0; i < a.Length; i++) CollectionAssert.AreEqual(a[i], b[i], $"row {i}: a seeded context trains deterministically on the CPU");
        Assert.IsFalse(a.Zip(c).All(p => p.First.SequenceEqual(p.Second)), "another seed, another model");

        var folder = EstimatorTestData.NewFolder("checkpoints");
        var first = Scores(9, folder, out var trained);
        Assert.IsFalse(trained.TrainingResult!.ResumedFromCheckpoint);
        Assert.IsTrue(File.Exists(Path.Combine(folder, TrainingEngine.CheckpointFileName)), "a checkpoint is written per epoch");
        var again = Scores(9, folder, out var resumed);
        Assert.IsTrue(resumed.TrainingResult!.ResumedFromCheckpoint, "Fit resumes from the checkpoint directory");
        Assert.HasCount(2, resumed.TrainingResult.History, "the history comes from the checkpoint");
        for (int i = 0; i < first.Length; i++) CollectionAssert.AreEqual(first[i], again[i], $"row {i}: the resumed model is the checkpointed one");
    }

    [TestMethod]
    public void GpuDeviceIdWithoutFallbackNeedsAGpu()
    {
        var ml = new MLContext(seed: 1) { GpuDeviceId = 7, FallbackToCpu = false };
        if (TorchRuntime.CudaDeviceCount > 7) Assert.Inconclusive("this machine has 8 GPUs");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => Features(ml).Append(ml.MulticlassClassification.Trainers.SeResNet(Fast())).Fit(Tiny(ml, 16)));
        StringAssert.Contains(e.Message, "GpuDeviceId = 7");
        ml.FallbackToCpu = true;
        Assert.AreEqual(TorchRuntime.CudaDeviceCount > 7 ? Device.Cuda(7) : Device.Cpu, ml.Device, "with the fallback, the CPU");
    }
}
