using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MLNet.Attention.AutoML;
using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Trainers;
using Spectre.Console;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention compare</c>: an AutoML-style comparison of backbones (× learning rates × batch sizes) by successive
/// halving within a wall-clock budget (<c>mlContext.Auto().CreateBackboneExperiment</c>), with live progress, a
/// leaderboard table (and CSV), and the best model saved as a .zip.
/// </summary>
internal static partial class CompareCommand
{
    internal static Command Create()
    {
        var data = new Option<string>("--data")
        {
            Description = "Training images: " + DataSpec.Expected + ".", HelpName = "FOLDER|CSV|fashion-mnist", Required = true,
        };
        var models = new Option<string>("--models")
        {
            Description = "Backbones to compare, comma-separated registry names, each optionally with an attention layer: resnet18+cbam,seresnet50,epsanet50 (see 'mlnet-attention models').",
            HelpName = "NAME[+ATTENTION],...", Required = true,
        };
        var lrs = Opt.Of("--lrs", "Learning rates to try, comma-separated.", "0.05", "LR,...");
        var batches = Opt.Of("--batch-sizes", "Batch sizes to try, comma-separated.", "64", "N,...");
        var budget = Opt.Of("--budget", "Wall-clock budget of the whole comparison: 90s, 10m, 1h30m, or seconds. No trial is started that would not finish in it; one still running at its end is stopped.", "10m", "TIME");
        var maxEpochs = Opt.Of("--max-epochs", "Epochs of a candidate that survives every rung (the last rung).", 9).AtLeast(1);
        var minEpochs = Opt.Of("--min-epochs", "Fewest epochs of the first rung.", 1).AtLeast(1);
        var eta = Opt.Of("--eta", "Reduction factor: the best 1/eta of each rung continue, for eta times the epochs.", 3).AtLeast(2);
        var metric = Opt.Of("--metric", "What is optimized on the validation set: micro (accuracy), macro (accuracy) or logloss.", "micro").AcceptOnlyFromAmong("micro", "macro", "logloss");
        var validation = Opt.Maybe<string>("--validation", "Validation images (same forms as --data); default: a stratified --validation-fraction of --data.", "FOLDER|CSV|fashion-mnist");
        var validationFraction = Opt.Number("--validation-fraction", "Fraction of --data held out for validation when --validation is not given, in (0, 1).", 0.2)
            .Check(v => v > 0 && v < 1, "in (0, 1)");
        var width = Opt.Number("--width", "Width multiplier of every candidate (e.g. 0.25 for small, fast models).", 1.0).Check(w => w > 0 && w <= 8, "in (0, 8]");
        var size = Opt.Maybe<int?>("--image-size", "Side in pixels images are resized to (default 28 for Fashion-MNIST, 224 otherwise).", "PIXELS").AtLeast(8);
        var channels = Opt.Maybe<int?>("--channels", "1 (gray) or 3 (RGB) (default 1 for Fashion-MNIST, 3 otherwise).").Check(c => c is null or 1 or 3, "1 or 3");
        var small = Opt.Maybe<bool?>("--small-image", "The small-image form (3x3 stride-1 stem, no max-pool) for 28-96 px images (default: on when --image-size <= 96).");
        var stem = Opt.Maybe<int?>("--stem-stride", "Stem conv stride of the ResNet- and EPSANet-family candidates (the others keep theirs); 2 in the small-image form quarters their cost.").Check(v => v is null or (>= 1 and <= 4), "1 to 4");
        var augment = new Option<bool>("--augment") { Description = "Random crops (padding 1/8 of the side) and horizontal flips while training." };
        var channelsLast = new Option<bool>("--channels-last") { Description = "Train and score in the channels-last (NHWC) memory format: EPSANet's grouped 7x7/9x9 convolutions run several times faster on the CPU." };
        var mean = Opt.Maybe<string>("--mean", "Per-channel mean of NormalizeImage, comma-separated (default: ImageNet's for RGB, 0.2860 for Fashion-MNIST).", "M[,M,M]");
        var std = Opt.Maybe<string>("--std", "Per-channel std of NormalizeImage, comma-separated (default: ImageNet's for RGB, 0.3530 for Fashion-MNIST).", "S[,S,S]");
        var optimizer = Opt.Of("--optimizer", "sgd (Nesterov momentum 0.9) or adamw.", "sgd").AcceptOnlyFromAmong("sgd", "adamw");
        var schedule = Opt.Of("--schedule", "Learning-rate schedule over --max-epochs: cosine, onecycle or constant.", "cosine").AcceptOnlyFromAmong("cosine", "onecycle", "constant");
        var wd = Opt.Number("--weight-decay", "Weight decay.", 1e-4).InRange(0, double.PositiveInfinity);
        var seed = Opt.Of("--seed", "Seed of the split, the initialisation, shuffles and augmentation (the same for every candidate).", 1);
        var trainLimit = Opt.Maybe<int?>("--train-limit", "Use N images of --data (Fashion-MNIST: the first N; folders and CSVs: a seeded stratified subset).", "N").AtLeast(4);
        var validationLimit = Opt.Maybe<int?>("--validation-limit", "Use N images of --validation.", "N").AtLeast(1);
        var device = Opt.Of("--device", "auto (the first GPU when there is one), cpu, cuda or cuda:N.", "auto", "DEVICE").Check(d => DeviceChoice.TryParse(d, out _), "auto, cpu, cuda or cuda:N");
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var workers = Opt.Maybe<int?>("--workers", "Image decoding threads (default: the machine's cores).").AtLeast(0);
        var checkpoints = Opt.Maybe<string>("--checkpoint-dir", "Keep every candidate's checkpoint and weights in a new experiment folder there (default: a temporary folder, deleted).", "FOLDER");
        var output = Opt.Of("--out", "Where to save the best model (.zip).", "best.zip", "FILE");
        var leaderboard = Opt.Maybe<string>("--leaderboard", "Write the leaderboard as CSV there.", "FILE");
        var plots = Opt.Maybe<string>("--plots", "Write the leaderboard chart (leaderboard.png and leaderboard.svg) into this folder.", "FOLDER");

        var cmd = new Command("compare", "Compare backbones (x learning rates x batch sizes) by successive halving within a time budget: "
            + "every candidate trains a few epochs, the best 1/eta continue (resuming, not restarting) for eta times the epochs, and so on; "
            + "prints a leaderboard (metric, rung, epochs, parameters, GMACs, time, images/s) and saves the best model.")
        {
            data, models, lrs, batches, budget, maxEpochs, minEpochs, eta, metric, validation, validationFraction, width, size, channels, small, stem, augment,
            channelsLast, mean, std, optimizer, schedule, wd, seed, trainLimit, validationLimit, device, threads, workers, checkpoints, output, leaderboard,
            plots,
        };
        cmd.SetAction((r, ct) =>
        {
            var (o, e) = r.Writers();
            var spec = DataSpec.Parse(r.GetValue(data)!, "--data");
            var validationSpec = r.GetValue(validation) is { } v ? DataSpec.Parse(v, "--validation") : null;
            bool fashion = spec.Kind == DataKind.FashionMnist;
            int side = r.GetValue(size) ?? (fashion ? 28 : 224);
            int c = r.GetValue(channels) ?? (fashion ? 1 : 3);
            var (m, s) = TrainCommand.Normalization(r.GetValue(mean), r.GetValue(std), c, fashion);
            bool smallImage = r.GetValue(small) ?? side <= 96;
            double w = r.GetValue(width);
            var backbones = ParseModels(r.GetValue(models)!, w, smallImage, r.GetValue(stem) ?? 0);
            var rates = ParseList<double>(r.GetValue(lrs)!, "--lrs", t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x > 0 && double.IsFinite(x) ? x : null, "learning rates > 0");
            var sizes = ParseList<int>(r.GetValue(batches)!, "--batch-sizes", t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int x) && x >= 1 ? x : (int?)null, "batch sizes >= 1");
            var time = ParseDuration(r.GetValue(budget)!, "--budget");
            if (r.GetValue(minEpochs) > r.GetValue(maxEpochs)) throw new UsageException($"--min-epochs {r.GetValue(minEpochs)} is more than --max-epochs {r.GetValue(maxEpochs)}");
            string outPath = TrainCommand.CheckOutput(r.GetValue(output)!, "--out");
            string? csvPath = r.GetValue(leaderboard) is { } l ? TrainCommand.CheckOutput(l, "--leaderboard") : null;
            string? plotsDir = r.GetValue(plots);
            if (plotsDir is not null && (string.IsNullOrWhiteSpace(plotsDir) || File.Exists(plotsDir)))
                throw new UsageException($"--plots '{plotsDir}' must be a folder (it is created), not a file");
            if (r.GetValue(threads) is int n) TorchRuntime.NumThreads = n;
            DeviceChoice.TryParse(r.GetValue(device)!, out var dev);
            var image = new TrainCommand.Settings
            {
                Data = spec, Arch = backbones[0].Arch, ImageSize = side, Channels = c, SmallImage = smallImage, Width = w, Augment = r.GetValue(augment),
                Mean = m, Std = s, Seed = r.GetValue(seed), Output = outPath, Device = dev!,
            };
            var settings = new BackboneExperimentSettings
            {
                Backbones = backbones, LearningRates = rates, BatchSizes = sizes, MaxExperimentTime = time,
                MaxEpochPerCandidate = r.GetValue(maxEpochs), MinEpochPerCandidate = r.GetValue(minEpochs), ReductionFactor = r.GetValue(eta),
                OptimizingMetric = r.GetValue(metric) switch { "macro" => MulticlassClassificationMetric.MacroAccuracy, "logloss" => MulticlassClassificationMetric.LogLoss, _ => MulticlassClassificationMetric.MicroAccuracy },
                Optimizer = r.GetValue(optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd,
                LearningRateScheduler = r.GetValue(schedule) switch { "onecycle" => LearningRateScheduler.OneCycle, "constant" => LearningRateScheduler.Constant, _ => LearningRateScheduler.Cosine },
                WeightDecay = r.GetValue(wd), Seed = r.GetValue(seed), ValidationFraction = (float)r.GetValue(validationFraction),
                Workers = r.GetValue(workers), MemoryFormat = r.GetValue(channelsLast) ? MemoryFormat.ChannelsLast : MemoryFormat.Contiguous, CheckpointDirectory = r.GetValue(checkpoints), CancellationToken = ct,
            };
            return Task.FromResult(Run(new Job(image, settings, validationSpec, r.GetValue(trainLimit), r.GetValue(validationLimit), csvPath, plotsDir), o, e));
        });
        return cmd;
    }

