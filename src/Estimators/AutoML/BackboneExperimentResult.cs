using System.Globalization;
using MLNet.Attention.Estimators;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.AutoML;

/// <summary>Where a candidate ended up in a backbone experiment.</summary>
public enum BackboneRunStatus
{
    /// <summary>Trained through the last rung (<see cref="BackboneExperimentSettings.MaxEpochPerCandidate"/> epochs).</summary>
    Finished,
    /// <summary>Stopped early by successive halving: not among the best 1/η of its rung.</summary>
    Eliminated,
    /// <summary>Promoted, still to be judged at its rung, or stopped while training, when the budget or a cancellation ended the experiment (its metric, if any, is from the last rung it completed).</summary>
    Pending,
    /// <summary>Never trained: the budget or a cancellation ended the experiment before its first trial.</summary>
    NotRun,
    /// <summary>A trial threw (divergence, a model that does not fit the images, ...): see <see cref="BackboneRunDetail.Exception"/>.</summary>
    Failed,
}

/// <summary>One row of the leaderboard (ML.NET AutoML's <c>RunDetail</c>): a candidate, its validation metrics at the last rung it completed, and its cost.</summary>
public sealed class BackboneRunDetail
{
    internal BackboneRunDetail() { }

    /// <summary>Its place on the leaderboard, from 1.</summary>
    public int Rank { get; internal init; }
    /// <summary>Its index in the experiment's candidate list.</summary>
    public int CandidateIndex { get; internal init; }
    /// <summary>The configuration.</summary>
    public BackboneCandidate Candidate { get; internal init; } = null!;
    /// <summary>The configuration's name ("seresnet50 w0.25 small, lr 0.05, batch 64").</summary>
    public string Name => Candidate.Name;
    /// <summary>What became of it.</summary>
    public BackboneRunStatus Status { get; internal init; }
    /// <summary>The optimizing metric on the validation set after <see cref="EpochsTrained"/> epochs (null if it completed no rung).</summary>
    public double? Metric { get; internal init; }
    /// <summary>Every validation metric at that point (null if it completed no rung).</summary>
    public MulticlassMetrics? ValidationMetrics { get; internal init; }
    /// <summary>The last rung it completed, from 0 (-1: none).</summary>
    public int RungReached { get; internal init; }
    /// <summary>The epochs its <see cref="Metric"/> and saved weights are from.</summary>
    public int EpochsTrained { get; internal init; }
    /// <summary>Parameters of the model (every weight).</summary>
    public long Parameters { get; internal init; }
    /// <summary>Multiply-adds of one forward pass of one image of the experiment's size, in billions (measured by the FlopCounter).</summary>
    public double GMacs { get; internal init; }
    /// <summary>Wall time of its trials (training, checkpoints and the validation pass after each rung).</summary>
    public TimeSpan TrainTime { get; internal init; }
    /// <summary>Training throughput: images per second over its epochs (loading, forward, backward, step).</summary>
    public double ImagesPerSecond { get; internal init; }
    /// <summary>The metrics of every epoch it trained, in order.</summary>
    public IReadOnlyList<EpochMetrics> History { get; internal init; } = [];
    /// <summary>Why it failed (<see cref="BackboneRunStatus.Failed"/>), or null.</summary>
    public Exception? Exception { get; internal init; }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Rank} {Name}: {(Metric is { } m ? m.ToString("F4", CultureInfo.InvariantCulture) : "-")} after {EpochsTrained} epoch(s) (rung {RungReached}, {Status}), {Parameters:N0} parameters, {GMacs:F3} GMACs, {TrainTime.TotalSeconds:F1} s, {ImagesPerSecond:F0} images/s");
}

/// <summary>What a progress report is about.</summary>
public enum BackboneTrialEvent
{
    /// <summary>A trial starts: a candidate trains from <see cref="BackboneTrialProgress.Epoch"/> to <see cref="BackboneTrialProgress.TargetEpoch"/>.</summary>
    Started,
    /// <summary>An epoch of the trial ended (<see cref="BackboneTrialProgress.EpochMetrics"/> holds its training metrics).</summary>
    Epoch,
    /// <summary>The trial ended and was scored on the validation set (<see cref="BackboneTrialProgress.Metric"/>).</summary>
    Completed,
    /// <summary>The trial threw; the candidate is out (<see cref="BackboneTrialProgress.Message"/>).</summary>
    Failed,
    /// <summary>The trial ran past the budget, or was cancelled, and was stopped.</summary>
    Interrupted,
    /// <summary>The experiment stopped launching trials (budget or cancellation; <see cref="BackboneTrialProgress.Message"/> says why).</summary>
    Stopped,
}

