using System.Diagnostics;
using System.Globalization;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Transforms;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Trainers;

/// <summary>
/// Trains an image classifier (any <c>Module&lt;Tensor, Tensor&gt;</c> mapping (N, C, H, W) images to (N, K) logits):
/// an epoch loop over the streaming <see cref="ImageBatchLoader"/>, cross entropy with label smoothing, SGD or AdamW
/// over the model's trainable parameters, a learning-rate schedule stepped per batch, validation after every epoch,
/// early stopping that restores the best weights, an atomic checkpoint after every epoch that the next
/// <see cref="Fit"/> resumes from, and a clear error when the loss stops being finite.
/// </summary>
/// <remarks>
/// <para>
/// Determinism: on the CPU, two runs with the same settings, data, model initialisation and libtorch thread count
/// give bit-identical weights. The shuffle and the augmentations depend only on <see cref="TrainingSettings.Seed"/>
/// and the epoch (not on the worker count), and libtorch's generator is reseeded from the seed and the epoch at the
/// start of every epoch — which also makes a resumed run equal to an uninterrupted one. This reseeding changes the
/// process-wide libtorch generator.
/// </para>
/// <para>
/// Checkpoints: with <see cref="TrainingSettings.CheckpointDirectory"/>, <c>checkpoint.safetensors</c> there holds the
/// weights, the optimizer state (momentum buffers, Adam moments and step counts), the scheduler position, the epoch,
/// the seed, the early-stopping state and the history, replaced atomically after every epoch (with a readable copy of
/// the history in <c>history.json</c>). A later
/// <see cref="Fit"/> with the same settings and model resumes after its epoch (or, when the run had finished,
/// returns its result without training); a checkpoint of a run with other settings or another model is an error
/// rather than being overwritten.
/// </para>
/// </remarks>
public sealed class TrainingEngine
{
    /// <summary>The checkpoint's file name inside <see cref="TrainingSettings.CheckpointDirectory"/>.</summary>
    public const string CheckpointFileName = TrainingCheckpoint.FileName;

    /// <summary>Creates an engine; the settings are validated here.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="TrainingSettings.Validate"/>).</exception>
    /// <exception cref="ArgumentException"><see cref="TrainingSettings.MixedPrecision"/> is Float16 and the device is not a GPU.</exception>
    public TrainingEngine(TrainingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (settings.MixedPrecision == MixedPrecision.Float16 && !settings.Device.IsCuda)
            throw new ArgumentException(
                $"MixedPrecision = Float16 needs a CUDA device, but Device is {settings.Device}: CPU autocast runs bfloat16 only in libtorch {TorchRuntime.Version} (and float16 loss scaling is for GPUs). Use MixedPrecision.BFloat16 on the CPU, or None.",
                nameof(settings));
        Settings = settings;
    }

    /// <summary>The settings.</summary>
    public TrainingSettings Settings { get; }

    /// <summary>Human-readable progress: the run's start, a resume, every epoch's summary, skipped inputs, early stopping, restored weights.</summary>
    public event EventHandler<string>? Log;

