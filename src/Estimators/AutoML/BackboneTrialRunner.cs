using System.Globalization;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.AutoML;

/// <summary>
/// Trains the candidates of a backbone experiment with the <see cref="TrainingEngine"/>. Each candidate is one engine
/// run of <see cref="BackboneExperimentSettings.MaxEpochPerCandidate"/> epochs (its learning-rate schedule laid over all
/// of them) with a checkpoint folder of its own; a trial runs it until the rung's epoch and pauses it there — the
/// metrics callback cancels after that epoch's checkpoint is written — and a promoted candidate's next trial resumes
/// that checkpoint (weights, optimizer state, schedule position, seed), so a candidate trained through several rungs
/// ends with the weights of one uninterrupted run. After each trial the model is scored on the validation set and its
/// weights are saved next to the checkpoint (<c>weights.safetensors</c>), from which the winner is rebuilt.
/// </summary>
/// <remarks>
/// Why pausing rather than raising <c>MaxEpoch</c> from rung to rung: the engine's checkpoint records the run's
/// settings, MaxEpoch included, and refuses to resume with other ones; and the cosine, warm-up and one-cycle schedules
/// are functions of the total step count, so a run of r epochs is not the beginning of a run of ηr epochs.
/// </remarks>
internal sealed class BackboneTrialRunner : ITrialRunner
{
    internal const string WeightsFileName = "weights.safetensors";
    private readonly MLContext _env;
    private readonly BackboneExperimentSettings _settings;
    private readonly ExperimentData _data;
    private readonly ulong _seed;
    private readonly Func<TimeSpan> _clock;
    private readonly IProgress<BackboneTrialProgress>? _progress;
    private readonly int[] _validationLabels;

    public BackboneTrialRunner(MLContext env, BackboneExperimentSettings settings, IReadOnlyList<BackboneCandidate> candidates, ExperimentData data,
        int seed, string directory, Func<TimeSpan> clock, IProgress<BackboneTrialProgress>? progress)
    {
        _env = env; _settings = settings; _data = data; _seed = (ulong)(uint)seed; _clock = clock; _progress = progress;
        _validationLabels = data.ValidationLabels;
        States = candidates.Select((c, i) => new CandidateState(c, Path.Combine(directory, FolderName(i, c)))).ToArray();
        foreach (var s in States) Measure(s);
    }

    /// <summary>Per candidate: what it measured and where its files are.</summary>
    public IReadOnlyList<CandidateState> States { get; }

    internal sealed class CandidateState(BackboneCandidate candidate, string directory)
    {
        public BackboneCandidate Candidate { get; } = candidate;
        public string Directory { get; } = directory;
        public long Parameters { get; set; }
        public long MultiplyAdds { get; set; }
        public Exception? SetupError { get; set; }
        public List<EpochMetrics> History { get; } = new();
        public MulticlassMetrics? Metrics { get; set; }
        public int EpochsScored { get; set; }
        public double TrainSeconds { get; set; }
        public double TrainImages { get; set; }
        public TrainingResult? LastResult { get; set; }
        public string WeightsPath => Path.Combine(Directory, WeightsFileName);
        public double ImagesPerSecond => TrainSeconds > 0 ? TrainImages / TrainSeconds : 0;
    }

    private static string FolderName(int index, BackboneCandidate c)
    {
        var b = c.Backbone;
        string name = string.Create(CultureInfo.InvariantCulture,
            $"{index:D2}-{b.Arch}{(b.Attention is null ? "" : "-" + b.Attention)}-w{b.WidthMultiplier:0.###}{(b.SmallImage ? "-small" : "")}{(b.StemStride == 0 ? "" : $"-s{b.StemStride}")}-lr{c.LearningRate:G4}-bs{c.BatchSize}");
        foreach (char ch in Path.GetInvalidFileNameChars()) name = name.Replace(ch, '_');
        return name;
    }

    private BackboneOptions Options(BackboneCandidate c) => c.Backbone.Options(_data.Classes.Count, _data.Shape.C);

    /// <summary>Builds the candidate's model as the trainer does: libtorch's generator seeded, then the registry.</summary>
    private Module<Tensor, Tensor> Create(BackboneCandidate c)
    {
        TorchRuntime.ManualSeed(_seed);
        return ModelRegistry.Create(c.Backbone.Arch, Options(c));
    }

    /// <summary>Parameters and multiply-adds of one image of the experiment's shape; a model that cannot take it fails here.</summary>
    private void Measure(CandidateState s)
    {
        try
        {
            using var model = Create(s.Candidate);
            model.Eval();
            using var noGrad = TorchRuntime.NoGrad();
            using var scope = Tensor.NewDisposeScope();
            using var flops = FlopCounter.Start();
            var (c, h, w) = _data.Shape;
            model.Forward(Tensor.Zeros(new long[] { 1, c, h, w }));
            s.Parameters = model.ParameterCount();
            s.MultiplyAdds = flops.MultiplyAdds;
        }
        catch (Exception e) when (e is TorchException or ArgumentException or InvalidOperationException)
        {
            s.SetupError = new InvalidOperationException(
                $"{s.Candidate.Backbone} does not take {_data.Shape.C}x{_data.Shape.H}x{_data.Shape.W} images: {e.Message}", e);
        }
    }

