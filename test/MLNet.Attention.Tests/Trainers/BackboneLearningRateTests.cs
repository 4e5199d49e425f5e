using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Trainers;
using static MLNet.Attention.Tests.Trainers.TrainingTestData;

namespace MLNet.Attention.Tests.Trainers;

/// <summary>TrainingSettings.BackboneLearningRateFactor: the classifier and the backbone in two parameter groups.</summary>
[TestClass]
public sealed class BackboneLearningRateTests : OneThreadTest
{
    private static TrainingSettings Base => BaseSettings;

    private static Dictionary<string, byte[]> Parameters(Module m) => m.NamedParameters().ToDictionary(p => p.Key, p => p.Value.ToBytes());

    [TestMethod]
    public void GroupsSplitTheClassifierFromTheBackbone()
    {
        using var model = NewModel();
        var all = model.Parameters();
        var one = TrainingEngine.ParameterGroups(model, all, 10, 0.05, 1.0);
        Assert.HasCount(1, one);
        Assert.HasCount(all.Count, one[0].Parameters);

        var two = TrainingEngine.ParameterGroups(model, all, 10, 0.05, 0.1);
        Assert.HasCount(2, two);
        var fc = ((IFeatureBackbone)model).Classifier;
        CollectionAssert.AreEqual(new[] { fc.Weight, fc.Bias }, two[0].Parameters.ToArray());
        Assert.AreEqual(0.05, two[0].LearningRate);
        Assert.AreEqual(0.005, two[1].LearningRate, 1e-15);
        Assert.AreEqual(all.Count - 2, two[1].Parameters.Count);

        // A wrapper that is no IFeatureBackbone: the last linear layer with one output per class is the classifier.
        using var wrapped = new HookedModel(NewModel());
        var w = TrainingEngine.ParameterGroups(wrapped, wrapped.Parameters(), 10, 0.05, 0.5);
        Assert.HasCount(2, w[0].Parameters);
        Assert.ThrowsExactly<ArgumentException>(() => TrainingEngine.ParameterGroups(wrapped, wrapped.Parameters(), 7, 0.05, 0.5));

        // A frozen backbone leaves only the classifier's group.
        foreach (var (key, p) in model.NamedParameters()) p.RequiresGrad = key.StartsWith("fc.", StringComparison.Ordinal);
        Assert.HasCount(1, TrainingEngine.ParameterGroups(model, model.Parameters(), 10, 0.05, 0.1));
    }

    [TestMethod]
    public void FactorZeroTrainsOnlyTheClassifier()
    {
        using var model = NewModel();
        var before = Parameters(model);
        new TrainingEngine(Base with { MaxEpoch = 1, BackboneLearningRateFactor = 0 }).Fit(model, Train, null, TrainPipeline, EvalPipeline);
        foreach (var (key, bytes) in Parameters(model))
        {
            bool same = bytes.AsSpan().SequenceEqual(before[key]);
            Assert.AreEqual(!key.StartsWith("fc.", StringComparison.Ordinal), same, $"{key}: {(same ? "unchanged" : "changed")}");
        }
    }

    [TestMethod]
    public void ValidationNamesTheSetting()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => (Base with { BackboneLearningRateFactor = -0.1 }).Validate());
        StringAssert.Contains(e.Message, "BackboneLearningRateFactor");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => (Base with { BackboneLearningRateFactor = double.NaN }).Validate());
    }

    [TestMethod]
    public void TwoGroupRunsResumeFromACheckpointBitForBit()
    {
        var settings = Base with { MaxEpoch = 2, BackboneLearningRateFactor = 0.1, Scheduler = SchedulerKind.OneCycle };
        byte[][] expected;
        using (var a = NewModel())
        {
            new TrainingEngine(settings).Fit(a, Train, null, TrainPipeline, EvalPipeline);
            expected = Snapshot(a);
        }
        using var dir = new TempFolder();
        var withCheckpoints = settings with { CheckpointDirectory = dir.Path };
        using (var cts = new CancellationTokenSource())
        using (var b = new HookedModel(NewModel()))
        {
            b.OnForward = (n, y) =>
            {
                if (n == 8 + 3) cts.Cancel();
                return y;
            };
            Assert.Throws<OperationCanceledException>(() => new TrainingEngine(withCheckpoints).Fit(b, Train, null, TrainPipeline, EvalPipeline, cts.Token));
        }
        using var c = new HookedModel(NewModel(seed: 99));
        var resumed = new TrainingEngine(withCheckpoints).Fit(c, Train, null, TrainPipeline, EvalPipeline);
        Assert.IsTrue(resumed.ResumedFromCheckpoint);
        Assert.IsTrue(SameWeights(expected, Snapshot(c)), "the resumed two-group run ends with the uninterrupted run's weights");
    }
}
