using System.Globalization;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.AutoML;

/// <summary>The metric a backbone experiment optimizes (ML.NET AutoML's <c>MulticlassClassificationMetric</c>), measured on the validation set.</summary>
public enum MulticlassClassificationMetric
{
    /// <summary>The fraction of images classified correctly (higher is better; the default).</summary>
    MicroAccuracy,
    /// <summary>The mean of the per-class accuracies (higher is better).</summary>
    MacroAccuracy,
    /// <summary>The mean negative log-probability of the true class (lower is better).</summary>
    LogLoss,
}

/// <summary>
/// A backbone to try: a <see cref="ModelRegistry"/> name with its width, attention layer and form — what
/// <see cref="AttentionBackboneTrainer.Options"/> calls <c>Arch</c>, <c>WidthMultiplier</c>, <c>Attention</c> and <c>SmallImage</c>.
/// </summary>
/// <param name="Arch">The registry name ("seresnet50", "epsanet50", "resnet18", ...).</param>
/// <param name="WidthMultiplier">Scales every stage's channel count (default 1).</param>
/// <param name="Attention">An attention layer for the families that take one ("se", "cbam", "eca", "ca", ...); null: the model's own.</param>
/// <param name="SmallImage">The small-image form for 28–96 px inputs: a stride-1 stem without max-pool (default false).</param>
/// <param name="StemStride">The stem conv's stride (<see cref="BackboneOptions.StemStride"/>; 0, the default: the form's
/// own). The ResNet and EPSANet families take it: a stride-2 stem in the small-image form quarters the cost of every stage.</param>
public sealed record BackboneChoice(string Arch, double WidthMultiplier = 1.0, string? Attention = null, bool SmallImage = false, int StemStride = 0)
{
    /// <summary>"arch", "arch+attention", with " w0.25" when the width is not 1, " small" for the small-image form and " s2" for a stem stride.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Arch}{(Attention is null ? "" : "+" + Attention)}{(WidthMultiplier == 1.0 ? "" : $" w{WidthMultiplier:0.###}")}{(SmallImage ? " small" : "")}{(StemStride == 0 ? "" : $" s{StemStride}")}");

    /// <summary>The registry options of this choice for <paramref name="classes"/> classes of <paramref name="channels"/>-channel images.</summary>
    internal BackboneOptions Options(int classes, int channels) =>
        new(classes, channels, SmallImage, WidthMultiplier, Attention) { StemStride = StemStride };

    internal void Validate(string where)
    {
        if (string.IsNullOrWhiteSpace(Arch)) throw new ArgumentException($"{where}: the backbone name is empty");
        try
        {
            var info = ModelRegistry.Get(Arch);
            Options(2, 3).Validate();
            if (StemStride != 0 && !info.TakesStemStride)
                throw new ArgumentException($"StemStride {StemStride}: {Arch} ({info.Family}) does not take a stem stride (the ResNet and EPSANet families do)");
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{where} ('{Arch}'): {e.Message}", e);
        }
    }
}

/// <summary>One configuration a backbone experiment trains: a backbone, a learning rate and a batch size.</summary>
/// <param name="Backbone">The backbone.</param>
/// <param name="LearningRate">The (peak) learning rate of the schedule.</param>
/// <param name="BatchSize">Images per batch.</param>
public sealed record BackboneCandidate(BackboneChoice Backbone, double LearningRate, int BatchSize)
{
    /// <summary>"seresnet50 w0.25 small, lr 0.05, batch 64".</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture, $"{Backbone}, lr {LearningRate:G4}, batch {BatchSize}");

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>
/// The settings of a backbone experiment (ML.NET AutoML's <c>ExperimentSettings</c>): which configurations to try — the
/// product of <see cref="Backbones"/> × <see cref="LearningRates"/> × <see cref="BatchSizes"/>, or an explicit
/// <see cref="Candidates"/> list — how long training may take in all and per candidate, and what is optimized.
/// </summary>
public sealed class BackboneExperimentSettings
{
    /// <summary>The backbones to compare (each crossed with every learning rate and batch size).</summary>
    public IList<BackboneChoice> Backbones { get; set; } = new List<BackboneChoice>();

    /// <summary>The learning rates to try (default 0.05).</summary>
    public IList<double> LearningRates { get; set; } = new List<double> { 0.05 };

    /// <summary>The batch sizes to try (default 64).</summary>
    public IList<int> BatchSizes { get; set; } = new List<int> { 64 };

