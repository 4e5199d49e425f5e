using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.Cli;

/// <summary>
/// <c>mlnet-attention fashion-mnist</c>: issue 5's measured run — an attention backbone trained through the ML.NET-style
/// pipeline on all 60,000 Fashion-MNIST images (Debian's dataset-fashion-mnist), evaluated on the 10,000 test images after
/// every epoch. The defaults are the README's recipe; <c>build/fashion_mnist_recipe.py</c> runs the same recipe in PyTorch.
/// </summary>
internal static class FashionMnistBenchmarkRun
{
    /// <summary>The recipe (README, "Fashion-MNIST recipe"); every value can be overridden on the command line.</summary>
    internal sealed record Recipe
    {
        public string Model { get; init; } = "epsanet14";
        public string? Attention { get; init; }
        public double Width { get; init; } = 0.5;
        public int StemStride { get; init; } = 2;
        public bool ChannelsLast { get; init; } = true;
        public int Epochs { get; init; } = 10;
        public int BatchSize { get; init; } = 128;
        public double LearningRate { get; init; } = 0.1;
        public double WeightDecay { get; init; } = 5e-4;
        public double LabelSmoothing { get; init; } = 0.1;
        public bool Augment { get; init; } = true;
        public int TrainLimit { get; init; }
        public int Seed { get; init; } = 1;
        public int? Threads { get; init; }
        public string? Json { get; init; }
        public string? Out { get; init; }
    }

    /// <summary>Fashion-MNIST's training-set mean and standard deviation of the [0, 1] pixels.</summary>
    internal const float Mean = 0.2860f, Std = 0.3530f;

