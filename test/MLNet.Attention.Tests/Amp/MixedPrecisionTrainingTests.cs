using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Trainers;
using MLNet.Attention.Tests.Trainers;
using static MLNet.Attention.Tests.Trainers.TrainingTestData;

namespace MLNet.Attention.Tests.Amp;

/// <summary>
/// <see cref="TrainingSettings.MixedPrecision"/> in the training engine on the CPU: bfloat16 autocast around the forward
/// passes of training, validation and prediction (and nowhere with None), a model that learns in bfloat16, float16
/// refused on the CPU with an error naming the option, the setting in the checkpoint's fingerprint; and device selection
/// without a GPU.
/// </summary>
[TestClass]
public sealed class MixedPrecisionTrainingTests : OneThreadTest
{
    private static TrainingSettings Base => new()
    {
        BatchSize = 32, MaxEpoch = 2, LearningRate = 0.05, WeightDecay = 5e-4, Seed = 3, Workers = 2,
    };

    /// <summary>Records, for every forward pass, whether CPU autocast was on, its dtype, and the dtype of the logits.</summary>
    private static HookedModel Watched(List<(bool Training, bool Autocast, DType Logits)> seen)
    {
        var model = new HookedModel(NewModel());
        model.OnForward = (_, y) =>
        {
            seen.Add((model.IsTraining, TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), y.DType));
            return y;
        };
        return model;
    }

    [TestMethod]
    public void BFloat16TrainsUnderAutocastAndTheLossDecreases()
    {
        AutocastTests.SkipWhereTheOneDnnCapHidesItsBFloat16Convolution();
        var seen = new List<(bool Training, bool Autocast, DType Logits)>();
        using var model = Watched(seen);
        var result = new TrainingEngine(Base with { MaxEpoch = 3, MixedPrecision = MixedPrecision.BFloat16 })
            .Fit(model, Train, Validation, TrainPipeline, EvalPipeline);
        var h = result.History;
        Assert.IsLessThan(h[0].TrainLoss, h[2].TrainLoss, $"bfloat16 train loss {h[0].TrainLoss} -> {h[2].TrainLoss}");
        Assert.IsGreaterThan(0.4, h[2].ValidationAccuracy!.Value, "it learns: well above chance after 3 epochs");
        Assert.IsTrue(seen.Any(s => s.Training) && seen.Any(s => !s.Training), "training and validation passes");
        Assert.IsTrue(seen.All(s => s.Autocast && s.Logits == DType.BFloat16), "every forward pass (training and validation) ran under bfloat16 autocast");
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "autocast is off after Fit");
        foreach (var (name, p) in model.NamedParameters())
            Assert.AreEqual(DType.Float32, p.DType, $"{name}: the weights stay float32");

        seen.Clear();
        var probs = TrainingEngine.PredictProbabilities(model, Validation, EvalPipeline, 64, Device.Cpu, mixedPrecision: MixedPrecision.BFloat16);
        Assert.IsTrue(seen.Count == 2 && seen.All(s => s.Autocast), "prediction under autocast");
        for (int i = 0; i < Validation.Count; i++)
            Assert.AreEqual(1.0, probs.AsSpan(i * 10, 10).ToArray().Sum(), 1e-5, $"row {i}: float32 probabilities sum to 1");
    }

    [TestMethod]
    public void NoneNeverEntersAutocast()
    {
        var seen = new List<(bool Training, bool Autocast, DType Logits)>();
        using var model = Watched(seen);
        using var twin = NewModel();
        new TrainingEngine(Base with { MaxEpoch = 1 }).Fit(model, Train, Validation, TrainPipeline, EvalPipeline);
        Assert.IsTrue(seen.Count > 0 && seen.All(s => !s.Autocast && s.Logits == DType.Float32), "float32 everywhere");
        // The same run with MixedPrecision spelled out is the same run, bit for bit.
        new TrainingEngine(Base with { MaxEpoch = 1, MixedPrecision = MixedPrecision.None }).Fit(twin, Train, Validation, TrainPipeline, EvalPipeline);
        Assert.IsTrue(SameWeights(Snapshot(model), Snapshot(twin)));
    }

    [TestMethod]
    public void Float16OnTheCpuIsAClearError()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new TrainingEngine(Base with { MixedPrecision = MixedPrecision.Float16 }));
        StringAssert.Contains(e.Message, "MixedPrecision = Float16 needs a CUDA device");
        StringAssert.Contains(e.Message, "BFloat16");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TrainingEngine(Base with { MixedPrecision = (MixedPrecision)7 }));

        if (TorchRuntime.CudaDeviceCount > 0) return;
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new Row
        {
            Image = MLNet.Attention.Transforms.ImageData.Create(28, 28, 1), Label = (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).ToList());
        var trainer = ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
        {
            SmallImage = true, WidthMultiplier = 0.125, MaxEpoch = 1, BatchSize = 4, Workers = 0, MixedPrecision = MixedPrecision.Float16,
        });
        var fit = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.ExtractPixels("Features", "Image").Append(trainer).Fit(data));
        StringAssert.Contains(fit.Message, "MixedPrecision = Float16");
    }

    [TestMethod]
    public void TheCheckpointRemembersMixedPrecision()
    {
        AutocastTests.SkipWhereTheOneDnnCapHidesItsBFloat16Convolution();
        using var dir = new TempFolder();
        using (var model = NewModel())
            new TrainingEngine(Base with { MaxEpoch = 1, MixedPrecision = MixedPrecision.BFloat16, CheckpointDirectory = dir.Path })
                .Fit(model, Train, null, TrainPipeline, EvalPipeline);
        using var again = NewModel();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            new TrainingEngine(Base with { MaxEpoch = 1, CheckpointDirectory = dir.Path }).Fit(again, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e.Message, "MixedPrecision: BFloat16 in the checkpoint");
        using var resumed = NewModel();
        var result = new TrainingEngine(Base with { MaxEpoch = 1, MixedPrecision = MixedPrecision.BFloat16, CheckpointDirectory = dir.Path })
            .Fit(resumed, Train, null, TrainPipeline, EvalPipeline);
        Assert.IsTrue(result.ResumedFromCheckpoint, "the same setting resumes");
    }

    [TestMethod]
    public void AGpuIdWithoutFallbackOnACpuMachineNamesWhatWasFound()
    {
        if (TorchRuntime.CudaDeviceCount > 0) Assert.Inconclusive("this machine has a GPU");
        var ml = new MLContext { GpuDeviceId = 0, FallbackToCpu = false };
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => _ = ml.Device);
        StringAssert.Contains(e.Message, "GpuDeviceId = 0");
        StringAssert.Contains(e.Message, "FallbackToCpu = false");
        StringAssert.Contains(e.Message, "no CUDA device is available");
        StringAssert.Contains(e.Message, $"libtorch {TorchRuntime.Version}");
        var engine = Assert.ThrowsExactly<InvalidOperationException>(() =>
            new TrainingEngine(Base with { Device = Device.Cuda(0) }).Fit(NewModel(), Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(engine.Message, "0 CUDA device(s) are available");
    }

    /// <summary>An in-memory image row.</summary>
    public sealed class Row
    {
        [MLNet.Attention.Data.ImageType(28, 28, Channels = 1)]
        public MLNet.Attention.Transforms.ImageData Image { get; set; } = MLNet.Attention.Transforms.ImageData.Create(1, 1, 1);
        public string Label { get; set; } = "";
    }
}