    /// <summary>An explicit list of configurations; when set it replaces the grid of <see cref="Backbones"/> × <see cref="LearningRates"/> × <see cref="BatchSizes"/>.</summary>
    public IList<BackboneCandidate>? Candidates { get; set; }

    /// <summary>
    /// The wall-clock budget of the whole experiment (default 1 hour). No trial is started that would not finish
    /// within it by its estimated time, and a trial still running when it runs out is stopped.
    /// </summary>
    public TimeSpan MaxExperimentTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The epochs a candidate that survives every rung trains for (default 9): the last rung.</summary>
    public int MaxEpochPerCandidate { get; set; } = 9;

    /// <summary>The fewest epochs of the first rung (default 1); fewer rungs are used when the reduction would go below it.</summary>
    public int MinEpochPerCandidate { get; set; } = 1;

    /// <summary>The reduction factor η of successive halving (default 3): 1/η of each rung's candidates continue, for η times the epochs.</summary>
    public int ReductionFactor { get; set; } = 3;

    /// <summary>What decides which candidates continue and which one wins (default <see cref="MulticlassClassificationMetric.MicroAccuracy"/>).</summary>
    public MulticlassClassificationMetric OptimizingMetric { get; set; } = MulticlassClassificationMetric.MicroAccuracy;

    /// <summary>The seed of the validation split, the weight initialisation, shuffles and augmentation — the same for every candidate (null: the context's).</summary>
    public int? Seed { get; set; }

    /// <summary>The optimizer (default SGD with Nesterov momentum 0.9).</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;

    /// <summary>
    /// The learning-rate schedule (default cosine annealing), laid over <see cref="MaxEpochPerCandidate"/> epochs for
    /// every candidate: a candidate stopped after rung k has trained the first epochs of that full schedule, and a
    /// promoted candidate resumes it where it stopped.
    /// </summary>
    public LearningRateScheduler LearningRateScheduler { get; set; } = LearningRateScheduler.Cosine;

    /// <summary>Weight decay (default 1e-4).</summary>
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>Label smoothing of the training loss, in [0, 1) (default 0).</summary>
    public double LabelSmoothing { get; set; }

    /// <summary>The label column: text or integers (default "Label").</summary>
    public string LabelColumnName { get; set; } = DefaultColumnNames.Label;

    /// <summary>The image feature column (default "Features"), made by the image transforms.</summary>
    public string FeatureColumnName { get; set; } = DefaultColumnNames.Features;

    /// <summary>Without a validation set given to <c>Execute</c>: the fraction of the training data held out (stratified) for validation (default 0.2).</summary>
    public float ValidationFraction { get; set; } = 0.2f;

    /// <summary>Stops the experiment between batches; the candidates trained so far are still reported.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Receives every trial's start, epochs, end, and the candidates left out (called on the training thread).</summary>
    public IProgress<BackboneTrialProgress>? Progress { get; set; }

