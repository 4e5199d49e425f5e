using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Trainers;
using Spectre.Console;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention train</c>: an image folder, a CSV of image paths or Fashion-MNIST through the ML.NET-style pipeline
/// (LoadImages, ResizeImages, ExtractPixels, NormalizeImage, then <c>Trainers.AttentionBackbone</c>), live progress,
/// a metrics table at the end, and the model saved as one .zip.
/// </summary>
internal static class TrainCommand
{
    internal sealed record Settings
    {
        public required DataSpec Data { get; init; }
        public DataSpec? Test { get; init; }
        public required string Arch { get; init; }
        public int Epochs { get; init; }
        public int BatchSize { get; init; }
        public double LearningRate { get; init; }
        public double WeightDecay { get; init; }
        public OptimizerKind Optimizer { get; init; }
        public LearningRateScheduler Schedule { get; init; } = LearningRateScheduler.Cosine;
        public int ImageSize { get; init; }
        public int Channels { get; init; }
        public bool SmallImage { get; init; }
        public double Width { get; init; }
        public string? Attention { get; init; }
        public int StemStride { get; init; }
        public bool ChannelsLast { get; init; }
        public double LabelSmoothing { get; init; }
        public double ValidationFraction { get; init; }
        public int? EarlyStopping { get; init; }
        public bool Augment { get; init; }
        public required float[] Mean { get; init; }
        public required float[] Std { get; init; }
        public int Seed { get; init; }
        public int? TrainLimit { get; init; }
        public int? TestLimit { get; init; }
        public int? Workers { get; init; }
        public string? CheckpointDirectory { get; init; }
        public required string Output { get; init; }
        public required DeviceChoice Device { get; init; }
    }

