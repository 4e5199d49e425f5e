using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;

namespace MLNet.Attention.AutoML;

/// <summary>
/// Compares backbones (× learning rates × batch sizes) by successive halving under a wall-clock budget (ML.NET
/// AutoML's <c>MulticlassClassificationExperiment</c>, with ASHA's rung schedule instead of a model search): every
/// candidate trains for the first rung's epochs and is scored on the validation set; the best 1/η continue, resuming
/// their training, for η times the epochs; and so on until the survivors reach
/// <see cref="BackboneExperimentSettings.MaxEpochPerCandidate"/>. Weak candidates stop early, so their time goes to the
/// strong ones. Made by <c>mlContext.Auto().CreateBackboneExperiment(settings)</c>.
/// </summary>
/// <remarks>
/// <para>Every candidate trains with the same seed (the same validation split, shuffles and augmentation, and the same
/// initialisation for the same architecture), and CPU training is deterministic, so an experiment whose budget does not
/// bind gives the same leaderboard, metrics included, on a rerun with the same seed and thread count. When the budget
/// binds, where it cuts depends on measured times.</para>
/// <para>The learning-rate schedule runs over <see cref="BackboneExperimentSettings.MaxEpochPerCandidate"/> epochs for
/// every candidate, and a candidate's rungs are pauses of that one run: after rung k it has trained the first
/// <c>RungEpochs[k]</c> epochs of the full schedule (with cosine annealing, at a still-high learning rate — the same
/// point of the schedule for every candidate of the rung), and the winner, trained through every rung, equals a
/// candidate trained for all epochs without pauses, bit for bit.</para>
/// </remarks>
public sealed class BackboneExperiment
{
    private readonly MLContext _env;

    internal BackboneExperiment(MLContext env, BackboneExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(settings);
        _env = env;
        Settings = settings;
        settings.Validate();
    }

    /// <summary>The settings (checked again by <see cref="Execute(IDataView, IDataView?)"/>).</summary>
    public BackboneExperimentSettings Settings { get; }

    /// <summary>The configurations to train, in candidate order.</summary>
    public IReadOnlyList<BackboneCandidate> Candidates => Settings.ResolveCandidates();

    /// <summary>The epochs of each rung for the current settings, ascending.</summary>
    public IReadOnlyList<int> RungEpochs => SuccessiveHalving.Rungs(Candidates.Count, Settings.MaxEpochPerCandidate, Settings.ReductionFactor, Settings.MinEpochPerCandidate);

    /// <summary>
    /// Runs the experiment on <paramref name="trainData"/>, whose feature column comes from image transforms (as for
    /// the trainers), scoring on <paramref name="validationData"/> (null: a stratified
    /// <see cref="BackboneExperimentSettings.ValidationFraction"/> of the training data).
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range, a column is missing or of the wrong type, or the data has a single class.</exception>
    /// <exception cref="InvalidOperationException">No candidate completed a trial (every one failed, or the budget was too short for any).</exception>
    /// <exception cref="OperationCanceledException">The experiment was cancelled before any candidate completed a trial.</exception>
    public BackboneExperimentResult Execute(IDataView trainData, IDataView? validationData = null) => Execute(trainData, validationData, null);

    /// <summary>
    /// Runs the experiment with a pre-featurizer (ML.NET AutoML's <c>preFeaturizer</c>): it is fitted on
    /// <paramref name="trainData"/> and applied to both sets, and the best model is the fitted pre-featurizer followed by
    /// the trained backbone — the whole pipeline from raw rows (image paths, bytes, images) to predictions.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range, a column is missing or of the wrong type, or the data has a single class.</exception>
    /// <exception cref="InvalidOperationException">No candidate completed a trial (every one failed, or the budget was too short for any).</exception>
    /// <exception cref="OperationCanceledException">The experiment was cancelled before any candidate completed a trial.</exception>
    public BackboneExperimentResult Execute(IDataView trainData, IDataView? validationData, IEstimator<ITransformer>? preFeaturizer)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var settings = Settings;
        var candidates = settings.Validate();
        var clock = Stopwatch.StartNew();
        var ct = settings.CancellationToken;
        ct.ThrowIfCancellationRequested();
        int seed = settings.Seed ?? _env.Seed ?? _env.NextSeed();

        ITransformer? featurizer = preFeaturizer?.Fit(trainData);
        var train = featurizer?.Transform(trainData) ?? trainData;
        var validation = validationData is null ? null : featurizer?.Transform(validationData) ?? validationData;
        var data = ExperimentData.Read(train, validation, settings.LabelColumnName, settings.FeatureColumnName, settings.ValidationFraction, seed, settings.OnBadInput);

