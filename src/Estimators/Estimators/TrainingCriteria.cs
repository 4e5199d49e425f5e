using System.Globalization;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.Estimators;

/// <summary>The learning-rate schedule of a trainer (ML.NET's <c>LearningRateScheduler</c>); every schedule steps once per batch.</summary>
public sealed class LearningRateScheduler
{
    private LearningRateScheduler(SchedulerKind kind, int stepSize = 30, double gamma = 0.1, IReadOnlyList<int>? milestones = null, int warmupEpochs = 0)
    {
        Kind = kind; StepSize = stepSize; Gamma = gamma; Milestones = milestones; WarmupEpochs = warmupEpochs;
    }

    /// <summary>The schedule.</summary>
    public SchedulerKind Kind { get; }
    /// <summary>Epochs between decays (<see cref="Step"/>).</summary>
    public int StepSize { get; }
    /// <summary>Decay factor (<see cref="Step"/>, <see cref="MultiStep"/>).</summary>
    public double Gamma { get; }
    /// <summary>Decay epochs (<see cref="MultiStep"/>).</summary>
    public IReadOnlyList<int>? Milestones { get; }
    /// <summary>Warm-up epochs (<see cref="CosineWithWarmup"/>).</summary>
    public int WarmupEpochs { get; }

    /// <summary>A constant learning rate.</summary>
    public static LearningRateScheduler Constant { get; } = new(SchedulerKind.None);
    /// <summary>Cosine annealing to 0 over the run (the default).</summary>
    public static LearningRateScheduler Cosine { get; } = new(SchedulerKind.Cosine);
    /// <summary>The 1cycle policy with the learning rate as its peak.</summary>
    public static LearningRateScheduler OneCycle { get; } = new(SchedulerKind.OneCycle);

    /// <summary>Linear warm-up over <paramref name="warmupEpochs"/>, then cosine annealing.</summary>
    public static LearningRateScheduler CosineWithWarmup(int warmupEpochs) => new(SchedulerKind.CosineWithWarmup, warmupEpochs: warmupEpochs);

    /// <summary>Multiplied by <paramref name="gamma"/> every <paramref name="stepSize"/> epochs.</summary>
    public static LearningRateScheduler Step(int stepSize, double gamma = 0.1) => new(SchedulerKind.Step, stepSize, gamma);

    /// <summary>Multiplied by <paramref name="gamma"/> at each of <paramref name="milestones"/> (epochs).</summary>
    public static LearningRateScheduler MultiStep(IReadOnlyList<int> milestones, double gamma = 0.1) =>
        new(SchedulerKind.MultiStep, gamma: gamma, milestones: (milestones ?? throw new ArgumentNullException(nameof(milestones))).ToArray());

    internal TrainingSettings Apply(TrainingSettings s) => s with { Scheduler = Kind, StepSize = StepSize, Gamma = Gamma, Milestones = Milestones, WarmupEpochs = WarmupEpochs };

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        SchedulerKind.Step => string.Create(CultureInfo.InvariantCulture, $"Step(stepSize: {StepSize}, gamma: {Gamma})"),
        SchedulerKind.MultiStep => string.Create(CultureInfo.InvariantCulture, $"MultiStep(milestones: [{string.Join(", ", Milestones!)}], gamma: {Gamma})"),
        SchedulerKind.CosineWithWarmup => $"CosineWithWarmup(warmupEpochs: {WarmupEpochs})",
        _ => Kind.ToString(),
    };
}

/// <summary>Early stopping (ML.NET's <c>EarlyStopping</c>): stop after <see cref="Patience"/> epochs without improvement of <see cref="Metric"/>, keeping the best epoch's weights.</summary>
public sealed class EarlyStopping
{
    /// <summary>Stops after <paramref name="patience"/> epochs without improvement of <paramref name="metric"/>.</summary>
    public EarlyStopping(int patience = 5, EarlyStoppingMetric metric = EarlyStoppingMetric.ValidationLoss)
    {
        if (patience < 1) throw new ArgumentOutOfRangeException(nameof(patience), patience, "must be >= 1");
        Patience = patience; Metric = metric;
    }

    /// <summary>Epochs without improvement before stopping.</summary>
    public int Patience { get; }
    /// <summary>What is watched.</summary>
    public EarlyStoppingMetric Metric { get; }

    /// <inheritdoc/>
    public override string ToString() => $"EarlyStopping(patience: {Patience}, metric: {Metric})";
}