/// <summary>One progress report of a backbone experiment.</summary>
/// <param name="Event">What happened.</param>
/// <param name="CandidateIndex">The candidate's index (-1 for <see cref="BackboneTrialEvent.Stopped"/>).</param>
/// <param name="Candidate">The candidate (null for <see cref="BackboneTrialEvent.Stopped"/>).</param>
/// <param name="Rung">The rung, from 0.</param>
/// <param name="Epoch">The epoch reached so far (the starting epoch for <see cref="BackboneTrialEvent.Started"/>).</param>
/// <param name="TargetEpoch">The epoch the trial trains to.</param>
/// <param name="Metric">The optimizing metric (for <see cref="BackboneTrialEvent.Completed"/>).</param>
/// <param name="EpochMetrics">The epoch's training metrics (for <see cref="BackboneTrialEvent.Epoch"/>).</param>
/// <param name="Elapsed">Time since the experiment started.</param>
/// <param name="Message">A sentence for failures and stops.</param>
public sealed record BackboneTrialProgress(BackboneTrialEvent Event, int CandidateIndex, BackboneCandidate? Candidate, int Rung, int Epoch, int TargetEpoch,
    double? Metric, EpochMetrics? EpochMetrics, TimeSpan Elapsed, string? Message = null)
{
    /// <inheritdoc/>
    public override string ToString()
    {
        var ic = CultureInfo.InvariantCulture;
        string at = string.Create(ic, $"[{SuccessiveHalving.Format(Elapsed)}]");
        return Event switch
        {
            BackboneTrialEvent.Started => string.Create(ic, $"{at} rung {Rung}: {Candidate} — epochs {Epoch + 1}..{TargetEpoch}"),
            BackboneTrialEvent.Epoch => string.Create(ic, $"{at} rung {Rung}: {Candidate} — {EpochMetrics}"),
            BackboneTrialEvent.Completed => string.Create(ic, $"{at} rung {Rung}: {Candidate} — {Metric:F4} after epoch {Epoch}"),
            BackboneTrialEvent.Stopped => $"{at} stopped: {Message}",
            _ => string.Create(ic, $"{at} rung {Rung}: {Candidate} — {Event}: {Message}"),
        };
    }
}

/// <summary>
/// What a backbone experiment found (ML.NET AutoML's <c>ExperimentResult</c>): the leaderboard, best first, and the
/// best candidate's model, trained, as a transformer that <c>Model.Save</c> writes. Dispose it to free the model.
/// </summary>
public sealed class BackboneExperimentResult : IDisposable
{
    internal BackboneExperimentResult() { }

    /// <summary>Every candidate, best first: the rung reached (higher first), then the optimizing metric, then candidate order; failed and never-run candidates last.</summary>
    public IReadOnlyList<BackboneRunDetail> Leaderboard { get; internal init; } = [];

    /// <summary>The winner: the first row of <see cref="Leaderboard"/>.</summary>
    public BackboneRunDetail BestRun => Leaderboard[0];

    /// <summary>
    /// The winner's model: the fitted pre-featurizer followed by the trained backbone when <c>Execute</c> was given a
    /// pre-featurizer (the whole pipeline, ready for <c>Model.Save</c> and prediction engines), otherwise the backbone
    /// transformer alone (<see cref="BestBackbone"/>).
    /// </summary>
    public ITransformer BestModel { get; internal init; } = null!;

    /// <summary>The winner's trained backbone (the last transformer of <see cref="BestModel"/>).</summary>
    public AttentionBackboneTransformer BestBackbone { get; internal init; } = null!;

    /// <summary>The metric the experiment optimized.</summary>
    public MulticlassClassificationMetric OptimizingMetric { get; internal init; }

    /// <summary>The epochs of each rung, ascending (the last is <see cref="BackboneExperimentSettings.MaxEpochPerCandidate"/>).</summary>
    public IReadOnlyList<int> RungEpochs { get; internal init; } = [];

    /// <summary>How many trials were run (a trial trains one candidate through one rung).</summary>
    public int TrialCount { get; internal init; }

    /// <summary>True when the budget ended the experiment before every rung was trained.</summary>
    public bool BudgetExhausted { get; internal init; }

    /// <summary>True when the caller's cancellation ended it.</summary>
    public bool Cancelled { get; internal init; }

    /// <summary>Why the experiment stopped early (null when every rung ran).</summary>
    public string? StopReason { get; internal init; }

    /// <summary>Wall time of the experiment.</summary>
    public TimeSpan Elapsed { get; internal init; }

    /// <summary>Training images (after the validation split) and validation images.</summary>
    public (int Train, int Validation) Images { get; internal init; }

    /// <summary>The experiment folder with every candidate's checkpoint and weights (null when it was temporary and is deleted).</summary>
    public string? ExperimentDirectory { get; internal init; }

    /// <summary>Whether a greater value of <paramref name="metric"/> is better (false for log-loss).</summary>
    public static bool IsHigherBetter(MulticlassClassificationMetric metric) => metric != MulticlassClassificationMetric.LogLoss;

    /// <summary>Frees the best model.</summary>
    public void Dispose() => BestBackbone.Dispose();
}
