using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Trainers;

/// <summary>
/// The training state written after every epoch: one safetensors file holding the model's state dict
/// (<c>model.*</c>), the optimizer's state tensors (<c>optimizer.*</c>), the best weights kept for early stopping
/// (<c>best.*</c>), and, in its metadata, a JSON document with the epoch, the scheduler position, the seed, the early
/// stopping state, the per-epoch history and the settings the run was started with. One file written with a
/// temporary file and a rename, so a crash leaves either the previous checkpoint or the new one, never a mix.
/// </summary>
internal sealed class TrainingCheckpoint
{
    internal const string FileName = "checkpoint.safetensors";
    internal const string HistoryFileName = "history.json";
    internal const string Format = "mlnet-attention-training-checkpoint";
    internal const int Version = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    private static readonly JsonSerializerOptions IndentedJson = new(Json) { WriteIndented = true };

    /// <summary>The JSON part.</summary>
    internal sealed class State
    {
        public int Version { get; set; } = TrainingCheckpoint.Version;
        public int Epoch { get; set; }
        public int SchedulerLastEpoch { get; set; } = -1;
        public ulong Seed { get; set; }
        public bool StoppedEarly { get; set; }
        public int BestEpoch { get; set; }
        public double BestMetric { get; set; } = double.NaN;
        public int EpochsWithoutImprovement { get; set; }
        public long[] StepCounts { get; set; } = [];
        /// <summary>The float16 grad scaler's scale (null: no scaler) and growth tracker.</summary>
        public double? GradScale { get; set; }
        public int GradScalerGrowthTracker { get; set; }
        public List<EpochMetrics> History { get; set; } = new();
        public Dictionary<string, string> Settings { get; set; } = new();
    }