    /// <summary>
    /// Where each candidate's checkpoint and weights go, in a new experiment folder (null: a temporary folder deleted
    /// when <c>Execute</c> returns).
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Image decoding threads (null: the machine's cores).</summary>
    public int? Workers { get; set; }

    /// <summary>The memory format of training and scoring for every candidate (default NCHW); <see cref="MemoryFormat.ChannelsLast"/>
    /// trains EPSANet's grouped 7×7/9×9 convolutions several times faster on the CPU. The results equal NCHW's up to float rounding.</summary>
    public MemoryFormat MemoryFormat { get; set; } = MemoryFormat.Contiguous;

    /// <summary>Images that cannot be loaded: throw (default) or skip.</summary>
    public BadInputPolicy OnBadInput { get; set; } = BadInputPolicy.Throw;

    /// <summary>The configurations this experiment trains, in order: <see cref="Candidates"/>, or the grid (backbone-major, then learning rate, then batch size).</summary>
    public IReadOnlyList<BackboneCandidate> ResolveCandidates()
    {
        if (Candidates is { } explicitList) return explicitList.ToArray();
        var list = new List<BackboneCandidate>();
        foreach (var b in Backbones ?? [])
            foreach (double lr in LearningRates ?? [])
                foreach (int bs in BatchSizes ?? [])
                    list.Add(new BackboneCandidate(b, lr, bs));
        return list;
    }

    /// <summary>Checks every setting; the message names the setting (or candidate) and what was expected.</summary>
    internal IReadOnlyList<BackboneCandidate> Validate()
    {
        static void Fail(string name, object? value, string expected) =>
            throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"{name} must be {expected}"));
        if (Candidates is null)
        {
            if (Backbones is null || Backbones.Count == 0) throw new ArgumentException("Backbones: no backbone to compare; add at least one (or set Candidates)", nameof(Backbones));
            if (LearningRates is null || LearningRates.Count == 0) throw new ArgumentException("LearningRates: no learning rate to try; add at least one", nameof(LearningRates));
            if (BatchSizes is null || BatchSizes.Count == 0) throw new ArgumentException("BatchSizes: no batch size to try; add at least one", nameof(BatchSizes));
        }
        var candidates = ResolveCandidates();
        if (candidates.Count == 0) throw new ArgumentException("Candidates: the candidate list is empty; add at least one configuration", nameof(Candidates));
        for (int i = 0; i < candidates.Count; i++)
        {
            var c = candidates[i] ?? throw new ArgumentException($"Candidates[{i}] is null", nameof(Candidates));
            string where = $"candidate {i} ({c.Backbone?.Arch})";
            if (c.Backbone is null) throw new ArgumentException($"candidate {i}: Backbone is null", nameof(Candidates));
            c.Backbone.Validate($"candidate {i}");
            if (!(c.LearningRate > 0 && double.IsFinite(c.LearningRate))) Fail("LearningRate", c.LearningRate, $"a finite value > 0 ({where})");
            if (c.BatchSize < 1) Fail("BatchSize", c.BatchSize, $">= 1 ({where})");
        }
        var duplicate = candidates.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Candidates: '{duplicate.Key.Name}' is listed {duplicate.Count()} times", nameof(Candidates));
        if (!(MaxExperimentTime > TimeSpan.Zero)) Fail(nameof(MaxExperimentTime), MaxExperimentTime, "a positive time span");
        if (MaxEpochPerCandidate < 1) Fail(nameof(MaxEpochPerCandidate), MaxEpochPerCandidate, ">= 1");
        if (MinEpochPerCandidate < 1 || MinEpochPerCandidate > MaxEpochPerCandidate) Fail(nameof(MinEpochPerCandidate), MinEpochPerCandidate, $"in [1, MaxEpochPerCandidate = {MaxEpochPerCandidate}]");
        if (ReductionFactor < 2) Fail(nameof(ReductionFactor), ReductionFactor, ">= 2");
        if (!Enum.IsDefined(OptimizingMetric)) Fail(nameof(OptimizingMetric), OptimizingMetric, "MicroAccuracy, MacroAccuracy or LogLoss");
        if (!(ValidationFraction > 0 && ValidationFraction < 1)) Fail(nameof(ValidationFraction), ValidationFraction, "in (0, 1)");
        if (string.IsNullOrEmpty(LabelColumnName)) throw new ArgumentException("LabelColumnName must name a column", nameof(LabelColumnName));
        if (string.IsNullOrEmpty(FeatureColumnName)) throw new ArgumentException("FeatureColumnName must name a column", nameof(FeatureColumnName));
        if (Workers is < 0) Fail(nameof(Workers), Workers, ">= 0");
        if (CheckpointDirectory is not null && string.IsNullOrWhiteSpace(CheckpointDirectory)) Fail(nameof(CheckpointDirectory), CheckpointDirectory, "a folder path (or null for a temporary one)");
        ArgumentNullException.ThrowIfNull(LearningRateScheduler, nameof(LearningRateScheduler));
        // Every trainer setting in its range (the schedule against MaxEpochPerCandidate, e.g. warm-up epochs).
        foreach (var c in candidates) TrainingSettings(c, 1).Validate();
        return candidates;
    }

    /// <summary>The training-engine settings of <paramref name="candidate"/>: the whole schedule over <see cref="MaxEpochPerCandidate"/> epochs.</summary>
    internal TrainingSettings TrainingSettings(BackboneCandidate candidate, ulong seed) => LearningRateScheduler.Apply(new TrainingSettings
    {
        BatchSize = candidate.BatchSize,
        MaxEpoch = MaxEpochPerCandidate,
        LearningRate = candidate.LearningRate,
        WeightDecay = WeightDecay,
        Optimizer = Optimizer,
        LabelSmoothing = LabelSmoothing,
        Seed = seed,
        Workers = Workers ?? Environment.ProcessorCount,
        OnBadInput = OnBadInput,
        MemoryFormat = MemoryFormat,
    });
}
