using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Trainers;

/// <summary>Every setting's range check names the setting and the range.</summary>
[TestClass]
public sealed class TrainingSettingsTests
{
    [TestMethod]
    public void DefaultsAreValid()
    {
        var s = new TrainingSettings();
        s.Validate();
        Assert.AreEqual(32, s.BatchSize);
        Assert.AreEqual(10, s.MaxEpoch);
        Assert.AreEqual(0.01, s.LearningRate);
        Assert.AreEqual(1e-4, s.WeightDecay);
        Assert.AreEqual(OptimizerKind.Sgd, s.Optimizer);
        Assert.AreEqual(0.9, s.Momentum);
        Assert.IsTrue(s.Nesterov);
        Assert.AreEqual(SchedulerKind.Cosine, s.Scheduler);
        Assert.AreEqual(30, s.StepSize);
        Assert.AreEqual(0.1, s.Gamma);
        Assert.AreEqual(EarlyStoppingMetric.ValidationLoss, s.EarlyStoppingMetric);
        Assert.AreEqual(1UL, s.Seed);
        Assert.AreEqual(Environment.ProcessorCount, s.Workers);
        Assert.AreEqual(BadInputPolicy.Throw, s.OnBadInput);
        new TrainingSettings { Scheduler = SchedulerKind.MultiStep, Milestones = [3, 6] }.Validate();
        new TrainingSettings { Scheduler = SchedulerKind.CosineWithWarmup, WarmupEpochs = 1, MaxEpoch = 2 }.Validate();
    }

    public static IEnumerable<object[]> Invalid =>
    [
        [new TrainingSettings { BatchSize = 0 }, "BatchSize", ">= 1"],
        [new TrainingSettings { MaxEpoch = 0 }, "MaxEpoch", ">= 1"],
        [new TrainingSettings { LearningRate = 0 }, "LearningRate", "> 0"],
        [new TrainingSettings { LearningRate = double.PositiveInfinity }, "LearningRate", "finite"],
        [new TrainingSettings { LearningRate = double.NaN }, "LearningRate", "> 0"],
        [new TrainingSettings { WeightDecay = -1e-4 }, "WeightDecay", ">= 0"],
        [new TrainingSettings { Optimizer = (OptimizerKind)7 }, "Optimizer", "Sgd or AdamW"],
        [new TrainingSettings { Momentum = 1 }, "Momentum", "[0, 1)"],
        [new TrainingSettings { Scheduler = (SchedulerKind)9 }, "Scheduler", "OneCycle"],
        [new TrainingSettings { StepSize = 0 }, "StepSize", ">= 1"],
        [new TrainingSettings { Gamma = 0 }, "Gamma", "> 0"],
        [new TrainingSettings { Scheduler = SchedulerKind.MultiStep }, "Milestones", "non-empty"],
        [new TrainingSettings { Scheduler = SchedulerKind.MultiStep, Milestones = [2, 0] }, "Milestones", ">= 1"],
        [new TrainingSettings { WarmupEpochs = -1 }, "WarmupEpochs", ">= 0"],
        [new TrainingSettings { Scheduler = SchedulerKind.CosineWithWarmup }, "WarmupEpochs", "[1, MaxEpoch = 10)"],
        [new TrainingSettings { Scheduler = SchedulerKind.CosineWithWarmup, WarmupEpochs = 10 }, "WarmupEpochs", "[1, MaxEpoch = 10)"],
        [new TrainingSettings { LabelSmoothing = 1 }, "LabelSmoothing", "[0, 1)"],
        [new TrainingSettings { EarlyStoppingPatience = 0 }, "EarlyStoppingPatience", ">= 1"],
        [new TrainingSettings { EarlyStoppingMetric = (EarlyStoppingMetric)5 }, "EarlyStoppingMetric", "ValidationAccuracy"],
        [new TrainingSettings { CheckpointDirectory = " " }, "CheckpointDirectory", "folder"],
        [new TrainingSettings { Workers = -1 }, "Workers", ">= 0"],
        [new TrainingSettings { GradientClipNorm = 0 }, "GradientClipNorm", "> 0"],
        [new TrainingSettings { OnBadInput = (BadInputPolicy)3 }, "OnBadInput", "Throw or Skip"],
        [new TrainingSettings { ImageChannels = 5 }, "ImageChannels", "1, 2, 3 or 4"],
    ];

    [TestMethod]
    [DynamicData(nameof(Invalid))]
    public void OutOfRangeSettingIsNamed(TrainingSettings settings, string name, string range)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(settings.Validate);
        Assert.AreEqual(name, e.ParamName);
        StringAssert.Contains(e.Message, range);
        var ctor = Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingEngine(settings));
        Assert.AreEqual(name, ctor.ParamName);
    }
}