    private void Write(string line) => Log?.Invoke(this, line);

    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (through <paramref name="trainPipeline"/>, with its
    /// random augmentations) and validates it after every epoch on <paramref name="validation"/> (through
    /// <paramref name="evalPipeline"/>). The model is moved to <see cref="TrainingSettings.Device"/> and trained in place;
    /// it is left in evaluation mode, holding the last epoch's weights, or the best epoch's with early stopping.
    /// </summary>
    /// <param name="model">The classifier: (N, C, H, W) images to (N, K) logits, K = the number of classes.</param>
    /// <param name="train">The training images.</param>
    /// <param name="validation">Validation images with the same classes, or null.</param>
    /// <param name="trainPipeline">The per-image training pipeline (augmentations run with a seeded random source).</param>
    /// <param name="evalPipeline">The per-image evaluation pipeline for <paramref name="validation"/>.</param>
    /// <param name="cancellationToken">Checked before every batch; the last checkpoint stays intact.</param>
    /// <returns>The history and what happened.</returns>
    /// <exception cref="ArgumentException">Early stopping without a validation set, validation classes that differ from the training classes, a model without trainable parameters, or a model whose outputs do not match the classes.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite (the message names the epoch and batch).</exception>
    /// <exception cref="InvalidOperationException">The checkpoint directory holds a checkpoint of a different run, or the device is not available.</exception>
    /// <exception cref="ImageDataException">An image cannot be loaded and <see cref="TrainingSettings.OnBadInput"/> is <see cref="BadInputPolicy.Throw"/>.</exception>
    public TrainingResult Fit(Module<Tensor, Tensor> model, ImageDataset train, ImageDataset? validation, ImagePipeline trainPipeline,
        ImagePipeline evalPipeline, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(trainPipeline);
        ArgumentNullException.ThrowIfNull(evalPipeline);
        var s = Settings;
        if (train.Count == 0) throw new ArgumentException("the training set is empty", nameof(train));
        if (s.EarlyStoppingPatience is not null && validation is null)
            throw new ArgumentException("EarlyStoppingPatience needs a validation set", nameof(validation));
        if (validation is not null && !validation.ClassNames.SequenceEqual(train.ClassNames, StringComparer.Ordinal))
            throw new ArgumentException(
                $"the validation set's classes ({string.Join(", ", validation.ClassNames)}) differ from the training set's ({string.Join(", ", train.ClassNames)}); list it with the training classes (ImageDataset.WithClasses)",
                nameof(validation));
        if (validation is not null && validation.Count == 0) throw new ArgumentException("the validation set is empty (pass null for none)", nameof(validation));
        var device = s.Device;
        if (device.IsCuda && device.Index >= TorchRuntime.CudaDeviceCount)
            throw new InvalidOperationException($"training on {device} was requested, but {TorchRuntime.CudaDeviceCount} CUDA device(s) are available (libtorch {TorchRuntime.Version})");
        cancellationToken.ThrowIfCancellationRequested();

        int channels = s.ImageChannels ?? InputChannels(model);
        int classes = train.ClassNames.Count;
        model.To(device);
        model.ToMemoryFormat(s.MemoryFormat);
        var parameters = model.Parameters();
        if (parameters.Count == 0) throw new ArgumentException("the model has no trainable parameters (every parameter is frozen)", nameof(model));

        var trainLoader = new ImageBatchLoader(train, trainPipeline, new ImageLoaderOptions
        {
            BatchSize = s.BatchSize, Shuffle = true, Seed = LoaderSeed(s.Seed), Workers = s.Workers, Training = true,
            Channels = channels, OnBadInput = s.OnBadInput,
        });
        var validationLoader = validation is null ? null : new ImageBatchLoader(validation, evalPipeline, new ImageLoaderOptions
        {
            BatchSize = s.BatchSize, Shuffle = false, Workers = s.Workers, Training = false, Channels = channels, OnBadInput = s.OnBadInput,
        });
        int stepsPerEpoch = trainLoader.BatchesPerEpoch;

        using var optimizer = CreateOptimizer(model, parameters, classes);
        var scheduler = CreateScheduler(optimizer, stepsPerEpoch);
        var scaler = s.MixedPrecision == MixedPrecision.Float16 ? new GradScaler() : null;

        var state = new TrainingCheckpoint.State { Seed = s.Seed };
        var fingerprint = TrainingCheckpoint.Fingerprint(s, model, train.Count, classes);
        state.Settings = fingerprint;
        List<KeyValuePair<string, Tensor>>? best = null;
        bool resumed = false;
        try
        {
            if (s.CheckpointDirectory is { } ckdir) TrainingCheckpoint.RemoveStaleTemporaries(ckdir);
            if (s.CheckpointDirectory is { } dir && File.Exists(TrainingCheckpoint.PathIn(dir)))
            {
                (state, best) = Resume(dir, fingerprint, model, optimizer, scheduler, scaler);
                resumed = true;
            }
            int startEpoch = state.Epoch + 1;
            var report = new BadInputReport();
            if (!resumed)
                Write(string.Create(CultureInfo.InvariantCulture,
                    $"training {model.GetType().Name} ({parameters.Sum(p => p.NumElements):N0} trainable parameters) on {train.Count} images{(validation is null ? "" : $", validating on {validation.Count}")}: {s.MaxEpoch} epochs of {stepsPerEpoch} batches of {s.BatchSize}, {s.Optimizer} lr {s.LearningRate:G4}, {s.Scheduler} schedule, device {device}{(s.MemoryFormat == MemoryFormat.ChannelsLast ? " (channels-last)" : "")}{(s.MixedPrecision == MixedPrecision.None ? "" : $", {s.MixedPrecision} autocast")}, {TorchRuntime.NumThreads} threads"));
            var listed = new BadInputReport();
            listed.AddRange(trainLoader.Report);
            if (validationLoader is not null) listed.AddRange(validationLoader.Report);
            if (listed.Count > 0) Write($"warning: listing the data left out inputs before training: {listed}");
            if (state.StoppedEarly || startEpoch > s.MaxEpoch)
            {
                Write($"the checkpoint in '{s.CheckpointDirectory}' is of a finished run ({state.Epoch} epochs{(state.StoppedEarly ? ", stopped early" : "")}); nothing to train");
            }
            else
            {
                TrainEpochs(model, parameters, optimizer, scheduler, scaler, trainLoader, validationLoader, state, ref best, startEpoch, cancellationToken);
            }

            int bestEpoch = state.Epoch;
            if (s.EarlyStoppingPatience is not null && best is not null && state.BestEpoch > 0)
            {
                bestEpoch = state.BestEpoch;
                if (state.BestEpoch != state.Epoch)
                {
                    model.LoadStateDict(best);
                    Write(string.Create(CultureInfo.InvariantCulture,
                        $"restored the weights of epoch {state.BestEpoch}, the best by {s.EarlyStoppingMetric} ({state.BestMetric:F4})"));
                }
            }
            model.Eval();
            report.AddRange(trainLoader.Report);
            if (validationLoader is not null) report.AddRange(validationLoader.Report);
            if (report.Count > 0) Write(report.ToString());
            return new TrainingResult(state.History.ToArray(), bestEpoch, state.StoppedEarly, resumed, startEpoch, report);
        }
        finally
        {
            if (best is not null)
                foreach (var (_, t) in best) t.Dispose();
        }
    }

    private (TrainingCheckpoint.State, List<KeyValuePair<string, Tensor>>?) Resume(string dir, Dictionary<string, string> fingerprint,
        Module model, Optimizer optimizer, LRScheduler? scheduler, GradScaler? scaler)
    {
        string path = TrainingCheckpoint.PathIn(dir);
        var (state, raw) = TrainingCheckpoint.Read(dir);
        var differences = fingerprint.Keys.Union(state.Settings.Keys)
            .Where(k => !(fingerprint.TryGetValue(k, out var a) && state.Settings.TryGetValue(k, out var b) && a == b))
            .Select(k => $"{k}: {(state.Settings.TryGetValue(k, out var b) ? b : "(none)")} in the checkpoint, {(fingerprint.TryGetValue(k, out var a) ? a : "(none)")} now")
            .ToList();
        if (differences.Count > 0)
            throw new InvalidOperationException(
                $"'{path}' is the checkpoint of a different run ({string.Join("; ", differences)}). Delete it, or choose another CheckpointDirectory, to start a new run.");
        var byName = raw.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var device = Settings.Device;
        var weights = new List<KeyValuePair<string, Tensor>>();
        List<KeyValuePair<string, Tensor>>? best = null;
        try
        {
            foreach (var (key, _) in model.StateDict())
            {
                if (!byName.TryGetValue("model." + key, out var t))
                    throw new InvalidDataException($"'{path}' lacks the model tensor '{key}'");
                weights.Add(new(key, t.ToTensor(device).DetachFromDisposeScope()));
            }
            model.LoadStateDict(weights);
            if (byName.Keys.Any(k => k.StartsWith("best.", StringComparison.Ordinal)))
            {
                best = new List<KeyValuePair<string, Tensor>>();
                foreach (var (key, _) in model.StateDict())
                {
                    if (!byName.TryGetValue("best." + key, out var t))
                        throw new InvalidDataException($"'{path}' lacks the best-weights tensor '{key}'");
                    best.Add(new(key, t.ToTensor(device).DetachFromDisposeScope()));
                }
            }
        }
        catch
        {
            if (best is not null)
                foreach (var (_, t) in best) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var (_, t) in weights) t.Dispose();
        }
        TrainingCheckpoint.RestoreOptimizer(optimizer, state, byName, path);
        if (scheduler is not null) scheduler.LoadState(state.SchedulerLastEpoch);
        if (scaler is not null && state.GradScale is { } scale) scaler.LoadState(scale, state.GradScalerGrowthTracker);
        Write(string.Create(CultureInfo.InvariantCulture,
            $"resuming from '{path}': {state.Epoch} of {Settings.MaxEpoch} epochs done{(state.History.Count > 0 ? $" (last: {state.History[^1]})" : "")}"));
        return (state, best);
    }

