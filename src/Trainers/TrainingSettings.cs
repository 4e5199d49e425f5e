using System.Globalization;
using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Trainers;

/// <summary>The optimizer of a <see cref="TrainingEngine"/>.</summary>
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with (Nesterov) momentum and L2 weight decay (<c>torch.optim.SGD</c>).</summary>
    Sgd,
    /// <summary>Adam with decoupled weight decay (<c>torch.optim.AdamW</c>, betas 0.9/0.999, eps 1e-8).</summary>
    AdamW,
}

/// <summary>
/// The learning-rate schedule of a <see cref="TrainingEngine"/>. Every schedule is stepped once per batch; the
/// epoch-based settings (<see cref="TrainingSettings.StepSize"/>, <see cref="TrainingSettings.Milestones"/>,
/// <see cref="TrainingSettings.WarmupEpochs"/>) are converted to steps (epochs × batches per epoch).
/// </summary>
public enum SchedulerKind
{
    /// <summary>A constant learning rate.</summary>
    None,
    /// <summary>Multiplied by <see cref="TrainingSettings.Gamma"/> every <see cref="TrainingSettings.StepSize"/> epochs (StepLR).</summary>
    Step,
    /// <summary>Multiplied by <see cref="TrainingSettings.Gamma"/> at each of <see cref="TrainingSettings.Milestones"/> (epochs; MultiStepLR).</summary>
    MultiStep,
    /// <summary>Cosine annealing from the learning rate to 0 over the whole run (CosineAnnealingLR, T_max = every step).</summary>
    Cosine,
    /// <summary>Linear warm-up over <see cref="TrainingSettings.WarmupEpochs"/> (from 0.001 × the learning rate), then cosine annealing to 0.</summary>
    CosineWithWarmup,
    /// <summary>The 1cycle policy with the learning rate as its peak (OneCycleLR: 30 % warm-up, cosine, momentum or beta1 cycled 0.95 → 0.85).</summary>
    OneCycle,
}

/// <summary>Progress inside an epoch, after a training batch.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="MaxEpoch">The epochs of the run.</param>
/// <param name="Batch">The batch within the epoch, from 1.</param>
/// <param name="BatchesPerEpoch">Batches in an epoch.</param>
/// <param name="RunningLoss">Mean training loss of the epoch so far.</param>
/// <param name="RunningAccuracy">Training accuracy of the epoch so far.</param>
/// <param name="ImagesPerSecond">Training throughput of the epoch so far.</param>
/// <param name="Elapsed">Time since the epoch began.</param>
public readonly record struct BatchProgress(int Epoch, int MaxEpoch, int Batch, int BatchesPerEpoch,
    double RunningLoss, double RunningAccuracy, double ImagesPerSecond, TimeSpan Elapsed);

/// <summary>What early stopping watches.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>The validation loss (lower is better).</summary>
    ValidationLoss,
    /// <summary>The validation accuracy (higher is better).</summary>
    ValidationAccuracy,
}

/// <summary>
/// The hyperparameters and run settings of a <see cref="TrainingEngine"/>. <see cref="Validate"/> checks every range.
/// </summary>
public sealed record TrainingSettings
{
    /// <summary>Images per batch, &gt;= 1 (default 32).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Number of epochs, &gt;= 1 (default 10).</summary>
    public int MaxEpoch { get; init; } = 10;

    /// <summary>The (peak) learning rate, finite and &gt; 0 (default 0.01).</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>
    /// The backbone's learning rate as a fraction of <see cref="LearningRate"/> (default 1): fine-tuning pretrained
    /// weights commonly trains the new classifier at the full rate and the backbone at 0.1 of it. Two parameter
    /// groups then go to the optimizer — the classifier's (<see cref="MLNet.Attention.Backbones.Models.IFeatureBackbone.Classifier"/>,
    /// or the last linear layer with one output per class) first, the rest second — and every schedule scales both.
    /// 0 keeps the backbone's weights where they are (its batch norms still update their statistics).
    /// </summary>
    public double BackboneLearningRateFactor { get; init; } = 1.0;

    /// <summary>The memory format of the model's 4-D weights and of every batch (default <see cref="MemoryFormat.Contiguous"/>, NCHW).
    /// <see cref="MemoryFormat.ChannelsLast"/> (NHWC) trains EPSANet's grouped 7×7/9×9 convolutions 5–6× faster on the CPU and is
    /// what cuDNN prefers for mixed precision; the results equal the NCHW run's up to float rounding.</summary>
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.Contiguous;