    internal static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>
    /// Deletes the temporary files a write interrupted by a crash or a kill left behind (".checkpoint.safetensors.*.tmp",
    /// ".history.json.*.tmp"); the checkpoint itself is never one of them.
    /// </summary>
    internal static void RemoveStaleTemporaries(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var pattern in new[] { $".{FileName}.*.tmp", $".{HistoryFileName}.*.tmp" })
            foreach (var f in Directory.EnumerateFiles(directory, pattern))
            {
                try
                {
                    File.Delete(f);
                }
                catch (IOException)
                {
                    // Another run may be writing it; leave it.
                }
                catch (UnauthorizedAccessException)
                {
                    // Not ours to delete.
                }
            }
    }

    /// <summary>
    /// What decides the trajectory of a run: the settings (not the callback, the device, the worker count or the
    /// bad-input policy; the mixed precision only when set), the training set size and classes, and the model's state-dict layout and trainable parameters.
    /// A checkpoint is only resumed by a run with the same fingerprint.
    /// </summary>
    internal static Dictionary<string, string> Fingerprint(TrainingSettings s, Module model, int trainCount, int classCount)
    {
        var ic = CultureInfo.InvariantCulture;
        string D(double v) => v.ToString("R", ic);
        var layout = new StringBuilder();
        foreach (var (key, t) in model.StateDict())
            layout.Append(key).Append(':').Append(string.Join('x', t.Shape)).Append(':').Append(t.DType).Append(';');
        layout.Append("|trainable:");
        foreach (var (key, t) in model.NamedParameters())
            if (t.RequiresGrad) layout.Append(key).Append(';');
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(layout.ToString())))[..16].ToLowerInvariant();
        var fingerprint = new Dictionary<string, string>
        {
            [nameof(s.BatchSize)] = s.BatchSize.ToString(ic),
            [nameof(s.MaxEpoch)] = s.MaxEpoch.ToString(ic),
            [nameof(s.LearningRate)] = D(s.LearningRate),
            [nameof(s.BackboneLearningRateFactor)] = D(s.BackboneLearningRateFactor),
            [nameof(s.WeightDecay)] = D(s.WeightDecay),
            [nameof(s.Optimizer)] = s.Optimizer.ToString(),
            [nameof(s.Momentum)] = D(s.Momentum),
            [nameof(s.Nesterov)] = s.Nesterov.ToString(),
            [nameof(s.Scheduler)] = s.Scheduler.ToString(),
            [nameof(s.StepSize)] = s.StepSize.ToString(ic),
            [nameof(s.Gamma)] = D(s.Gamma),
            [nameof(s.Milestones)] = s.Milestones is null ? "" : string.Join(",", s.Milestones.Select(m => m.ToString(ic))),
            [nameof(s.WarmupEpochs)] = s.WarmupEpochs.ToString(ic),
            [nameof(s.LabelSmoothing)] = D(s.LabelSmoothing),
            [nameof(s.EarlyStoppingPatience)] = s.EarlyStoppingPatience?.ToString(ic) ?? "",
            [nameof(s.EarlyStoppingMetric)] = s.EarlyStoppingMetric.ToString(),
            [nameof(s.Seed)] = s.Seed.ToString(ic),
            [nameof(s.GradientClipNorm)] = s.GradientClipNorm is { } c ? D(c) : "",
            ["TrainingImages"] = trainCount.ToString(ic),
            ["Classes"] = classCount.ToString(ic),
            ["Model"] = model.GetType().FullName + "/" + hash,
        };
        // Only when set, so checkpoints of float32 runs written before the setting existed still resume.
        if (s.MixedPrecision != MixedPrecision.None) fingerprint[nameof(s.MixedPrecision)] = s.MixedPrecision.ToString();
        return fingerprint;
    }

    /// <summary>Writes the checkpoint atomically.</summary>
    internal static void Write(string directory, State state, Module model, Optimizer optimizer,
        IReadOnlyList<KeyValuePair<string, Tensor>>? best)
    {
        Directory.CreateDirectory(directory);
        var tensors = new List<KeyValuePair<string, RawTensor>>();
        foreach (var (key, t) in model.StateDict()) tensors.Add(new("model." + key, t.ToRaw()));
        var ps = Slots(optimizer);
        switch (optimizer)
        {
            case SGD sgd:
                for (int i = 0; i < ps.Count; i++)
                    if (sgd.MomentumBuffer(ps[i].Group, ps[i].Index) is { } buf) tensors.Add(new($"optimizer.momentum_buffer.{i}", buf.ToRaw()));
                state.StepCounts = [];
                break;
            case AdamW adam:
                var steps = new long[ps.Count];
                for (int i = 0; i < ps.Count; i++)
                {
                    var (g, j) = ps[i];
                    steps[i] = adam.StepCount(g, j);
                    if (adam.ExpAvg(g, j) is { } m) tensors.Add(new($"optimizer.exp_avg.{i}", m.ToRaw()));
                    if (adam.ExpAvgSq(g, j) is { } v) tensors.Add(new($"optimizer.exp_avg_sq.{i}", v.ToRaw()));
                    if (adam.MaxExpAvgSq(g, j) is { } vm) tensors.Add(new($"optimizer.max_exp_avg_sq.{i}", vm.ToRaw()));
                }
                state.StepCounts = steps;
                break;
            default:
                throw new NotSupportedException($"checkpoints of {optimizer.GetType().Name} are not supported");
        }
        if (best is not null)
            foreach (var (key, t) in best) tensors.Add(new("best." + key, t.ToRaw()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["state"] = JsonSerializer.Serialize(state, Json),
        };
        SafeTensors.Write(PathIn(directory), tensors, metadata);
        WriteHistory(directory, state.History);
    }

    /// <summary>
    /// A readable copy of the history next to the checkpoint (indented JSON, replaced atomically). The checkpoint's own
    /// copy is the one resumed from; this one is for people and tools watching a run.
    /// </summary>
    private static void WriteHistory(string directory, List<EpochMetrics> history)
    {
        string path = Path.Combine(directory, HistoryFileName);
        string temp = Path.Combine(directory, $".{HistoryFileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(history, IndentedJson));
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>The checkpoint's JSON state and its tensors (host memory, not yet libtorch tensors).</summary>
    internal static (State State, IReadOnlyList<KeyValuePair<string, RawTensor>> Tensors) Read(string directory)
    {
        string path = PathIn(directory);
        var tensors = SafeTensors.Read(path, out var metadata);
        if (!metadata.TryGetValue("format", out var format) || format != Format || !metadata.TryGetValue("state", out var json))
            throw new InvalidDataException($"'{path}' is not a training checkpoint of MLNet.Attention (no '{Format}' metadata)");
        State? state;
        try
        {
            state = JsonSerializer.Deserialize<State>(json, Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}': the checkpoint's state is not valid JSON: {e.Message}", e);
        }
        if (state is null) throw new InvalidDataException($"'{path}': the checkpoint has no state");
        if (state.Version > Version)
            throw new InvalidDataException($"'{path}' was written by a newer version of MLNet.Attention (checkpoint format {state.Version}; this version reads up to {Version})");
        return (state, tensors);
    }

    /// <summary>Every parameter of the optimizer as (group, index), group by group: the flat numbering of the checkpoint's optimizer tensors.</summary>
    private static List<(int Group, int Index)> Slots(Optimizer optimizer)
    {
        var slots = new List<(int, int)>();
        for (int g = 0; g < optimizer.ParamGroups.Count; g++)
            for (int i = 0; i < optimizer.ParamGroups[g].Parameters.Count; i++) slots.Add((g, i));
        return slots;
    }

    /// <summary>Puts the optimizer's state tensors back from the checkpoint.</summary>
    internal static void RestoreOptimizer(Optimizer optimizer, State state, IReadOnlyDictionary<string, RawTensor> tensors, string path)
    {
        var slots = Slots(optimizer);
        var ps = slots.Select(p => optimizer.ParamGroups[p.Group].Parameters[p.Index]).ToList();
        Tensor? Get(string name, Device device)
        {
            if (!tensors.TryGetValue(name, out var raw)) return null;
            return raw.ToTensor(device);
        }
        switch (optimizer)
        {
            case SGD sgd:
                for (int i = 0; i < ps.Count; i++)
                {
                    using var buf = Get($"optimizer.momentum_buffer.{i}", ps[i].Device);
                    sgd.SetMomentumBuffer(slots[i].Group, slots[i].Index, buf);
                }
                break;
            case AdamW adam:
                if (state.StepCounts.Length != ps.Count)
                    throw new InvalidDataException($"'{path}' holds AdamW step counts for {state.StepCounts.Length} parameters, the model has {ps.Count}");
                for (int i = 0; i < ps.Count; i++)
                {
                    using var m = Get($"optimizer.exp_avg.{i}", ps[i].Device);
                    using var v = Get($"optimizer.exp_avg_sq.{i}", ps[i].Device);
                    using var vm = Get($"optimizer.max_exp_avg_sq.{i}", ps[i].Device);
                    adam.SetState(slots[i].Group, slots[i].Index, m, v, vm, state.StepCounts[i]);
                }
                break;
            default:
                throw new NotSupportedException($"checkpoints of {optimizer.GetType().Name} are not supported");
        }
    }
}