    internal static Command Create()
    {
        var data = new Option<string>("--data")
        {
            Description = "Training images: " + DataSpec.Expected + ".", HelpName = "FOLDER|CSV|fashion-mnist", Required = true,
        };
        var test = Opt.Maybe<string>("--test", "Test images for the final metrics (same forms as --data). Default with --data fashion-mnist: its 10,000 test images.", "FOLDER|CSV|fashion-mnist");
        var model = Opt.Of("--model", "Backbone: a registry name (see 'mlnet-attention models').", "epsanet50", "NAME")
            .Check(n => ModelRegistry.All.Any(m => m.Name == n), "a registry model: " + string.Join(", ", ModelRegistry.All.Select(m => m.Name)));
        var epochs = Opt.Of("--epochs", "Training epochs.", 10).AtLeast(1);
        var batch = Opt.Of("--batch-size", "Images per batch.", 32).AtLeast(1);
        var lr = Opt.Number("--lr", "Peak learning rate.", 0.01).Positive();
        var wd = Opt.Number("--weight-decay", "Weight decay (L2 for SGD, decoupled for AdamW).", 1e-4).InRange(0, double.PositiveInfinity);
        var optimizer = Opt.Of("--optimizer", "sgd (Nesterov momentum 0.9) or adamw.", "sgd").OneOf("sgd", "adamw");
        var schedule = Opt.Of("--schedule", "Learning-rate schedule: cosine, onecycle or constant.", "cosine").OneOf("cosine", "onecycle", "constant");
        var size = Opt.Maybe<int?>("--image-size", "Side in pixels images are resized to (default 28 for Fashion-MNIST, 224 otherwise).", "PIXELS").AtLeast(8);
        var channels = Opt.Maybe<int?>("--channels", "1 (gray) or 3 (RGB) (default 1 for Fashion-MNIST, 3 otherwise).").Check(c => c is null or 1 or 3, "1 or 3");
        var small = Opt.Maybe<bool?>("--small-image", "The small-image form (3x3 stride-1 stem, no max-pool) for 28-96 px images (default: on when --image-size <= 96).");
        var width = Opt.Number("--width", "Width multiplier of every stage (e.g. 0.25 for a small, fast model).", 1.0).Check(w => w > 0 && w <= 8, "in (0, 8]");
        var attention = Opt.Maybe<string>("--attention", "Attention layer for families that take one (resnet, mobilevitv2, c2f): " + string.Join(", ", AttentionFactory.Names) + ".", "NAME")
            .Check(a => a is null || AttentionFactory.Names.Contains(a), "one of " + string.Join(", ", AttentionFactory.Names));
        var stem = Opt.Of("--stem-stride", "Stride of the stem conv for the ResNet and EPSANet families: 0 the form's own; 2 in the small-image form halves the maps (about 4x less compute).", 0).Check(v => v is >= 0 and <= 4, "0, 1, 2, 3 or 4");
        var channelsLast = new Option<bool>("--channels-last") { Description = "Train and score in the NHWC memory format (EPSANet's grouped 7x7/9x9 convs run several times faster on the CPU)." };
        var smoothing = Opt.Number("--label-smoothing", "Label smoothing of the loss, in [0, 1).", 0).InRange(0, 1);
        var validation = Opt.Number("--validation-fraction", "Fraction of the training images held out (stratified) for validation, in [0, 1).", 0).InRange(0, 1);
        var early = Opt.Maybe<int?>("--early-stopping", "Stop after N epochs without a better validation loss and keep the best weights (needs --validation-fraction).", "N").AtLeast(1);
        var augment = new Option<bool>("--augment") { Description = "Random crops (padding 1/8 of the side) and horizontal flips while training." };
        var mean = Opt.Maybe<string>("--mean", "Per-channel mean of NormalizeImage, comma-separated (default: ImageNet's for RGB, 0.2860 for Fashion-MNIST).", "M[,M,M]");
        var std = Opt.Maybe<string>("--std", "Per-channel std of NormalizeImage, comma-separated (default: ImageNet's for RGB, 0.3530 for Fashion-MNIST).", "S[,S,S]");
        var device = Opt.Of("--device", "auto (the first GPU when there is one), cpu, cuda or cuda:N.", "auto", "DEVICE").Check(d => DeviceChoice.TryParse(d, out _), "auto, cpu, cuda or cuda:N");
        var seed = Opt.Of("--seed", "Seed of the initialisation, shuffles, augmentation and splits.", 1);
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var workers = Opt.Maybe<int?>("--workers", "Image decoding threads (default: the machine's cores).").AtLeast(0);
        var trainLimit = Opt.Maybe<int?>("--train-limit", "Train on N images (Fashion-MNIST: the first N; folders and CSVs: a seeded stratified subset).", "N").AtLeast(2);
        var testLimit = Opt.Maybe<int?>("--test-limit", "Evaluate on N test images.", "N").AtLeast(1);
        var checkpoints = Opt.Maybe<string>("--checkpoint-dir", "Save a checkpoint after every epoch there and resume from the last one.", "FOLDER");
        var output = Opt.Of("--out", "Where to save the model (.zip).", "model.zip", "FILE");

        var cmd = new Command("train", "Train an attention backbone on images and save the model as a .zip (manifest, weights, checksums).")
        {
            data, test, model, epochs, batch, lr, wd, optimizer, schedule, size, channels, small, width, attention, stem, channelsLast, smoothing, validation, early,
            augment, mean, std, device, seed, threads, workers, trainLimit, testLimit, checkpoints, output,
        };
        cmd.SetAction((r, ct) =>
        {
            var (o, e) = r.Writers();
            var spec = DataSpec.Parse(r.GetValue(data)!, "--data");
            var testSpec = r.GetValue(test) is { } t ? DataSpec.Parse(t, "--test") : spec.Kind == DataKind.FashionMnist ? spec : null;
            bool fashion = spec.Kind == DataKind.FashionMnist;
            int side = r.GetValue(size) ?? (fashion ? 28 : 224);
            int c = r.GetValue(channels) ?? (fashion ? 1 : 3);
            var (m, s) = Normalization(r.GetValue(mean), r.GetValue(std), c, fashion);
            if (r.GetValue(early) is not null && r.GetValue(validation) <= 0)
                throw new UsageException("--early-stopping needs validation data: set --validation-fraction");
            string outPath = CheckOutput(r.GetValue(output)!, "--out");
            if (r.GetValue(threads) is int n) TorchRuntime.NumThreads = n;
            DeviceChoice.TryParse(r.GetValue(device)!, out var dev);
            var settings = new Settings
            {
                Data = spec, Test = testSpec, Arch = r.GetValue(model)!, Epochs = r.GetValue(epochs), BatchSize = r.GetValue(batch),
                LearningRate = r.GetValue(lr), WeightDecay = r.GetValue(wd),
                Optimizer = r.GetValue(optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                Schedule = r.GetValue(schedule) switch { "onecycle" => LearningRateScheduler.OneCycle, "constant" => LearningRateScheduler.Constant, _ => LearningRateScheduler.Cosine },
                ImageSize = side, Channels = c, SmallImage = r.GetValue(small) ?? side <= 96, Width = r.GetValue(width), Attention = r.GetValue(attention),
                StemStride = r.GetValue(stem), ChannelsLast = r.GetValue(channelsLast),
                LabelSmoothing = r.GetValue(smoothing), ValidationFraction = r.GetValue(validation), EarlyStopping = r.GetValue(early),
                Augment = r.GetValue(augment), Mean = m, Std = s, Seed = r.GetValue(seed), TrainLimit = r.GetValue(trainLimit),
                TestLimit = r.GetValue(testLimit), Workers = r.GetValue(workers), CheckpointDirectory = r.GetValue(checkpoints),
                Output = outPath, Device = dev!,
            };
            // Synchronously, on the calling thread (libtorch's grad mode and dispose scopes are per thread); Run handles Ctrl+C itself.
            return Task.FromResult(Run(settings, o, e, ct));
        });
        return cmd;
    }

    /// <summary>The NormalizeImage statistics: given ones (one value or one per channel), or the defaults for the data.</summary>
    internal static (float[] Mean, float[] Std) Normalization(string? mean, string? std, int channels, bool fashion)
    {
        float[] m = mean is null ? Default(true) : ParseFloats(mean, "--mean", channels);
        float[] s = std is null ? Default(false) : ParseFloats(std, "--std", channels);
        if (s.Any(v => !(v > 0))) throw new UsageException($"--std values must be > 0 (got {std})");
        return (m, s);

        float[] Default(bool isMean) => channels == 3
            ? (isMean ? [0.485f, 0.456f, 0.406f] : [0.229f, 0.224f, 0.225f])
            : fashion ? (isMean ? [0.2860f] : [0.3530f]) : (isMean ? [0.449f] : [0.226f]);
    }

    /// <summary>"0.5" or "0.485,0.456,0.406": one value, or one per channel.</summary>
    internal static float[] ParseFloats(string text, string option, int channels)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
                throw new UsageException($"{option} '{text}': '{parts[i]}' is not a number");
        if (values.Length != 1 && values.Length != channels)
            throw new UsageException($"{option} '{text}' has {values.Length} values; give 1 or {channels} (one per channel)");
        return values;
    }

