using System.Globalization;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Trainers;

/// <summary>What one epoch of <see cref="TrainingEngine.Fit"/> measured.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="MaxEpoch">The number of epochs of the run.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's images (with label smoothing, in training mode).</param>
/// <param name="TrainAccuracy">Fraction of the epoch's training images whose highest logit was the label.</param>
/// <param name="ValidationLoss">Mean cross entropy on the validation set after the epoch (evaluation mode), or null without one.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation set after the epoch, or null without one.</param>
/// <param name="LearningRate">The learning rate of the epoch's last step (of the first parameter group).</param>
/// <param name="ImagesPerSecond">Training images per second of the epoch (loading, forward, backward and step; validation not counted).</param>
/// <param name="Elapsed">Wall time of the run so far, epochs before a resume included.</param>
/// <param name="EstimatedRemaining">The mean duration of this session's epochs times the epochs left.</param>
public sealed record EpochMetrics(int Epoch, int MaxEpoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss,
    double? ValidationAccuracy, double LearningRate, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan EstimatedRemaining)
{
    /// <summary>One line: "epoch 3/10: train loss 0.4123, train acc 85.20%, val loss …, lr 0.0075, 812 images/s, elapsed 00:01:02, ETA 00:02:25".</summary>
    public override string ToString()
    {
        var ic = CultureInfo.InvariantCulture;
        string val = ValidationLoss is { } vl && ValidationAccuracy is { } va
            ? string.Create(ic, $", val loss {vl:F4}, val acc {100 * va:F2}%")
            : "";
        return string.Create(ic,
            $"epoch {Epoch}/{MaxEpoch}: train loss {TrainLoss:F4}, train acc {100 * TrainAccuracy:F2}%{val}, lr {LearningRate:G4}, {ImagesPerSecond:F0} images/s, elapsed {Format(Elapsed)}, ETA {Format(EstimatedRemaining)}");
    }

    private static string Format(TimeSpan t) =>
        t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes:D2}:{t.Seconds:D2}");
}

/// <summary>What <see cref="TrainingEngine.Fit"/> did.</summary>
public sealed class TrainingResult
{
    internal TrainingResult(IReadOnlyList<EpochMetrics> history, int bestEpoch, bool stoppedEarly, bool resumed, int startEpoch, BadInputReport badInput)
    {
        History = history;
        BestEpoch = bestEpoch;
        StoppedEarly = stoppedEarly;
        ResumedFromCheckpoint = resumed;
        StartEpoch = startEpoch;
        BadInput = badInput;
    }

    /// <summary>The metrics of every epoch of the run, those before a resume included (from the checkpoint).</summary>
    public IReadOnlyList<EpochMetrics> History { get; }

    /// <summary>
    /// The epoch whose weights the model holds at the end: the best by <see cref="TrainingSettings.EarlyStoppingMetric"/>
    /// with early stopping, otherwise the last epoch trained.
    /// </summary>
    public int BestEpoch { get; }

    /// <summary>True when early stopping ended the run before <see cref="TrainingSettings.MaxEpoch"/>.</summary>
    public bool StoppedEarly { get; }

    /// <summary>True when the run continued from a checkpoint in <see cref="TrainingSettings.CheckpointDirectory"/>.</summary>
    public bool ResumedFromCheckpoint { get; }

    /// <summary>The first epoch this call trained (1 for a fresh run; the checkpoint's epoch + 1 after a resume; MaxEpoch + 1 when the checkpoint was already complete).</summary>
    public int StartEpoch { get; }

    /// <summary>Images skipped under <see cref="BadInputPolicy.Skip"/> (training and validation sets), one entry per image and problem.</summary>
    public BadInputReport BadInput { get; }

    /// <summary>The metrics of the last epoch, or null when none was run.</summary>
    public EpochMetrics? Final => History.Count > 0 ? History[^1] : null;
}

/// <summary>Training stopped because the loss became NaN or infinite.</summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="epoch"/> and <paramref name="batch"/>.</summary>
    public TrainingDivergedException(int epoch, int batch, double loss, double learningRate)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"training diverged: the loss is {loss} at epoch {epoch}, batch {batch} (learning rate {learningRate:G4}). Lower the learning rate, enable gradient clipping (GradientClipNorm), or check the input data."))
    {
        Epoch = epoch;
        Batch = batch;
        Loss = loss;
    }

    /// <summary>The epoch (from 1).</summary>
    public int Epoch { get; }

    /// <summary>The batch within the epoch (from 1).</summary>
    public int Batch { get; }

    /// <summary>The non-finite loss.</summary>
    public double Loss { get; }
}