    public double EpochCost(int candidate) => States[candidate].MultiplyAdds * (double)_data.Train.Count;

    public double Run(TrialRequest request, TimeSpan timeLimit, CancellationToken cancellationToken)
    {
        var s = States[request.Candidate];
        var c = s.Candidate;
        if (s.SetupError is { } setup) throw setup;
        Report(BackboneTrialEvent.Started, request, request.FromEpoch, null, null);
        using var pause = new CancellationTokenSource();
        using var deadline = new CancellationTokenSource(timeLimit < TimeSpan.FromDays(20) ? timeLimit : TimeSpan.FromDays(20));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token, pause.Token);
        int pausedAt = -1;
        var settings = _settings.TrainingSettings(c, _seed) with
        {
            CheckpointDirectory = s.Directory,
            Device = _env.Device,
            MetricsCallback = m =>
            {
                s.History.Add(m);
                s.TrainImages += _data.Train.Count;
                s.TrainSeconds += _data.Train.Count / Math.Max(m.ImagesPerSecond, 1e-9);
                Report(BackboneTrialEvent.Epoch, request, m.Epoch, null, m);
                if (m.Epoch >= request.ToEpoch && m.Epoch < m.MaxEpoch)
                {
                    pausedAt = m.Epoch;
                    pause.Cancel();
                }
            },
        };
        using var model = Create(c);
        var engine = new TrainingEngine(settings);
        engine.Log += (_, line) => _env.WriteLog(nameof(BackboneExperiment), $"{c.Name}: {line}");
        try
        {
            s.LastResult = engine.Fit(model, _data.Train, null, _data.Pipeline, _data.Pipeline, linked.Token);
        }
        catch (OperationCanceledException) when (pausedAt == request.ToEpoch)
        {
            // Paused after the rung's epoch: its checkpoint is on disk and the model holds that epoch's weights.
            s.LastResult = null;
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested)
        {
            throw new OperationCanceledException($"{c.Name}: stopped by the experiment's time budget", e, deadline.Token);
        }
        int reached = s.History.Count > 0 ? s.History[^1].Epoch : request.FromEpoch;
        if (reached != request.ToEpoch)
            throw new InvalidOperationException($"{c.Name}: training stopped at epoch {reached} instead of {request.ToEpoch}");

        var probabilities = TrainingEngine.PredictProbabilities(model, _data.Validation, _data.Pipeline, c.BatchSize, _env.Device,
            _settings.Workers ?? Environment.ProcessorCount, format: _settings.MemoryFormat);
        var metrics = MulticlassEvaluator.Evaluate(probabilities, _validationLabels, _data.Classes.Count, Math.Min(5, _data.Classes.Count), _data.Classes);
        model.Save(s.WeightsPath, new Dictionary<string, string>
        {
            ["architecture"] = c.Backbone.Arch,
            ["epoch"] = request.ToEpoch.ToString(CultureInfo.InvariantCulture),
            ["format"] = "pt",
        });
        s.Metrics = metrics;
        s.EpochsScored = request.ToEpoch;
        double metric = MetricOf(metrics, _settings.OptimizingMetric);
        Report(BackboneTrialEvent.Completed, request, request.ToEpoch, metric, null);
        return BackboneExperimentResult.IsHigherBetter(_settings.OptimizingMetric) ? metric : -metric;
    }

    internal static double MetricOf(MulticlassMetrics m, MulticlassClassificationMetric metric) => metric switch
    {
        MulticlassClassificationMetric.MicroAccuracy => m.MicroAccuracy,
        MulticlassClassificationMetric.MacroAccuracy => m.MacroAccuracy,
        MulticlassClassificationMetric.LogLoss => m.LogLoss,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "unknown metric"),
    };

    /// <summary>The candidate's model with the weights of its last scored trial, in evaluation mode on the context's device.</summary>
    public Module<Tensor, Tensor> LoadModel(int candidate)
    {
        var s = States[candidate];
        var model = Create(s.Candidate);
        try
        {
            model.LoadWeights(s.WeightsPath, strict: true);
            model.ToMemoryFormat(_settings.MemoryFormat);
            model.Eval();
            if (_env.Device != Device.Cpu) model.To(_env.Device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private void Report(BackboneTrialEvent e, TrialRequest r, int epoch, double? metric, EpochMetrics? m) =>
        _progress?.Report(new BackboneTrialProgress(e, r.Candidate, States[r.Candidate].Candidate, r.Rung, epoch, r.ToEpoch, metric, m, _clock()));
}