    /// <summary>What one compare run does.</summary>
    internal sealed record Job(TrainCommand.Settings Image, BackboneExperimentSettings Experiment, DataSpec? Validation, int? TrainLimit, int? ValidationLimit, string? LeaderboardCsv, string? Plots = null);

    /// <summary>
    /// "resnet18+cbam,epsanet50": registry names, each with an optional attention layer; unknown ones are usage errors
    /// naming them. <paramref name="stemStride"/> (0: none) goes to the models that take one.
    /// </summary>
    internal static List<BackboneChoice> ParseModels(string text, double width, bool smallImage, int stemStride = 0)
    {
        var list = new List<BackboneChoice>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('+', StringSplitOptions.TrimEntries);
            if (parts.Length > 2 || parts.Any(p => p.Length == 0)) throw new UsageException($"--models: '{item}' is not NAME or NAME+ATTENTION");
            string name = parts[0].ToLowerInvariant();
            if (!ModelRegistry.All.Any(mi => mi.Name == name))
                throw new UsageException($"--models: unknown model '{parts[0]}'; known models: {string.Join(", ", ModelRegistry.All.Select(mi => mi.Name))}");
            string? attention = parts.Length == 2 ? parts[1].ToLowerInvariant() : null;
            if (attention is not null && !AttentionFactory.Names.Contains(attention))
                throw new UsageException($"--models: '{item}': unknown attention layer '{parts[1]}'; known layers: {string.Join(", ", AttentionFactory.Names)}");
            var choice = new BackboneChoice(name, width, attention, smallImage, ModelRegistry.Get(name).TakesStemStride ? stemStride : 0);
            if (list.Contains(choice)) throw new UsageException($"--models: '{item}' is listed twice");
            list.Add(choice);
        }
        if (list.Count == 0) throw new UsageException("--models is empty; give at least one registry name (see 'mlnet-attention models')");
        return list;
    }

    private static List<T> ParseList<T>(string text, string option, Func<string, T?> parse, string expected) where T : struct
    {
        var list = new List<T>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var v = parse(item) ?? throw new UsageException($"{option}: '{item}' is not valid; expected comma-separated {expected}");
            if (list.Contains(v)) throw new UsageException($"{option}: '{item}' is listed twice");
            list.Add(v);
        }
        if (list.Count == 0) throw new UsageException($"{option} is empty; expected comma-separated {expected}");
        return list;
    }

    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m(?:in)?)?(?:(?<s>\d+(?:\.\d+)?)s)?$", RegexOptions.IgnoreCase)]
    private static partial Regex DurationPattern();

    /// <summary>"90s", "10m", "1h30m", "2.5m", "600" (seconds) or "00:10:00"; must be positive.</summary>
    internal static TimeSpan ParseDuration(string text, string option)
    {
        var t = text.Trim();
        TimeSpan value;
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && double.IsFinite(seconds))
            value = TimeSpan.FromSeconds(seconds);
        else if (t.Contains(':') && TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span))
            value = span;
        else if (t.Length > 0 && DurationPattern().Match(t) is { Success: true } match)
        {
            double Part(string g) => match.Groups[g].Success ? double.Parse(match.Groups[g].Value, CultureInfo.InvariantCulture) : 0;
            value = TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("m")) + TimeSpan.FromSeconds(Part("s"));
        }
        else throw new UsageException($"{option} '{text}' is not a duration; expected e.g. 90s, 10m, 1h30m, 600 (seconds) or 00:10:00");
        if (value <= TimeSpan.Zero) throw new UsageException($"{option} '{text}' must be a positive duration");
        return value;
    }

    internal static int Run(Job job, TextWriter output, TextWriter error)
    {
        var s = job.Image;
        var x = job.Experiment;
        var console = Render.For(output);
        bool live = Render.IsTerminal(output);
        var ml = new MLContext(s.Seed);
        s.Device.Apply(ml);
        ml.Log += (_, a) =>
        {
            if (a.Kind is LogKind.Warning or LogKind.Error) error.WriteLine($"warning: {a.Message}");
        };

        var all = s.Data.Load(ml, train: true, job.TrainLimit, s.Seed);
        var validation = job.Validation?.Load(ml, train: false, job.ValidationLimit, s.Seed);
        if (validation is not null && job.Validation!.Kind != DataKind.FashionMnist && s.Data.Kind == DataKind.FashionMnist)
            validation = ml.Transforms.LoadImages(DataSpec.ImageColumn, imageFolder: null, inputColumnName: DataSpec.PathColumn, channels: 1).Fit(validation).Transform(validation);
        if (validation is not null && job.Validation!.Kind == DataKind.FashionMnist && s.Data.Kind != DataKind.FashionMnist)
            throw new UsageException("--validation fashion-mnist gives decoded images, but --data gives image files; give the validation images in the same form as --data");

        BackboneExperiment experiment;
        try
        {
            experiment = ml.Auto().CreateBackboneExperiment(x);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        var candidates = experiment.Candidates;
        var ic = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(ic,
            $"comparing {candidates.Count} candidate(s) ({x.Backbones.Count} backbone(s) x {x.LearningRates.Count} learning rate(s) x {x.BatchSizes.Count} batch size(s)) on {s.Data}{(job.TrainLimit is { } tl ? $" ({tl:N0} images)" : "")}, {s.ImageSize}x{s.ImageSize}x{s.Channels}: "
            + $"rungs of {string.Join("/", experiment.RungEpochs)} epochs (eta {x.ReductionFactor}), budget {Format(x.MaxExperimentTime)}, optimizing {x.OptimizingMetric} on {(job.Validation is null ? $"{x.ValidationFraction * 100:0.#}% of the data" : job.Validation.ToString())}, "
            + $"{x.Optimizer} {x.LearningRateScheduler}{(x.MemoryFormat == MemoryFormat.ChannelsLast ? ", channels-last" : "")}, seed {s.Seed}, device {ml.Device}, {TorchRuntime.NumThreads} threads"));

        BackboneExperimentResult result;
        try
        {
            result = live ? ExecuteLive(console, experiment, all, validation, s, ml) : ExecutePlain(output, experiment, all, validation, s, ml);
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("comparison cancelled before any candidate completed a trial; nothing saved");
            return 130;
        }
        using (result)
        {
            console.Write(LeaderboardTable(result));
            if (result.StopReason is { } why) output.WriteLine($"stopped early: {why}");
            if (job.LeaderboardCsv is { } csv)
            {
                WriteAtomically(csv, LeaderboardCsv(result));
                output.WriteLine($"wrote the leaderboard to {csv}");
            }
            if (job.Plots is { } folder)
            {
                var chart = LeaderboardChart(result, x.OptimizingMetric);
                chart.SavePng(Path.Combine(folder, "leaderboard.png"));
                chart.SaveSvg(Path.Combine(folder, "leaderboard.svg"));
                output.WriteLine($"wrote the leaderboard chart to {Path.Combine(folder, "leaderboard.png")} (and .svg)");
            }
            ml.Model.Save(result.BestModel, all.Schema, s.Output);
            var best = result.BestRun;
            output.WriteLine(string.Create(ic,
                $"best: {best.Name} — {x.OptimizingMetric} {FormatMetric(best.Metric, x.OptimizingMetric)} after {best.EpochsTrained} epoch(s); saved {s.Output} ({Render.Size(new FileInfo(s.Output).Length)}); {result.TrialCount} trials in {Format(result.Elapsed)}"));
            if (result.ExperimentDirectory is { } dir) output.WriteLine($"checkpoints and weights of every candidate: {dir}");
        }
        return ExitCodes.Ok;
    }

    private static BackboneExperimentResult ExecutePlain(TextWriter output, BackboneExperiment experiment, IDataView train, IDataView? validation,
        TrainCommand.Settings s, MLContext ml)
    {
        experiment.Settings.Progress = new Sync(p => output.WriteLine(p.ToString()));
        return experiment.Execute(train, validation, TrainCommand.ImageTransforms(ml, s));
    }

    /// <summary>A live display: one bar per candidate (epochs trained of the maximum, its state and last metric) and one for the budget.</summary>
    private static BackboneExperimentResult ExecuteLive(IAnsiConsole console, BackboneExperiment experiment, IDataView train, IDataView? validation,
        TrainCommand.Settings s, MLContext ml)
    {
        var x = experiment.Settings;
        BackboneExperimentResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var budget = ctx.AddTask("budget", maxValue: x.MaxExperimentTime.TotalSeconds);
                var tasks = experiment.Candidates.Select(c => ctx.AddTask(Markup.Escape($"{c.Name}: waiting"), autoStart: false, maxValue: x.MaxEpochPerCandidate)).ToArray();
                var metric = new double?[tasks.Length];
                x.Progress = new Sync(p =>
                {
                    budget.Value = Math.Min(p.Elapsed.TotalSeconds, budget.MaxValue);
                    budget.Description = Markup.Escape($"budget {Format(p.Elapsed)} of {Format(x.MaxExperimentTime)}");
                    if (p.CandidateIndex < 0)
                    {
                        console.MarkupLine(Markup.Escape($"stopped: {p.Message}"));
                        return;
                    }
                    var t = tasks[p.CandidateIndex];
                    string last = metric[p.CandidateIndex] is { } mv ? $", {FormatMetric(mv, x.OptimizingMetric)}" : "";
                    switch (p.Event)
                    {
                        case BackboneTrialEvent.Started:
                            t.StartTask();
                            t.Description = Markup.Escape($"{p.Candidate!.Name}: rung {p.Rung}, epochs {p.Epoch + 1}..{p.TargetEpoch}{last}");
                            break;
                        case BackboneTrialEvent.Epoch:
                            t.Value = p.Epoch;
                            t.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                                $"{p.Candidate!.Name}: rung {p.Rung}, epoch {p.Epoch}/{p.TargetEpoch}, loss {p.EpochMetrics!.TrainLoss:F4}, {p.EpochMetrics.ImagesPerSecond:F0} img/s{last}"));
                            break;
                        case BackboneTrialEvent.Completed:
                            metric[p.CandidateIndex] = p.Metric;
                            t.Description = Markup.Escape($"{p.Candidate!.Name}: rung {p.Rung} done, {FormatMetric(p.Metric, x.OptimizingMetric)} after {p.Epoch} epoch(s)");
                            t.StopTask();
                            break;
                        default:
                            t.Description = Markup.Escape($"{p.Candidate!.Name}: {p.Event} ({p.Message})");
                            t.StopTask();
                            break;
                    }
                });
                result = experiment.Execute(train, validation, TrainCommand.ImageTransforms(ml, s));
                budget.StopTask();
            });
        return result!;
    }

    /// <summary>Reports on the calling (training) thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Sync(Action<BackboneTrialProgress> report) : IProgress<BackboneTrialProgress>
    {
        public void Report(BackboneTrialProgress value) => report(value);
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h{t.Minutes:D2}m{t.Seconds:D2}s")
        : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}m{t.Seconds:D2}s");

    private static string FormatMetric(double? v, MulticlassClassificationMetric metric) => v is not { } x ? "-"
        : metric == MulticlassClassificationMetric.LogLoss ? Render.F(x) : Render.Pct(x);

    /// <summary>The leaderboard, best first.</summary>
    internal static Table LeaderboardTable(BackboneExperimentResult result)
    {
        var t = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"leaderboard ({result.OptimizingMetric}; rungs of {string.Join("/", result.RungEpochs)} epochs)"));
        t.AddColumn(new TableColumn("#").RightAligned());
        t.AddColumn("candidate");
        t.AddColumn("status");
        foreach (var h in new[] { "accuracy (micro)", "accuracy (macro)", "log-loss", "rung", "epochs", "parameters", "GMACs", "train time", "images/s" })
            t.AddColumn(new TableColumn(h).RightAligned());
        var ic = CultureInfo.InvariantCulture;
        foreach (var r in result.Leaderboard)
        {
            var m = r.ValidationMetrics;
            t.AddRow(r.Rank.ToString(ic), Markup.Escape(r.Name), Markup.Escape(r.Status == BackboneRunStatus.Failed ? $"failed: {r.Exception?.Message}" : r.Status.ToString().ToLowerInvariant()),
                m is null ? "-" : Render.Pct(m.MicroAccuracy), m is null ? "-" : Render.Pct(m.MacroAccuracy), m is null ? "-" : Render.F(m.LogLoss),
                r.RungReached < 0 ? "-" : r.RungReached.ToString(ic), r.EpochsTrained.ToString(ic), r.Parameters.ToString("N0", ic), r.GMacs.ToString("F3", ic),
                r.TrainTime.TotalSeconds.ToString("F1", ic) + " s", r.ImagesPerSecond.ToString("F0", ic));
        }
        return t;
    }

    /// <summary>The leaderboard as CSV (one row per candidate, best first; invariant culture).</summary>
    /// <summary>The leaderboard as a bar chart: the validation metric per candidate, with parameters, training time and the epochs it trained.</summary>
    internal static Visualization.Picture LeaderboardChart(BackboneExperimentResult result, MulticlassClassificationMetric metric)
    {
        bool higher = BackboneExperimentResult.IsHigherBetter(metric);
        var entries = result.Leaderboard.Where(r => r.Metric is not null)
            .Select(r => new Visualization.LeaderboardEntry(r.Name, r.Metric!.Value, r.Parameters, r.TrainTime.TotalSeconds,
                string.Create(CultureInfo.InvariantCulture, $"{r.EpochsTrained} ep."))).ToList();
        if (entries.Count == 0) throw new InvalidOperationException("no candidate has a validation metric to chart");
        return Visualization.LeaderboardChart.Create(entries, metricName: $"validation {metric}",
            title: $"Backbone comparison ({string.Join("/", result.RungEpochs)} epochs per rung)", percent: higher, higherIsBetter: higher, zeroBased: false, scale: 2);
    }

    internal static string LeaderboardCsv(BackboneExperimentResult result)
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("rank,model,attention,width,small_image,learning_rate,batch_size,status,metric_name,metric,micro_accuracy,macro_accuracy,log_loss,rung,epochs,parameters,gmacs,train_seconds,images_per_second,error\n");
        static string Q(string? v) => v is null ? "" : v.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + v.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : v;
        string N(double? v) => v is { } d ? d.ToString("R", ic) : "";
        foreach (var r in result.Leaderboard)
        {
            var b = r.Candidate.Backbone;
            var m = r.ValidationMetrics;
            sb.Append(string.Join(',', r.Rank.ToString(ic), Q(b.Arch), Q(b.Attention), N(b.WidthMultiplier), b.SmallImage ? "true" : "false",
                N(r.Candidate.LearningRate), r.Candidate.BatchSize.ToString(ic), r.Status.ToString(), result.OptimizingMetric.ToString(), N(r.Metric),
                N(m?.MicroAccuracy), N(m?.MacroAccuracy), N(m?.LogLoss), r.RungReached.ToString(ic), r.EpochsTrained.ToString(ic),
                r.Parameters.ToString(ic), N(r.GMacs), N(r.TrainTime.TotalSeconds), N(r.ImagesPerSecond), Q(r.Exception?.Message))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes <paramref name="path"/> through a temporary file and a rename (never half a file).</summary>
    private static void WriteAtomically(string path, string text)
    {
        string tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