    public static int Run(string[] args, TextWriter log, TextWriter error)
    {
        Recipe r;
        try
        {
            r = Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine("usage: mlnet-attention fashion-mnist [--model epsanet14] [--attention NAME] [--width 0.5] [--stem-stride 2] [--no-channels-last] [--epochs 10] [--batch-size 128] [--lr 0.1] [--wd 5e-4] [--label-smoothing 0.1] [--no-augment] [--train-limit N] [--seed 1] [--threads N] [--json results.json] [--out model.zip]");
            return 2;
        }
        try
        {
            return Train(r, log);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or TorchException or TrainingDivergedException or ArgumentException)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    internal static Recipe Parse(string[] args)
    {
        var r = new Recipe();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            double Real() => double.Parse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture);
            int Int() => int.Parse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            r = args[i] switch
            {
                "--model" => r with { Model = Next() },
                "--attention" => r with { Attention = Next() },
                "--width" => r with { Width = Real() },
                "--stem-stride" => r with { StemStride = Int() },
                "--channels-last" => r with { ChannelsLast = true },
                "--no-channels-last" => r with { ChannelsLast = false },
                "--epochs" => r with { Epochs = Int() },
                "--batch-size" => r with { BatchSize = Int() },
                "--lr" => r with { LearningRate = Real() },
                "--wd" => r with { WeightDecay = Real() },
                "--label-smoothing" => r with { LabelSmoothing = Real() },
                "--augment" => r with { Augment = true },
                "--no-augment" => r with { Augment = false },
                "--train-limit" => r with { TrainLimit = Int() },
                "--seed" => r with { Seed = Int() },
                "--threads" => r with { Threads = Int() },
                "--json" => r with { Json = Next() },
                "--out" => r with { Out = Next() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        if (r.Epochs < 1) throw new ArgumentException("--epochs must be >= 1");
        if (r.BatchSize < 1) throw new ArgumentException("--batch-size must be >= 1");
        if (!(r.LearningRate > 0)) throw new ArgumentException("--lr must be > 0");
        if (r.TrainLimit < 0) throw new ArgumentException("--train-limit must be >= 0 (0: all 60,000)");
        if (r.Threads is < 1) throw new ArgumentException("--threads must be >= 1");
        return r;
    }

    private static int Train(Recipe r, TextWriter log)
    {
        if (r.Threads is { } threads) TorchRuntime.NumThreads = threads;
        var ml = new MLContext(seed: r.Seed);
        var train = ml.Data.LoadFashionMnist(train: true, limit: r.TrainLimit > 0 ? r.TrainLimit : null);
        var test = ml.Data.LoadFashionMnist(train: false);
        var history = new List<EpochMetrics>();
        var sw = Stopwatch.StartNew();

        // The recipe: pad-2 random crop + horizontal flip, [0, 1] pixels normalised with the training set's statistics.
        IEstimator<ITransformer> features = r.Augment
            ? ml.Transforms.RandomCrop("Image", 28, 28, padding: 2)
                .Append(ml.Transforms.RandomHorizontalFlip("Image"))
                .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            : ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255);
        var preprocessing = features.Append(ml.Transforms.NormalizeImage("Features", new[] { Mean }, new[] { Std }));
        // the test set through the same chain (evaluation mode: no random crop or flip), scored after every epoch
        var testFeatures = preprocessing.Fit(test).Transform(test);
        var pipeline = preprocessing
            .Append(ml.MulticlassClassification.Trainers.AttentionBackbone(new AttentionBackboneTrainer.Options
            {
                Arch = r.Model, Attention = r.Attention, SmallImage = true, WidthMultiplier = r.Width, StemStride = r.StemStride,
                MemoryFormat = r.ChannelsLast ? MemoryFormat.ChannelsLast : MemoryFormat.Contiguous,
                MaxEpoch = r.Epochs, BatchSize = r.BatchSize, LearningRate = r.LearningRate, WeightDecay = r.WeightDecay,
                LabelSmoothing = r.LabelSmoothing, LearningRateScheduler = LearningRateScheduler.OneCycle,
                ValidationSet = testFeatures,
                MetricsCallback = m =>
                {
                    history.Add(m);
                    log.WriteLine(m.ToString().Replace("val ", "test ", StringComparison.Ordinal));
                },
            }));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Model}{(r.Attention is null ? "" : "+" + r.Attention)} (small-image, width {r.Width}, stem stride {r.StemStride}{(r.ChannelsLast ? ", channels-last" : "")}) on Fashion-MNIST ({(r.TrainLimit > 0 ? r.TrainLimit : 60000)} images): {r.Epochs} epoch(s), batch {r.BatchSize}, SGD nesterov lr {r.LearningRate} one-cycle, wd {r.WeightDecay}, label smoothing {r.LabelSmoothing}{(r.Augment ? ", crop+flip" : "")}, {TorchRuntime.NumThreads} threads"));
        var chain = pipeline.Fit(train);
        using var model = chain.LastTransformer;
        var metrics = ml.MulticlassClassification.Evaluate(chain.Transform(test));
        var elapsed = sw.Elapsed;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"test: micro accuracy {100 * metrics.MicroAccuracy:F2}%, macro accuracy {100 * metrics.MacroAccuracy:F2}%, log-loss {metrics.LogLoss:F4}; {elapsed.TotalMinutes:F1} min"));
        if (r.Json is { } path)
        {
            var doc = new JsonObject
            {
                ["framework"] = "MLNet.Attention (C#)",
                ["recipe"] = JsonSerializer.SerializeToNode(r with { Json = null, Out = null }),
                ["threads"] = TorchRuntime.NumThreads,
                ["parameters"] = model.ParameterCount,
                ["testAccuracy"] = metrics.MicroAccuracy,
                ["testLogLoss"] = metrics.LogLoss,
                ["minutes"] = elapsed.TotalMinutes,
                ["epochs"] = new JsonArray(history.Select(m => (JsonNode)new JsonObject
                {
                    ["epoch"] = m.Epoch, ["trainLoss"] = m.TrainLoss, ["trainAccuracy"] = m.TrainAccuracy,
                    ["testLoss"] = m.ValidationLoss, ["testAccuracy"] = m.ValidationAccuracy,
                    ["imagesPerSecond"] = m.ImagesPerSecond, ["seconds"] = m.Elapsed.TotalSeconds,
                }).ToArray()),
            };
            var tmp = path + ".tmp";
            File.WriteAllText(tmp, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.Move(tmp, path, overwrite: true);
        }
        if (r.Out is { } zip) ml.Model.Save(chain, train.Schema, zip);
        return 0;
    }
}