    /// <summary>The full path of an output file whose folder exists (checked before any work is done).</summary>
    internal static string CheckOutput(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty");
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new UsageException($"{option} '{path}' is a folder; give a file name such as model.zip");
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new UsageException($"{option} '{path}': folder '{dir}' does not exist");
        return full;
    }

    /// <summary>The image transforms of the pipeline for a data source: decode (or take the IDX images), resize, augment, extract, normalise.</summary>
    internal static IEstimator<ITransformer> ImageTransforms(MLContext ml, Settings s)
    {
        const string img = DataSpec.ImageColumn;
        int side = s.ImageSize;
        IEstimator<ITransformer> p = s.Data.Kind == DataKind.FashionMnist
            ? ml.Transforms.ResizeImages(img, side, side, inputColumnName: img)
            : ml.Transforms.LoadImages(img, imageFolder: null, inputColumnName: DataSpec.PathColumn, channels: s.Channels).Append(ml.Transforms.ResizeImages(img, side, side));
        if (s.Data.Kind == DataKind.FashionMnist && s.Channels == 3) p = p.Append(ml.Transforms.ConvertToGrayscale(img, outputChannels: 3));
        if (s.Augment)
            p = p.Append(ml.Transforms.RandomCrop(img, side, side, padding: Math.Max(1, side / 8))).Append(ml.Transforms.RandomHorizontalFlip(img));
        return p.Append(ml.Transforms.ExtractPixels(DefaultColumnNames.Features, img, scaleImage: 1f / 255))
            .Append(ml.Transforms.NormalizeImage(DefaultColumnNames.Features, s.Mean, s.Std));
    }