    /// <summary>Mixed precision (default <see cref="MixedPrecision.None"/>, float32): the forward pass and the loss of training,
    /// validation and <see cref="TrainingEngine.PredictProbabilities"/> run under autocast, the weights, gradients and optimizer
    /// state stay float32. <see cref="MixedPrecision.BFloat16"/> works on the CPU and on CUDA GPUs with bfloat16 (compute
    /// capability 8.0+); <see cref="MixedPrecision.Float16"/> adds a <see cref="Torch.Optim.GradScaler"/> (dynamic loss scaling,
    /// steps with inf/NaN gradients skipped) and needs a CUDA device. Gradient clipping applies to the unscaled gradients.</summary>
    public MixedPrecision MixedPrecision { get; init; } = MixedPrecision.None;

    /// <summary>Weight decay, finite and &gt;= 0 (default 1e-4): L2 for SGD, decoupled for AdamW. Applies to every trainable parameter.</summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>The optimizer (default SGD).</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;

    /// <summary>SGD momentum in [0, 1) (default 0.9); ignored by AdamW.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Nesterov momentum for SGD (default true); has no effect when <see cref="Momentum"/> is 0.</summary>
    public bool Nesterov { get; init; } = true;

    /// <summary>The learning-rate schedule (default cosine annealing).</summary>
    public SchedulerKind Scheduler { get; init; } = SchedulerKind.Cosine;

    /// <summary>Period of <see cref="SchedulerKind.Step"/> in epochs, &gt;= 1 (default 30).</summary>
    public int StepSize { get; init; } = 30;

    /// <summary>Decay factor of <see cref="SchedulerKind.Step"/> and <see cref="SchedulerKind.MultiStep"/>, finite and &gt; 0 (default 0.1).</summary>
    public double Gamma { get; init; } = 0.1;

    /// <summary>
    /// Epochs at which <see cref="SchedulerKind.MultiStep"/> decays, counted from 0 as PyTorch's MultiStepLR counts
    /// them (each &gt;= 1): milestone <c>m</c> applies from the first batch of the (m+1)-th epoch. Required for it.
    /// </summary>
    public IReadOnlyList<int>? Milestones { get; init; }

    /// <summary>Warm-up epochs of <see cref="SchedulerKind.CosineWithWarmup"/>, in [1, <see cref="MaxEpoch"/>) for it (default 0).</summary>
    public int WarmupEpochs { get; init; }

    /// <summary>Label smoothing of the training loss, in [0, 1) (default 0). The validation loss is plain cross entropy.</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>
    /// Stop after this many epochs without improvement of <see cref="EarlyStoppingMetric"/> (null: never; needs a
    /// validation set). When set, the best epoch's weights are restored at the end of training, stopped early or not.
    /// </summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>What early stopping watches (default the validation loss).</summary>
    public EarlyStoppingMetric EarlyStoppingMetric { get; init; } = EarlyStoppingMetric.ValidationLoss;

    /// <summary>Called on the training thread after each epoch (after its checkpoint is written).</summary>
    public Action<EpochMetrics>? MetricsCallback { get; init; }

    /// <summary>Called after every training batch with the epoch's running loss and accuracy (on the training thread: keep it
    /// cheap; it reads the accuracy back from the device each batch). Null: none.</summary>
    public Action<BatchProgress>? BatchCallback { get; init; }

    /// <summary>Seed of the per-epoch shuffles, the augmentations and libtorch's generator (dropout); default 1.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// Where a checkpoint is written after every epoch (atomically) and resumed from by the next <see cref="TrainingEngine.Fit"/>;
    /// null: no checkpoints.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>The device to train on (default the CPU). The model is moved there.</summary>
    public Device Device { get; init; } = Device.Cpu;

    /// <summary>Image decoding threads of the loaders, &gt;= 0 (default: the machine's cores; 0 decodes on the training thread).</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Clip the global gradient norm to this value (finite, &gt; 0) before each step; null: no clipping.</summary>
    public double? GradientClipNorm { get; init; }

    /// <summary>Images that cannot be loaded: throw (default) or skip them and report them in <see cref="TrainingResult.BadInput"/>.</summary>
    public BadInputPolicy OnBadInput { get; init; } = BadInputPolicy.Throw;

