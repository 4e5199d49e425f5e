using MLNet.Attention.AutoML;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.AutoML;

/// <summary>
/// Backbone experiments for real on 300 Fashion-MNIST training and 100 test images with tiny small-image models
/// (width 0.125): a leaderboard and a savable best model, the same leaderboard on a rerun, a winner whose paused and
/// resumed training equals an uninterrupted run, log-loss ranking, the budget, cancellation and the settings' errors.
/// </summary>
[TestClass]
public sealed class BackboneExperimentTests : OneThreadTest
{
    private const int Seed = 5;

    private static readonly BackboneChoice[] Tiny =
    [
        new("resnet18", 0.125, SmallImage: true),
        new("resnet18", 0.125, Attention: "eca", SmallImage: true),
        new("mobilenetv2", 0.25, SmallImage: true),
    ];

    private static (MLContext Ml, IDataView Train, IDataView Validation, IEstimator<ITransformer> Features) Data()
    {
        var ml = new MLContext(seed: 1);
        var features = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.Transforms.NormalizeImage("Features", [0.286f], [0.353f]));
        return (ml, ml.Data.LoadFashionMnist(train: true, limit: 300), ml.Data.LoadFashionMnist(train: false, limit: 100), features);
    }

    private static BackboneExperimentSettings Settings(IProgress<BackboneTrialProgress>? progress = null) => new()
    {
        Backbones = Tiny.ToList(),
        LearningRates = [0.05],
        BatchSizes = [32],
        MaxEpochPerCandidate = 3,
        ReductionFactor = 3,
        MaxExperimentTime = TimeSpan.FromMinutes(30),
        Seed = Seed,
        Workers = 2,
        Progress = progress,
    };

    private sealed class Collect : IProgress<BackboneTrialProgress>
    {
        public List<BackboneTrialProgress> Events { get; } = new();
        public void Report(BackboneTrialProgress value) => Events.Add(value);
    }

    /// <summary>The first run, shared by the tests that compare with it.</summary>
    private static readonly Lazy<(BackboneExperimentResult Result, List<BackboneTrialProgress> Events)> s_first = new(() =>
    {
        var (ml, train, validation, features) = Data();
        var progress = new Collect();
        var result = ml.Auto().CreateBackboneExperiment(Settings(progress)).Execute(train, validation, features);
        return (result, progress.Events);
    });

    [TestMethod]
    public void SuccessiveHalvingGivesALeaderboardAndASavableBestModel()
    {
        var (result, events) = s_first.Value;
        foreach (var row in result.Leaderboard) Console.WriteLine(row);
        CollectionAssert.AreEqual(new[] { 1, 3 }, result.RungEpochs.ToArray(), "3 candidates, η 3, 3 epochs: rungs of 1 and 3 epochs");
        Assert.AreEqual(3, result.Leaderboard.Count);
        Assert.AreEqual(4, result.TrialCount, "3 first-rung trials and the winner's second rung");
        Assert.IsFalse(result.BudgetExhausted);
        Assert.IsNull(result.StopReason);
        Assert.AreEqual((300, 100), result.Images);

        var best = result.BestRun;
        Assert.AreEqual(1, best.Rank);
        Assert.AreEqual(BackboneRunStatus.Finished, best.Status);
        Assert.AreEqual(1, best.RungReached);
        Assert.AreEqual(3, best.EpochsTrained);
        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, best.History.Select(h => h.Epoch).ToArray(), "the winner's epochs, resumed, not restarted");
        foreach (var row in result.Leaderboard.Skip(1))
        {
            Assert.AreEqual(BackboneRunStatus.Eliminated, row.Status);
            Assert.AreEqual(0, row.RungReached);
            Assert.AreEqual(1, row.EpochsTrained);
            Assert.AreEqual(1, row.History.Count);
        }
        var second = result.Leaderboard[1];
        var third = result.Leaderboard[2];
        Assert.IsTrue(second.Metric >= third.Metric, "the eliminated ones by their rung-0 accuracy");
        // The winner led rung 0: its rung-0 accuracy (the progress report) is at least the others'.
        double winnerRung0 = events.Single(e => e.Event == BackboneTrialEvent.Completed && e.Rung == 0 && e.CandidateIndex == best.CandidateIndex).Metric!.Value;
        Assert.IsTrue(winnerRung0 >= second.Metric);
        foreach (var row in result.Leaderboard)
        {
            Assert.IsTrue(row.Metric is > 0 and <= 1, $"{row.Name}: {row.Metric}");
            Assert.AreEqual(row.Metric, row.ValidationMetrics!.MicroAccuracy);
            Assert.IsTrue(row.Parameters > 1000);
            Assert.IsTrue(row.GMacs is > 0 and < 1);
            Assert.IsTrue(row.TrainTime > TimeSpan.Zero);
            Assert.IsTrue(row.ImagesPerSecond > 0);
            Assert.IsNull(row.Exception);
        }
        Assert.IsTrue(best.Metric > 0.3, $"3 epochs on 300 images should beat chance (0.1) clearly: {best.Metric}");
        CollectionAssert.AreEquivalent(Tiny, result.Leaderboard.Select(r => r.Candidate.Backbone).ToArray());

        // Progress: every trial started, every epoch, every trial scored.
        Assert.AreEqual(4, events.Count(e => e.Event == BackboneTrialEvent.Started));
        Assert.AreEqual(5, events.Count(e => e.Event == BackboneTrialEvent.Epoch), "3 × 1 epoch + 2 more for the winner");
        Assert.AreEqual(4, events.Count(e => e.Event == BackboneTrialEvent.Completed));
        var resumed = events.Single(e => e.Event == BackboneTrialEvent.Started && e.Rung == 1);
        Assert.AreEqual(1, resumed.Epoch, "the second rung starts after epoch 1");
        Assert.AreEqual(3, resumed.TargetEpoch);
        Assert.IsTrue(events.Zip(events.Skip(1)).All(p => p.First.Elapsed <= p.Second.Elapsed));

        // The best model is the whole pipeline; saved, loaded and evaluated, it gives the winner's validation accuracy.
        var (ml, train, validation, _) = Data();
        Assert.AreEqual(best.Candidate.Backbone.Arch, result.BestBackbone.Architecture);
        string path = Path.Combine(Path.GetTempPath(), $"mlnet-automl-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(result.BestModel, train.Schema, path);
            var loaded = ml.Model.Load(path, out var schema);
            Assert.AreEqual("Image", schema[0].Name);
            var metrics = ml.MulticlassClassification.Evaluate(loaded.Transform(validation));
            Assert.AreEqual(best.ValidationMetrics!.MicroAccuracy, metrics.MicroAccuracy, 1e-9);
            Assert.AreEqual(best.ValidationMetrics.LogLoss, metrics.LogLoss, 1e-4);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void TheSameSeedGivesTheSameLeaderboard()
    {
        var first = s_first.Value.Result;
        var (ml, train, validation, features) = Data();
        using var again = ml.Auto().CreateBackboneExperiment(Settings()).Execute(train, validation, features);
        Assert.AreEqual(first.Leaderboard.Count, again.Leaderboard.Count);
        for (int i = 0; i < first.Leaderboard.Count; i++)
        {
            var (a, b) = (first.Leaderboard[i], again.Leaderboard[i]);
            Assert.AreEqual(a.Candidate, b.Candidate, $"row {i}");
            Assert.AreEqual(a.Metric, b.Metric, $"row {i}: bit-identical metrics");
            Assert.AreEqual(a.ValidationMetrics!.LogLoss, b.ValidationMetrics!.LogLoss);
            Assert.AreEqual(a.Status, b.Status);
            Assert.AreEqual(a.EpochsTrained, b.EpochsTrained);
            CollectionAssert.AreEqual(a.History.Select(h => h.TrainLoss).ToArray(), b.History.Select(h => h.TrainLoss).ToArray());
        }
        var wa = first.BestBackbone.Model.StateDict();
        var wb = again.BestBackbone.Model.StateDict();
        Assert.IsTrue(wa.Zip(wb).All(p => p.First.Key == p.Second.Key && p.First.Value.ToBytes().AsSpan().SequenceEqual(p.Second.Value.ToBytes())), "the same weights");
    }

    [TestMethod]
    public void TheWinnersPausedTrainingEqualsAnUninterruptedRun()
    {
        // The winner trained 1 epoch, paused while the others trained, and resumed for 2 more: the ordinary trainer
        // run for 3 epochs straight with the same settings must give the same weights, bit for bit.
        var result = s_first.Value.Result;
        var c = result.BestRun.Candidate;
        var (ml, train, _, features) = Data();
        var pipeline = features.Append(ml.MulticlassClassification.Trainers.AttentionBackbone(new AttentionBackboneTrainer.Options
        {
            Arch = c.Backbone.Arch, Attention = c.Backbone.Attention, WidthMultiplier = c.Backbone.WidthMultiplier, SmallImage = c.Backbone.SmallImage,
            MaxEpoch = 3, BatchSize = c.BatchSize, LearningRate = c.LearningRate, Seed = Seed, Workers = 2,
        }));
        using var straight = pipeline.Fit(train).LastTransformer;
        var a = straight.Model.StateDict();
        var b = result.BestBackbone.Model.StateDict();
        Assert.AreEqual(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.AreEqual(a[i].Key, b[i].Key);
            Assert.IsTrue(a[i].Value.ToBytes().AsSpan().SequenceEqual(b[i].Value.ToBytes()), $"'{a[i].Key}' differs");
        }
        CollectionAssert.AreEqual(straight.TrainingResult!.History.Select(h => h.TrainLoss).ToArray(), result.BestRun.History.Select(h => h.TrainLoss).ToArray());
        CollectionAssert.AreEqual(straight.TrainingResult.History.Select(h => h.LearningRate).ToArray(), result.BestRun.History.Select(h => h.LearningRate).ToArray(),
            "the cosine schedule over all 3 epochs, continued across the pause");
    }

    [TestMethod]
    public void ResumingACheckpointWithALargerMaxEpochIsRefusedByTheEngine()
    {
        // Why a candidate's run is laid over MaxEpochPerCandidate and paused, rather than re-run with MaxEpoch raised:
        // the engine refuses the checkpoint of a run with other settings (and cosine depends on the total anyway).
        string dir = Path.Combine(Path.GetTempPath(), $"mlnet-automl-{Guid.NewGuid():N}");
        try
        {
            var data = ImageDataset.FashionMnist(train: true, limit: 64);
            var pipeline = ImagePipeline.FashionMnist();
            var settings = new TrainingSettings { BatchSize = 32, MaxEpoch = 1, LearningRate = 0.05, Seed = 3, Workers = 0, CheckpointDirectory = dir };
            using (var model = NewTinyModel()) new TrainingEngine(settings).Fit(model, data, null, pipeline, pipeline);
            using var again = NewTinyModel();
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => new TrainingEngine(settings with { MaxEpoch = 3 }).Fit(again, data, null, pipeline, pipeline));
            StringAssert.Contains(e.Message, "MaxEpoch: 1 in the checkpoint, 3 now");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    private static Module<Tensor, Tensor> NewTinyModel()
    {
        TorchRuntime.ManualSeed(3);
        return ModelRegistry.Create("resnet18", new BackboneOptions(10, 1, SmallImage: true, WidthMultiplier: 0.125));
    }

    [TestMethod]
    public void LogLossRanksLowerFirstAValidationFractionIsHeldOutAndChannelsLastIsKept()
    {
        var (ml, train, _, features) = Data();
        var settings = Settings();
        settings.Backbones = Tiny.Take(2).ToList();
        settings.MaxEpochPerCandidate = 1;
        settings.OptimizingMetric = MulticlassClassificationMetric.LogLoss;
        settings.MemoryFormat = MemoryFormat.ChannelsLast;
        settings.ValidationFraction = 0.2f;   // not exact in binary: (1 - 0.2f) + 0.2f as doubles is above 1
        using var result = ml.Auto().CreateBackboneExperiment(settings).Execute(train, null, features);
        CollectionAssert.AreEqual(new[] { 1 }, result.RungEpochs.ToArray(), "2 candidates < η: one rung");
        Assert.AreEqual((240, 60), result.Images, "a stratified fifth of the 300 images validates");
        Assert.AreEqual(MulticlassClassificationMetric.LogLoss, result.OptimizingMetric);
        Assert.IsTrue(result.Leaderboard.All(r => r.Status == BackboneRunStatus.Finished));
        Assert.IsTrue(result.Leaderboard[0].Metric <= result.Leaderboard[1].Metric, "lower log-loss first");
        Assert.AreEqual(result.Leaderboard[0].ValidationMetrics!.LogLoss, result.Leaderboard[0].Metric);
        Assert.IsInstanceOfType<AttentionBackboneTransformer>(result.BestModel is TransformerChain<AttentionBackboneTransformer> chain ? chain.LastTransformer : null);
        Assert.AreEqual(MemoryFormat.ChannelsLast, result.BestBackbone.Info.MemoryFormat, "the saved model scores channels-last too");
    }

    [TestMethod]
    public void AStemStrideCandidateCostsAQuarterAndItsBestModelKeepsTheStride()
    {
        var (ml, train, validation, features) = Data();
        var settings = Settings();
        settings.Backbones = [new("resnet18", 0.125, SmallImage: true), new("resnet18", 0.125, SmallImage: true, StemStride: 2)];
        settings.MaxEpochPerCandidate = 1;
        using var result = ml.Auto().CreateBackboneExperiment(settings).Execute(train, validation, features);
        var full = result.Leaderboard.Single(r => r.Candidate.Backbone.StemStride == 0);
        var strided = result.Leaderboard.Single(r => r.Candidate.Backbone.StemStride == 2);
        Assert.AreEqual(full.Parameters, strided.Parameters, "the stride changes no weight");
        double ratio = strided.GMacs / full.GMacs;
        Assert.IsTrue(ratio > 0.2 && ratio < 0.35, $"a stride-2 stem quarters the multiply-adds of a 28 px small-image ResNet-18 (ratio {ratio:F3})");
        StringAssert.Contains(strided.Name, " s2");
        Assert.IsTrue(result.Leaderboard.All(r => r.Status == BackboneRunStatus.Finished));
        if (result.BestRun.Candidate.Backbone.StemStride == 2)
            Assert.AreEqual(2, result.BestBackbone.Info.StemStride, "the saved model is built with the winner's stem stride");
        else
            Assert.AreEqual(0, result.BestBackbone.Info.StemStride);
        // the best model (the whole pipeline) scores the validation images the way the leaderboard measured them
        var metrics = ml.MulticlassClassification.Evaluate(result.BestModel.Transform(validation));
        Assert.AreEqual(result.Leaderboard[0].ValidationMetrics!.MicroAccuracy, metrics.MicroAccuracy, 1e-9);
    }

    [TestMethod]
    public void ABudgetTooShortForAnyTrialIsAnErrorThatSaysSo()
    {
        var (ml, train, validation, features) = Data();
        var settings = Settings();
        settings.MaxExperimentTime = TimeSpan.FromMilliseconds(1);
        var experiment = ml.Auto().CreateBackboneExperiment(settings);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => experiment.Execute(train, validation, features));
        StringAssert.Contains(e.Message, "no candidate completed a trial");
        StringAssert.Contains(e.Message, "budget");
    }

    [TestMethod]
    public void ACancelledExperimentThrowsWhenNothingWasTrained()
    {
        var (ml, train, validation, features) = Data();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var settings = Settings();
        settings.CancellationToken = cts.Token;
        var experiment = ml.Auto().CreateBackboneExperiment(settings);
        Assert.ThrowsExactly<OperationCanceledException>(() => experiment.Execute(train, validation, features));
    }

    [TestMethod]
    public void BadSettingsAreErrorsNamingTheProblem()
    {
        var ml = new MLContext(seed: 1);
        BackboneExperimentSettings With(Action<BackboneExperimentSettings> change)
        {
            var s = Settings();
            change(s);
            return s;
        }
        ArgumentException Fails(Action<BackboneExperimentSettings> change) =>
            Assert.Throws<ArgumentException>(() => ml.Auto().CreateBackboneExperiment(With(change)));

        var unknown = Fails(s => s.Backbones = [new("notamodel"), new("resnet18")]);
        StringAssert.Contains(unknown.Message, "unknown model 'notamodel'");
        StringAssert.Contains(unknown.Message, "candidate 0");
        StringAssert.Contains(Fails(s => s.Backbones = []).Message, "no backbone to compare");
        StringAssert.Contains(Fails(s => s.Candidates = []).Message, "the candidate list is empty");
        StringAssert.Contains(Fails(s => s.LearningRates = []).Message, "LearningRates");
        StringAssert.Contains(Fails(s => s.BatchSizes = []).Message, "BatchSizes");
        StringAssert.Contains(Fails(s => s.MaxExperimentTime = TimeSpan.Zero).Message, "MaxExperimentTime must be a positive time span");
        StringAssert.Contains(Fails(s => s.MaxExperimentTime = TimeSpan.FromMinutes(-5)).Message, "MaxExperimentTime");
        StringAssert.Contains(Fails(s => s.MaxEpochPerCandidate = 0).Message, "MaxEpochPerCandidate must be >= 1");
        StringAssert.Contains(Fails(s => s.MinEpochPerCandidate = 4).Message, "MinEpochPerCandidate");
        StringAssert.Contains(Fails(s => s.ReductionFactor = 1).Message, "ReductionFactor must be >= 2");
        StringAssert.Contains(Fails(s => s.LearningRates = [0.1, -1]).Message, "LearningRate must be a finite value > 0");
        StringAssert.Contains(Fails(s => s.BatchSizes = [0]).Message, "BatchSize must be >= 1");
        StringAssert.Contains(Fails(s => s.ValidationFraction = 1).Message, "ValidationFraction");
        StringAssert.Contains(Fails(s => s.Backbones = [new("resnet18", WidthMultiplier: 0)]).Message, "candidate 0 ('resnet18')");
        StringAssert.Contains(Fails(s => s.Backbones = [new("mobilenetv2", 0.25, SmallImage: true, StemStride: 2)]).Message, "mobilenetv2 (mobilenetv2) does not take a stem stride");
        StringAssert.Contains(Fails(s => s.Candidates = [new(new("resnet18"), 0.1, 32), new(new("resnet18"), 0.1, 32)]).Message, "listed 2 times");
        StringAssert.Contains(Fails(s => s.LearningRateScheduler = LearningRateScheduler.CosineWithWarmup(5)).Message, "WarmupEpochs");

        // Column errors come from Execute, naming the column.
        var (ml2, train, validation, features) = Data();
        var settings = Settings();
        settings.LabelColumnName = "Category";
        var e = Assert.Throws<ArgumentException>(() => ml2.Auto().CreateBackboneExperiment(settings).Execute(train, validation, features));
        StringAssert.Contains(e.Message, "label column 'Category' not found");
        var noFeatures = Assert.Throws<ArgumentException>(() => ml2.Auto().CreateBackboneExperiment(Settings()).Execute(train, validation));
        StringAssert.Contains(noFeatures.Message, "feature column 'Features' not found");
    }
}