    internal static int Run(Settings s, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        // Ctrl+C (SIGINT) and SIGTERM stop training at the next batch (a second Ctrl+C kills the process).
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var ct = interrupt.Token;
        void OnSignal(PosixSignalContext context)
        {
            if (interrupt.IsCancellationRequested) return;
            context.Cancel = true;
            error.WriteLine($"{context.Signal}: stopping after this batch (again to kill)");
            interrupt.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var console = Render.For(output);
        bool live = Render.IsTerminal(output);
        var clock = Stopwatch.StartNew();
        var ml = new MLContext(s.Seed);
        s.Device.Apply(ml);
        ml.Log += (_, a) =>
        {
            if (a.Kind is LogKind.Warning or LogKind.Error) error.WriteLine($"warning: {a.Message}");
            else if (!live) output.WriteLine(a.Message);
        };

        // The trainer first: an option combination it refuses is a usage error before any data is read.
        var options = new AttentionBackboneTrainer.Options
        {
            Arch = s.Arch, Attention = s.Attention, WidthMultiplier = s.Width, SmallImage = s.SmallImage, StemStride = s.StemStride,
            MemoryFormat = s.ChannelsLast ? MemoryFormat.ChannelsLast : MemoryFormat.Contiguous, BatchSize = s.BatchSize, MaxEpoch = s.Epochs,
            LearningRate = s.LearningRate, WeightDecay = s.WeightDecay, Optimizer = s.Optimizer, LearningRateScheduler = s.Schedule,
            LabelSmoothing = s.LabelSmoothing,
            EarlyStoppingCriteria = s.EarlyStopping is { } p ? new EarlyStopping(p) : null, Seed = s.Seed,
            CheckpointDirectory = s.CheckpointDirectory, Workers = s.Workers,
        };
        AttentionBackboneTrainer trainer;
        try
        {
            trainer = ml.MulticlassClassification.Trainers.AttentionBackbone(options);
        }
        catch (ArgumentException e)
        {
            // An option combination the trainer refuses (a stem stride for a family without one, an attention layer it cannot take, ...).
            throw new UsageException(e.Message);
        }
        var all = s.Data.Load(ml, train: true, s.TrainLimit, s.Seed);
        IDataView train = all;
        IDataView? validation = null;
        if (s.ValidationFraction > 0)
        {
            var split = ml.Data.TrainTestSplit(all, s.ValidationFraction, seed: s.Seed, stratified: true, labelColumnName: DataSpec.LabelColumn);
            train = split.TrainSet;
            validation = split.TestSet;
        }
        var transforms = ImageTransforms(ml, s);
        var prep = transforms.Fit(train);
        if (validation is not null) options.ValidationSet = prep.Transform(validation);
        var history = new List<EpochMetrics>();
        var features = prep.Transform(train);
        string header = string.Create(CultureInfo.InvariantCulture,
            $"{s.Arch} (width {s.Width}{(s.SmallImage ? ", small-image" : "")}{(s.StemStride == 0 ? "" : $", stem stride {s.StemStride}")}{(s.ChannelsLast ? ", channels-last" : "")}{(s.Attention is null ? "" : $", attention {s.Attention}")}) on {s.Data}: {train.GetRowCount():N0} training images{(validation is null ? "" : $", {validation.GetRowCount():N0} validation")}, {s.ImageSize}x{s.ImageSize}x{s.Channels}, {s.Epochs} epoch(s) of batch {s.BatchSize}, {s.Optimizer.ToString().ToLowerInvariant()} lr {s.LearningRate} {s.Schedule.ToString().ToLowerInvariant()}, device {ml.Device}, {TorchRuntime.NumThreads} thread{(TorchRuntime.NumThreads == 1 ? "" : "s")}");
        output.WriteLine(header);

        AttentionBackboneTransformer backbone;
        try
        {
            if (live) backbone = FitLive(console, trainer, options, features, s, history, ct);
            else
            {
                options.MetricsCallback = history.Add;
                options.BatchCallback = b =>
                {
                    int every = Math.Max(1, b.BatchesPerEpoch / 10);
                    if (b.Batch % every == 0 || b.Batch == b.BatchesPerEpoch) output.WriteLine(BatchLine(b));
                };
                backbone = trainer.Fit(features, ct);
            }
        }
        catch (OperationCanceledException)
        {
            bool checkpoint = s.CheckpointDirectory is { } dir && Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*.safetensors").Any();
            error.WriteLine(checkpoint
                ? $"training cancelled; run the same command again to resume from the checkpoint in '{s.CheckpointDirectory}'"
                : "training cancelled; nothing saved" + (s.CheckpointDirectory is null ? "" : " (no epoch had finished)"));
            return 130;
        }
        var model = prep.Append(backbone);
        if (live && history.Count > 0) console.Write(EpochTable(history));

        var sets = new List<(string, int, MulticlassMetrics)>();
        var input = ModelInput.Of(model, all.Schema, s.Output);
        int topK = backbone.Labels.Count > 5 ? 5 : 0;
        if (validation is not null) sets.Add(Evaluate(ml, model, validation, "validation", topK));
        if (s.Test is { } testSpec)
        {
            var testView = input.Adapt(ml, testSpec.Load(ml, train: false, s.TestLimit, s.Seed), "--test");
            sets.Add(Evaluate(ml, model, testView, testSpec == s.Data ? "test" : $"test ({testSpec})", topK));
        }
        if (sets.Count > 0)
        {
            console.Write(Render.Metrics(sets));
            var (name, _, last) = sets[^1];
            console.Write(Render.PerClass(last, $"per class ({name})"));
        }
        ml.Model.Save(model, all.Schema, s.Output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"saved {s.Output} ({Render.Size(new FileInfo(s.Output).Length)}; {backbone.ParameterCount:N0} parameters, {backbone.Labels.Count} classes) in {clock.Elapsed.TotalSeconds:F1} s"));
        return ExitCodes.Ok;
    }