    /// <summary>
    /// Channels the images are decoded to (1 gray, 3 RGB); null (default): the input channels of the model's first
    /// convolution.
    /// </summary>
    public int? ImageChannels { get; init; }

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the first setting outside its range and the range expected.</summary>
    public void Validate()
    {
        static void Fail(string name, object? value, string range) =>
            throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"{name} must be {range}"));
        static bool FinitePositive(double v) => v > 0 && double.IsFinite(v);
        static bool FiniteNonNegative(double v) => v >= 0 && double.IsFinite(v);

        if (BatchSize < 1) Fail(nameof(BatchSize), BatchSize, ">= 1");
        if (MaxEpoch < 1) Fail(nameof(MaxEpoch), MaxEpoch, ">= 1");
        if (!FinitePositive(LearningRate)) Fail(nameof(LearningRate), LearningRate, "a finite value > 0");
        if (!(BackboneLearningRateFactor >= 0 && BackboneLearningRateFactor <= 100)) Fail(nameof(BackboneLearningRateFactor), BackboneLearningRateFactor, "in [0, 100] (1: the backbone trains at LearningRate)");
        if (!FiniteNonNegative(WeightDecay)) Fail(nameof(WeightDecay), WeightDecay, "a finite value >= 0");
        if (!Enum.IsDefined(Optimizer)) Fail(nameof(Optimizer), Optimizer, "Sgd or AdamW");
        if (!(Momentum >= 0 && Momentum < 1)) Fail(nameof(Momentum), Momentum, "in [0, 1)");
        if (!Enum.IsDefined(Scheduler)) Fail(nameof(Scheduler), Scheduler, "None, Step, MultiStep, Cosine, CosineWithWarmup or OneCycle");
        if (StepSize < 1) Fail(nameof(StepSize), StepSize, ">= 1");
        if (!FinitePositive(Gamma)) Fail(nameof(Gamma), Gamma, "a finite value > 0");
        if (Scheduler == SchedulerKind.MultiStep)
        {
            if (Milestones is null || Milestones.Count == 0) Fail(nameof(Milestones), null, "a non-empty list of epochs (each >= 1) for the MultiStep scheduler");
            foreach (int m in Milestones!)
                if (m < 1) Fail(nameof(Milestones), m, "epochs >= 1");
        }
        if (WarmupEpochs < 0) Fail(nameof(WarmupEpochs), WarmupEpochs, ">= 0");
        if (Scheduler == SchedulerKind.CosineWithWarmup && (WarmupEpochs < 1 || WarmupEpochs >= MaxEpoch))
            Fail(nameof(WarmupEpochs), WarmupEpochs, $"in [1, MaxEpoch = {MaxEpoch}) for the CosineWithWarmup scheduler");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) Fail(nameof(LabelSmoothing), LabelSmoothing, "in [0, 1)");
        if (EarlyStoppingPatience is < 1) Fail(nameof(EarlyStoppingPatience), EarlyStoppingPatience, ">= 1 (or null for no early stopping)");
        if (!Enum.IsDefined(MemoryFormat)) Fail(nameof(MemoryFormat), MemoryFormat, "Contiguous or ChannelsLast");
        if (!Enum.IsDefined(MixedPrecision)) Fail(nameof(MixedPrecision), MixedPrecision, "None, BFloat16 or Float16");
        if (!Enum.IsDefined(EarlyStoppingMetric)) Fail(nameof(EarlyStoppingMetric), EarlyStoppingMetric, "ValidationLoss or ValidationAccuracy");
        if (CheckpointDirectory is not null && string.IsNullOrWhiteSpace(CheckpointDirectory))
            Fail(nameof(CheckpointDirectory), CheckpointDirectory, "a folder path (or null for no checkpoints)");
        if (Workers < 0) Fail(nameof(Workers), Workers, ">= 0");
        if (GradientClipNorm is { } clip && !FinitePositive(clip)) Fail(nameof(GradientClipNorm), clip, "a finite value > 0 (or null for no clipping)");
        if (!Enum.IsDefined(OnBadInput)) Fail(nameof(OnBadInput), OnBadInput, "Throw or Skip");
        if (ImageChannels is { } ch && ch is < 1 or > 4) Fail(nameof(ImageChannels), ImageChannels, "1, 2, 3 or 4 (or null: the model's input channels)");
    }
}