    private void TrainEpochs(Module<Tensor, Tensor> model, IReadOnlyList<Tensor> parameters, Optimizer optimizer, LRScheduler? scheduler, GradScaler? scaler,
        ImageBatchLoader trainLoader, ImageBatchLoader? validationLoader, TrainingCheckpoint.State state,
        ref List<KeyValuePair<string, Tensor>>? best, int startEpoch, CancellationToken ct)
    {
        var s = Settings;
        var device = s.Device;
        var format = s.MemoryFormat;
        int classes = trainLoader.Dataset.ClassNames.Count;
        var session = Stopwatch.StartNew();
        var before = state.History.Count > 0 ? state.History[^1].Elapsed : TimeSpan.Zero;
        int epochsThisSession = 0;
        int reported = 0;
        for (int epoch = startEpoch; epoch <= s.MaxEpoch; epoch++)
        {
            ct.ThrowIfCancellationRequested();
            TorchRuntime.ManualSeed(EpochSeed(s.Seed, epoch));
            model.Train();
            var epochClock = Stopwatch.StartNew();
            double lossSum = 0, lr = optimizer.ParamGroups[0].LearningRate;
            long seen = 0;
            int batchNumber = 0;
            using var correct = Tensor.Zeros(Array.Empty<long>(), DType.Float64, device).DetachFromDisposeScope();
            foreach (var batch in trainLoader.Epoch(epoch))
            {
                using (batch)
                using (Tensor.NewDisposeScope())
                {
                    ct.ThrowIfCancellationRequested();
                    batchNumber++;
                    var x = Input(batch.Images, device, format);
                    var y = Labels(batch.Labels, device);
                    optimizer.ZeroGrad();
                    Tensor logits, loss;
                    using (TorchRuntime.Autocast(device, s.MixedPrecision))
                    {
                        logits = model.Forward(x);
                        if (batchNumber == 1 && epoch == startEpoch) CheckOutputs(logits, classes);
                        loss = F.CrossEntropy(logits, y, labelSmoothing: s.LabelSmoothing);
                    }
                    lr = optimizer.ParamGroups[0].LearningRate;
                    double value = loss.Item();
                    if (!double.IsFinite(value)) throw new TrainingDivergedException(epoch, batchNumber, value, lr);
                    if (scaler is null)
                    {
                        loss.Backward();
                        if (s.GradientClipNorm is { } clip) Tensor.ClipGradNorm(parameters, clip);
                        optimizer.Step();
                    }
                    else
                    {
                        // Float16: backward of the scaled loss; clipping sees the unscaled gradients; a step whose
                        // gradients overflowed is skipped and the scale backs off.
                        scaler.Scale(loss).Backward();
                        if (s.GradientClipNorm is { } clip)
                        {
                            scaler.Unscale_(optimizer);
                            Tensor.ClipGradNorm(parameters, clip);
                        }
                        scaler.Step(optimizer);
                        scaler.Update();
                    }
                    scheduler?.Step();
                    using (TorchRuntime.NoGrad())
                        correct.Add_(logits.ArgMax(1).Eq(y).Sum());
                    lossSum += value * batch.Count;
                    seen += batch.Count;
                    if (s.BatchCallback is { } onBatch)
                    {
                        var elapsed = epochClock.Elapsed;
                        onBatch(new BatchProgress(epoch, s.MaxEpoch, batchNumber, trainLoader.BatchesPerEpoch, lossSum / seen,
                            correct.Item() / seen, seen / Math.Max(elapsed.TotalSeconds, 1e-9), elapsed));
                    }
                }
            }
            ct.ThrowIfCancellationRequested();
            if (seen == 0)
                throw new InvalidOperationException($"epoch {epoch}: no training image could be loaded ({trainLoader.Report.Count} skipped)");
            var trainTime = epochClock.Elapsed;
            double trainAccuracy = correct.Item() / seen;

            double? valLoss = null, valAccuracy = null;
            if (validationLoader is not null)
                (valLoss, valAccuracy) = Validate(model, validationLoader, ct);

            // Early stopping.
            bool stop = false;
            if (s.EarlyStoppingPatience is { } patience)
            {
                double metric = s.EarlyStoppingMetric == EarlyStoppingMetric.ValidationLoss ? valLoss!.Value : valAccuracy!.Value;
                bool improved = state.BestEpoch == 0
                    || (s.EarlyStoppingMetric == EarlyStoppingMetric.ValidationLoss ? metric < state.BestMetric : metric > state.BestMetric);
                if (improved)
                {
                    state.BestEpoch = epoch;
                    state.BestMetric = metric;
                    state.EpochsWithoutImprovement = 0;
                    best = CopyState(model, best);
                }
                else
                {
                    state.EpochsWithoutImprovement++;
                    stop = state.EpochsWithoutImprovement >= patience && epoch < s.MaxEpoch;
                }
            }

            epochsThisSession++;
            var perEpoch = session.Elapsed / epochsThisSession;
            var metrics = new EpochMetrics(epoch, s.MaxEpoch, lossSum / seen, trainAccuracy, valLoss, valAccuracy, lr,
                seen / Math.Max(trainTime.TotalSeconds, 1e-9), before + session.Elapsed,
                stop ? TimeSpan.Zero : perEpoch * (s.MaxEpoch - epoch));
            state.History.Add(metrics);
            state.Epoch = epoch;
            state.StoppedEarly = stop;
            state.SchedulerLastEpoch = scheduler?.LastEpoch ?? -1;
            state.GradScale = scaler?.ScaleValue;
            state.GradScalerGrowthTracker = scaler?.GrowthTracker ?? 0;
            if (s.CheckpointDirectory is { } dir)
                TrainingCheckpoint.Write(dir, state, model, optimizer, best);
            Write(metrics.ToString());
            int skipped = trainLoader.Report.Count + (validationLoader?.Report.Count ?? 0);
            if (skipped > reported)
            {
                Write($"epoch {epoch}: {skipped} bad input(s) skipped so far (training: {trainLoader.Report.Count}, validation: {validationLoader?.Report.Count ?? 0}); the list comes at the end");
                reported = skipped;
            }
            s.MetricsCallback?.Invoke(metrics);
            if (stop)
            {
                Write(string.Create(CultureInfo.InvariantCulture,
                    $"early stopping after epoch {epoch}: {s.EarlyStoppingMetric} did not improve for {state.EpochsWithoutImprovement} epochs (best {state.BestMetric:F4} at epoch {state.BestEpoch})"));
                break;
            }
        }
    }