    private static (string, int, MulticlassMetrics) Evaluate(MLContext ml, ITransformer model, IDataView data, string name, int topK)
    {
        var m = ml.MulticlassClassification.Evaluate(model.Transform(data), DataSpec.LabelColumn, topKPredictionCount: topK);
        return (name, (int)m.ConfusionMatrix.Counts.Sum(r => r.Sum()), m);
    }

    /// <summary>"epoch 1/3, batch 7/32: loss 2.1034, acc 25.00%, 512 images/s, ETA 00:00:41" (the ETA counts the epochs left, not validation).</summary>
    internal static string BatchLine(BatchProgress b) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {b.Epoch}/{b.MaxEpoch}, batch {b.Batch}/{b.BatchesPerEpoch}: loss {b.RunningLoss:F4}, acc {Render.Pct(b.RunningAccuracy)}, {b.ImagesPerSecond:F0} images/s, ETA {Render.Duration(Eta(b))}");

    private static TimeSpan Eta(BatchProgress b)
    {
        double perBatch = b.Elapsed.TotalSeconds / Math.Max(1, b.Batch);
        long left = (long)(b.BatchesPerEpoch - b.Batch) + (long)(b.MaxEpoch - b.Epoch) * b.BatchesPerEpoch;
        return TimeSpan.FromSeconds(Math.Min(perBatch * left, TimeSpan.MaxValue.TotalSeconds / 2));
    }