        bool temporary = settings.CheckpointDirectory is null;
        string directory = Path.Combine(settings.CheckpointDirectory ?? Path.GetTempPath(),
            string.Create(CultureInfo.InvariantCulture, $"{(temporary ? "mlnet-attention-" : "")}experiment-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..8]}"));
        Directory.CreateDirectory(directory);
        AttentionBackboneTransformer? best = null;
        try
        {
            var progress = settings.Progress;
            var runner = new BackboneTrialRunner(_env, settings, candidates, data, seed, directory, () => clock.Elapsed, progress);
            var halving = new SuccessiveHalving(candidates.Count, settings.MaxEpochPerCandidate, settings.ReductionFactor, settings.MinEpochPerCandidate);
            var (c, h, w) = data.Shape;
            Log(string.Create(CultureInfo.InvariantCulture,
                $"{candidates.Count} candidates, rungs of {string.Join("/", halving.RungEpochs)} epochs (η = {settings.ReductionFactor}), budget {SuccessiveHalving.Format(settings.MaxExperimentTime)}, optimizing {settings.OptimizingMetric}; {data.Train.Count} training and {data.Validation.Count} validation images ({c}x{h}x{w}, {data.Classes.Count} classes), seed {seed}"));

            var schedule = halving.Run(runner, settings.MaxExperimentTime, () => clock.Elapsed, ct, record =>
            {
                var s = runner.States[record.Request.Candidate];
                if (record.State == TrialState.Completed) return;
                var kind = record.State == TrialState.Failed ? BackboneTrialEvent.Failed : BackboneTrialEvent.Interrupted;
                string message = record.State == TrialState.Failed
                    ? record.Error!.Message
                    : record.State == TrialState.Cancelled ? "cancelled" : "stopped by the time budget";
                Log($"{s.Candidate.Name}: rung {record.Request.Rung} {kind}: {message}", record.State == TrialState.Failed ? LogKind.Warning : LogKind.Info);
                progress?.Report(new BackboneTrialProgress(kind, record.Request.Candidate, s.Candidate, record.Request.Rung,
                    s.History.Count > 0 ? s.History[^1].Epoch : record.Request.FromEpoch, record.Request.ToEpoch, null, null, clock.Elapsed, message));
            });
            if (schedule.StopReason is { } why)
            {
                Log($"stopped: {why}");
                progress?.Report(new BackboneTrialProgress(BackboneTrialEvent.Stopped, -1, null, -1, 0, 0, null, null, clock.Elapsed, why));
            }

            var leaderboard = Leaderboard(schedule, runner);
            var winner = leaderboard[0];
            if (winner.Metric is null)
            {
                if (schedule.Stop == ScheduleStop.Cancelled) throw new OperationCanceledException("the experiment was cancelled before any candidate completed a trial", ct);
                var failures = leaderboard.Where(r => r.Exception is not null).ToList();
                throw failures.Count == leaderboard.Count
                    ? new InvalidOperationException($"every candidate failed: {string.Join("; ", failures.Select(f => $"{f.Name}: {f.Exception!.Message}"))}", failures[0].Exception)
                    : new InvalidOperationException($"no candidate completed a trial: {schedule.StopReason ?? "every trial failed"}{(failures.Count > 0 ? $"; failures: {string.Join("; ", failures.Select(f => $"{f.Name}: {f.Exception!.Message}"))}" : "")}");
            }

            var ws = runner.States[winner.CandidateIndex];
            var model = runner.LoadModel(winner.CandidateIndex);
            try
            {
                var info = new BackboneModelInfo
                {
                    Architecture = ws.Candidate.Backbone.Arch,
                    NumClasses = data.Classes.Count,
                    InChannels = c,
                    SmallImage = ws.Candidate.Backbone.SmallImage,
                    WidthMultiplier = ws.Candidate.Backbone.WidthMultiplier,
                    StemStride = ws.Candidate.Backbone.StemStride,
                    MemoryFormat = settings.MemoryFormat,
                    Attention = ws.Candidate.Backbone.Attention,
                    InputShape = new[] { c, h, w },
                    Labels = data.Classes.ToArray(),
                    LabelType = data.LabelType.ToString()!,
                    KeyValueType = data.KeyValueType,
                    LabelColumnName = settings.LabelColumnName,
                    FeatureColumnName = settings.FeatureColumnName,
                    ScoreColumnName = DefaultColumnNames.Score,
                    PredictedLabelColumnName = DefaultColumnNames.PredictedLabel,
                    BatchSize = ws.Candidate.BatchSize,
                    Training = Hyperparameters(winner, schedule, seed, data),
                };
                best = new AttentionBackboneTransformer(_env, info, model, _env.Device,
                    ws.LastResult is { } r && r.History.Count == winner.EpochsTrained ? r : null);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            Log($"best: {winner}");
            var result = new BackboneExperimentResult
            {
                Leaderboard = leaderboard,
                BestModel = featurizer is null ? best : featurizer.Append(best),
                BestBackbone = best,
                OptimizingMetric = settings.OptimizingMetric,
                RungEpochs = halving.RungEpochs,
                TrialCount = schedule.Trials.Count,
                BudgetExhausted = schedule.Stop is ScheduleStop.BudgetExhausted or ScheduleStop.Interrupted,
                Cancelled = schedule.Stop == ScheduleStop.Cancelled,
                StopReason = schedule.StopReason,
                Elapsed = clock.Elapsed,
                Images = (data.Train.Count, data.Validation.Count),
                ExperimentDirectory = temporary ? null : directory,
            };
            best = null;
            return result;
        }
        catch
        {
            best?.Dispose();
            throw;
        }
        finally
        {
            if (temporary)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException e)
                {
                    Log($"could not delete the temporary experiment folder '{directory}': {e.Message}", LogKind.Warning);
                }
                catch (UnauthorizedAccessException e)
                {
                    Log($"could not delete the temporary experiment folder '{directory}': {e.Message}", LogKind.Warning);
                }
            }
        }
    }

    private List<BackboneRunDetail> Leaderboard(ScheduleResult schedule, BackboneTrialRunner runner)
    {
        int last = schedule.RungEpochs.Count - 1;
        var rows = new List<BackboneRunDetail>(schedule.Ranking.Count);
        foreach (int i in schedule.Ranking)
        {
            var o = schedule.Candidates[i];
            var s = runner.States[i];
            var status = Status(o, last);
            rows.Add(new BackboneRunDetail
            {
                Rank = rows.Count + 1,
                CandidateIndex = i,
                Candidate = s.Candidate,
                Status = status,
                Metric = o.Score is null || s.Metrics is null ? null : BackboneTrialRunner.MetricOf(s.Metrics, Settings.OptimizingMetric),
                ValidationMetrics = o.Score is null ? null : s.Metrics,
                RungReached = o.Rung,
                EpochsTrained = o.Epochs,
                Parameters = s.Parameters,
                GMacs = s.MultiplyAdds / 1e9,
                TrainTime = o.Time,
                ImagesPerSecond = s.ImagesPerSecond,
                History = s.History.ToArray(),
                Exception = o.Error,
            });
        }
        return rows;
    }

    /// <summary>What became of a candidate, from where the schedule left it.</summary>
    internal static BackboneRunStatus Status(CandidateOutcome o, int lastRung) =>
        o.Error is not null ? BackboneRunStatus.Failed
        : o.Score is not null && o.Rung == lastRung ? BackboneRunStatus.Finished
        : o.Pending ? BackboneRunStatus.Pending
        : o.Score is null ? BackboneRunStatus.NotRun
        : BackboneRunStatus.Eliminated;

    private JsonObject Hyperparameters(BackboneRunDetail winner, ScheduleResult schedule, int seed, ExperimentData data)
    {
        var s = Settings;
        var c = winner.Candidate;
        return new JsonObject
        {
            ["autoML"] = "successive halving",
            ["candidate"] = c.Name,
            ["candidates"] = schedule.Candidates.Count,
            ["rungEpochs"] = new JsonArray(schedule.RungEpochs.Select(e => (JsonNode)e).ToArray()),
            ["reductionFactor"] = s.ReductionFactor,
            ["rungReached"] = winner.RungReached,
            ["optimizingMetric"] = s.OptimizingMetric.ToString(),
            ["metric"] = winner.Metric,
            ["batchSize"] = c.BatchSize,
            ["maxEpoch"] = s.MaxEpochPerCandidate,
            ["epochsTrained"] = winner.EpochsTrained,
            ["learningRate"] = c.LearningRate,
            ["weightDecay"] = s.WeightDecay,
            ["optimizer"] = s.Optimizer.ToString(),
            ["learningRateScheduler"] = s.LearningRateScheduler.ToString(),
            ["labelSmoothing"] = s.LabelSmoothing,
            ["memoryFormat"] = s.MemoryFormat.ToString(),
            ["seed"] = seed,
            ["trainImages"] = data.Train.Count,
            ["validationImages"] = data.Validation.Count,
        };
    }

    private void Log(string message, LogKind kind = LogKind.Info) => _env.WriteLog(nameof(BackboneExperiment), message, kind);
}