    private (double Loss, double Accuracy) Validate(Module<Tensor, Tensor> model, ImageBatchLoader loader, CancellationToken ct)
    {
        var device = Settings.Device;
        var format = Settings.MemoryFormat;
        model.Eval();
        using var inference = TorchRuntime.InferenceMode();
        using var scope = Tensor.NewDisposeScope();
        var lossSum = Tensor.Zeros(Array.Empty<long>(), DType.Float64, device);
        var correct = Tensor.Zeros(Array.Empty<long>(), DType.Float64, device);
        long seen = 0;
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
            using (Tensor.NewDisposeScope())
            {
                ct.ThrowIfCancellationRequested();
                var x = Input(batch.Images, device, format);
                var y = Labels(batch.Labels, device);
                Tensor logits;
                using (TorchRuntime.Autocast(device, Settings.MixedPrecision))
                {
                    logits = model.Forward(x);
                    lossSum.Add_(F.CrossEntropy(logits, y, reduction: Reduction.Sum));
                }
                correct.Add_(logits.ArgMax(1).Eq(y).Sum());
                seen += batch.Count;
            }
        }
        if (seen == 0) throw new InvalidOperationException($"no validation image could be loaded ({loader.Report.Count} skipped)");
        return (lossSum.Item() / seen, correct.Item() / seen);
    }

    private static List<KeyValuePair<string, Tensor>> CopyState(Module model, List<KeyValuePair<string, Tensor>>? into)
    {
        var current = model.StateDict();
        if (into is null)
        {
            into = new List<KeyValuePair<string, Tensor>>(current.Count);
            foreach (var (key, t) in current)
            {
                using var detached = t.Detach();
                into.Add(new(key, detached.Clone().DetachFromDisposeScope()));
            }
            return into;
        }
        for (int i = 0; i < current.Count; i++) into[i].Value.Copy_(current[i].Value);
        return into;
    }

    private static void CheckOutputs(Tensor logits, int classes)
    {
        var shape = logits.Shape;
        if (shape.Length != 2 || shape[1] != classes)
            throw new ArgumentException(
                $"the model returns [{string.Join(", ", shape)}] for a batch, but the data set has {classes} classes: expected [N, {classes}] logits (create the model with NumClasses = {classes})",
                "model");
    }

    private Optimizer CreateOptimizer(Module model, IReadOnlyList<Tensor> parameters, int classes)
    {
        var s = Settings;
        var groups = ParameterGroups(model, parameters, classes, s.LearningRate, s.BackboneLearningRateFactor);
        foreach (var g in groups)
        {
            g.WeightDecay = s.WeightDecay;
            if (s.Optimizer == OptimizerKind.Sgd) g.Momentum = s.Momentum;
        }
        return s.Optimizer switch
        {
            OptimizerKind.AdamW => new AdamW(groups),
            _ => new SGD(groups, nesterov: s.Nesterov && s.Momentum > 0),
        };
    }

    /// <summary>
    /// The optimizer's parameter groups: one at <paramref name="learningRate"/> when <paramref name="backboneFactor"/> is 1;
    /// else the classifier's trainable parameters at <paramref name="learningRate"/> (group 0) and the backbone's at
    /// <paramref name="learningRate"/>·<paramref name="backboneFactor"/> (group 1, left out when every backbone parameter is frozen).
    /// The classifier is <see cref="IFeatureBackbone.Classifier"/>, or else the last linear layer with one output per class.
    /// </summary>
    internal static IReadOnlyList<ParamGroup> ParameterGroups(Module model, IReadOnlyList<Tensor> parameters, int classes, double learningRate, double backboneFactor)
    {
        if (backboneFactor == 1.0) return new[] { new ParamGroup(parameters, learningRate) };
        string head = ClassifierName(model, classes)
            ?? throw new ArgumentException($"{nameof(TrainingSettings.BackboneLearningRateFactor)} {backboneFactor} needs a classifier to tell from the backbone: {model.GetType().Name} implements no IFeatureBackbone and has no linear layer with {classes} outputs", nameof(model));
        var trainable = new HashSet<Tensor>(parameters, ReferenceEqualityComparer.Instance);
        var headParams = new List<Tensor>();
        var backbone = new List<Tensor>();
        foreach (var (key, p) in model.NamedParameters())
        {
            if (!trainable.Contains(p)) continue;
            (key.StartsWith(head + ".", StringComparison.Ordinal) ? headParams : backbone).Add(p);
        }
        if (headParams.Count == 0)
            throw new ArgumentException($"{nameof(TrainingSettings.BackboneLearningRateFactor)}: the classifier '{head}' has no trainable parameters", nameof(model));
        var groups = new List<ParamGroup> { new(headParams, learningRate) };
        if (backbone.Count > 0) groups.Add(new ParamGroup(backbone, learningRate * backboneFactor));
        return groups;
    }

    private static string? ClassifierName(Module model, int classes)
    {
        if (model is IFeatureBackbone fb) return fb.ClassifierName;
        string? last = null;
        foreach (var (name, m) in model.NamedModules())
            if (m is Linear l && l.Weight.Size(0) == classes) last = name;
        return last;
    }

    private LRScheduler? CreateScheduler(Optimizer optimizer, int stepsPerEpoch)
    {
        var s = Settings;
        int total = checked(stepsPerEpoch * s.MaxEpoch);
        return s.Scheduler switch
        {
            SchedulerKind.None => null,
            SchedulerKind.Step => new StepLR(optimizer, checked(s.StepSize * stepsPerEpoch), s.Gamma),
            SchedulerKind.MultiStep => new MultiStepLR(optimizer, s.Milestones!.Select(m => checked(m * stepsPerEpoch)), s.Gamma),
            SchedulerKind.Cosine => new CosineAnnealingLR(optimizer, total),
            SchedulerKind.CosineWithWarmup => new CosineAnnealingWithWarmupLR(optimizer, checked(s.WarmupEpochs * stepsPerEpoch), total),
            SchedulerKind.OneCycle => total < 2
                ? throw new ArgumentException("the OneCycle schedule needs at least 2 steps (batches × epochs)")
                : new OneCycleLR(optimizer, optimizer.ParamGroups.Select(g => g.LearningRate).ToArray(), total, cycleMomentum: s.Optimizer == OptimizerKind.AdamW || s.Momentum > 0),
            _ => throw new ArgumentOutOfRangeException(nameof(optimizer), s.Scheduler, "unknown scheduler"),
        };
    }

    /// <summary>
    /// Class probabilities (softmax of the logits) of every image of <paramref name="data"/>: N × K floats, row-major,
    /// in data set order. Runs in evaluation mode under inference mode, in batches of <paramref name="batchSize"/>;
    /// the model's training mode is restored afterwards. Images that cannot be loaded throw.
    /// </summary>
    /// <param name="model">The classifier; it is moved to <paramref name="device"/>.</param>
    /// <param name="data">The images (labels are ignored).</param>
    /// <param name="evalPipeline">The per-image evaluation pipeline.</param>
    /// <param name="batchSize">Images per forward pass, &gt;= 1.</param>
    /// <param name="device">Where to run.</param>
    /// <param name="workers">Background decoding threads (0: decode on the calling thread).</param>
    /// <param name="imageChannels">Channels to decode images to; null: the input channels of the model's first convolution.</param>
    /// <param name="format">The memory format of the model and the batches (<see cref="MemoryFormat.ChannelsLast"/>: faster grouped convolutions).</param>
    /// <param name="mixedPrecision">Run the forward pass under autocast (<see cref="MixedPrecision.BFloat16"/> on the CPU or a GPU, <see cref="MixedPrecision.Float16"/> on a GPU);
    /// the probabilities are computed in float32 from the logits.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> &lt; 1 or <paramref name="workers"/> &lt; 0.</exception>
    public static float[] PredictProbabilities(Module<Tensor, Tensor> model, ImageDataset data, ImagePipeline evalPipeline, int batchSize,
        Device device, int workers = 0, int? imageChannels = null, MemoryFormat format = MemoryFormat.Contiguous,
        MixedPrecision mixedPrecision = MixedPrecision.None)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(evalPipeline);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be >= 1");
        if (workers < 0) throw new ArgumentOutOfRangeException(nameof(workers), workers, "workers must be >= 0");
        if (data.Count == 0) return [];
        int channels = imageChannels ?? InputChannels(model);
        var loader = new ImageBatchLoader(data, evalPipeline, new ImageLoaderOptions
        {
            BatchSize = batchSize, Shuffle = false, Training = false, Workers = workers, Channels = channels, OnBadInput = BadInputPolicy.Throw,
        });
        bool wasTraining = model.IsTraining;
        model.To(device);
        model.ToMemoryFormat(format);
        model.Eval();
        float[]? result = null;
        int k = 0;
        try
        {
            using var inference = TorchRuntime.InferenceMode();
            foreach (var batch in loader.Epoch(0))
            {
                using (batch)
                using (Tensor.NewDisposeScope())
                {
                    var x = Input(batch.Images, device, format);
                    Tensor logits;
                    using (TorchRuntime.Autocast(device, mixedPrecision))
                        logits = model.Forward(x);
                    if (logits.DType != DType.Float32) logits = logits.To(DType.Float32);
                    if (logits.Dim != 2) throw new ArgumentException($"the model returns [{string.Join(", ", logits.Shape)}] for a batch; expected [N, K] logits", nameof(model));
                    var probs = F.Softmax(logits, 1).To(Device.Cpu, DType.Float32).Contiguous();
                    if (result is null)
                    {
                        k = checked((int)logits.Size(1));
                        result = new float[checked((long)data.Count * k)];
                    }
                    int first = batch.Indices[0];
                    for (int i = 1; i < batch.Count; i++)
                        if (batch.Indices[i] != first + i) throw new InvalidOperationException("the loader returned rows out of order");
                    probs.CopyTo<float>(result.AsSpan(first * k, batch.Count * k));
                }
            }
        }
        finally
        {
            model.Train(wasTraining);
        }
        return result!;
    }

    /// <summary>The input channels of the model's first convolution (its stem).</summary>
    internal static int InputChannels(Module model)
    {
        foreach (var (_, m) in model.NamedModules())
            if (m is Conv2d conv) return checked((int)conv.Weight.Size(1));
        throw new ArgumentException(
            $"{model.GetType().Name} has no Conv2d to take the image channel count from; set TrainingSettings.ImageChannels (or pass imageChannels)", nameof(model));
    }

    private static int LoaderSeed(ulong seed) => (int)(SplitMix(seed ^ 0x6C6F61646572UL) & 0x7FFFFFFF);

    private static ulong EpochSeed(ulong seed, int epoch) => SplitMix(seed + 0x9E3779B97F4A7C15UL * (ulong)(uint)epoch);

    private static ulong SplitMix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A batch of images on <paramref name="device"/> in <paramref name="format"/> (the loader's tensor itself when nothing changes).</summary>
    private static Tensor Input(Tensor images, Device device, MemoryFormat format)
    {
        var x = device.IsCuda ? ToDevice(images, device) : images;
        return format == MemoryFormat.Contiguous ? x : x.Contiguous(format);
    }

    /// <summary>The batch's labels on <paramref name="device"/> (the loader's tensor itself on the CPU).</summary>
    private static Tensor Labels(Tensor labels, Device device) => device.IsCuda ? ToDevice(labels, device) : labels;

    /// <summary>
    /// A host tensor on a CUDA device: copied into pinned (page-locked) memory, then sent with a non-blocking copy, so the
    /// transfer is queued behind the GPU's work instead of waiting for it (a copy from pageable memory synchronises the
    /// stream). libtorch's caching host allocator keeps the pinned block until the copy has run.
    /// </summary>
    private static Tensor ToDevice(Tensor host, Device device)
    {
        if (host.Device.IsCuda) return host.To(device);
        using var pinned = host.PinMemory();
        return pinned.To(device, nonBlocking: true);
    }

}