    /// <summary>
    /// Training under a live progress display that fits 80 columns: a bar over the epochs (the epoch, the last validation
    /// accuracy, the ETA of the run) and a bar over the current epoch's batches (batch, running loss and accuracy, images/s).
    /// </summary>
    private static AttentionBackboneTransformer FitLive(IAnsiConsole console, AttentionBackboneTrainer trainer, AttentionBackboneTrainer.Options options,
        IDataView features, Settings s, List<EpochMetrics> history, CancellationToken ct)
    {
        AttentionBackboneTransformer? result = null;
        var ic = CultureInfo.InvariantCulture;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var epochs = ctx.AddTask($"epoch 1/{s.Epochs}", maxValue: s.Epochs);
                var batches = ctx.AddTask("batch 0", maxValue: 1);
                string validation = "";
                options.BatchCallback = b =>
                {
                    batches.MaxValue = b.BatchesPerEpoch;
                    batches.Value = b.Batch;
                    batches.Description = string.Create(ic, $"batch {b.Batch}/{b.BatchesPerEpoch} loss {b.RunningLoss:F3} acc {100 * b.RunningAccuracy:F1}% {b.ImagesPerSecond:F0}/s");
                    epochs.Value = b.Epoch - 1 + (double)b.Batch / b.BatchesPerEpoch;
                    epochs.Description = Markup.Escape($"epoch {b.Epoch}/{b.MaxEpoch}{validation} ETA {Render.Duration(Eta(b))}");
                };
                options.MetricsCallback = m =>
                {
                    history.Add(m);
                    if (m.ValidationAccuracy is { } va) validation = $" val {Render.Pct(va)}";
                    epochs.Value = m.Epoch;
                };
                result = trainer.Fit(features, ct);
                epochs.Value = epochs.MaxValue;
                batches.Value = batches.MaxValue;
            });
        return result!;
    }

    /// <summary>Every epoch's metrics as a table.</summary>
    internal static Table EpochTable(IReadOnlyList<EpochMetrics> history)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("epochs");
        foreach (var h in new[] { "epoch", "train loss", "train acc", "val loss", "val acc", "lr", "images/s", "elapsed" })
            t.AddColumn(new TableColumn(h).RightAligned());
        foreach (var m in history)
            t.AddRow($"{m.Epoch}/{m.MaxEpoch}", Render.F(m.TrainLoss), Render.Pct(m.TrainAccuracy),
                m.ValidationLoss is { } vl ? Render.F(vl) : "-", m.ValidationAccuracy is { } va ? Render.Pct(va) : "-",
                m.LearningRate.ToString("G3", CultureInfo.InvariantCulture), m.ImagesPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                Render.Duration(m.Elapsed));
        return t;
    }
}

/// <summary>A <c>--device</c> value: auto, cpu, cuda or cuda:N.</summary>
internal sealed record DeviceChoice(string Kind, int Index)
{
    public static bool TryParse(string text, out DeviceChoice? choice)
    {
        choice = text switch
        {
            "auto" => new DeviceChoice("auto", -1),
            "cpu" => new DeviceChoice("cpu", -1),
            "cuda" => new DeviceChoice("cuda", 0),
            _ when text.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int i) => new DeviceChoice("cuda", i),
            _ => null,
        };
        return choice is not null;
    }

    /// <summary>Sets the context's device; a GPU that is not there is an error, not a silent CPU run.</summary>
    public void Apply(MLContext ml)
    {
        switch (Kind)
        {
            case "cuda":
                ml.GpuDeviceId = Index;
                ml.FallbackToCpu = false;
                try
                {
                    _ = ml.Device;   // fails now, naming the device, when it is not there
                }
                catch (InvalidOperationException e)
                {
                    throw new UsageException($"--device cuda:{Index}: {e.Message}");
                }
                break;
            case "cpu":
                ml.GpuDeviceId = -1;   // the CPU even where a GPU exists
                break;
        }
    }
}
