using System.Diagnostics;
using System.Globalization;
using MLNet.Attention.Estimators;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.Cli;

/// <summary>
/// <c>mlnet-attention fashion-mnist</c>: issue 5's measured run — an attention backbone trained through the ML.NET-style
/// pipeline on all 60,000 Fashion-MNIST images (Debian's dataset-fashion-mnist), evaluated on the 10,000 test images.
/// </summary>
internal static class FashionMnistBenchmarkRun
{
    public static int Run(string[] args, TextWriter log, TextWriter error)
    {
        string arch = "epsanet50";
        double width = 0.25, lr = 0.1;
        int epochs = 1, batch = 128, limit = 0;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--model": arch = Next(); break;
                    case "--width": width = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--lr": lr = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--epochs": epochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--batch-size": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--train-limit": limit = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: throw new ArgumentException($"unknown option '{args[i]}'");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                error.WriteLine($"error: {e.Message}");
                return 2;
            }
        }
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFashionMnist(train: true, limit: limit > 0 ? limit : null);
        var test = ml.Data.LoadFashionMnist(train: false);
        var sw = Stopwatch.StartNew();
        var pipeline = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.MulticlassClassification.Trainers.AttentionBackbone(new AttentionBackboneTrainer.Options
            {
                Arch = arch, SmallImage = true, WidthMultiplier = width, MaxEpoch = epochs, BatchSize = batch,
                LearningRate = lr, WeightDecay = 5e-4, LabelSmoothing = 0.1, LearningRateScheduler = LearningRateScheduler.OneCycle,
                MetricsCallback = m => log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {m.Epoch}/{m.MaxEpoch}: train loss {m.TrainLoss:F4}, train acc {100 * m.TrainAccuracy:F2}%, lr {m.LearningRate:G3}, {m.ImagesPerSecond:F0} images/s")),
            }));
        log.WriteLine($"{arch} (small-image, width {width.ToString(CultureInfo.InvariantCulture)}) on Fashion-MNIST: {epochs} epoch(s), batch {batch}, SGD lr {lr.ToString(CultureInfo.InvariantCulture)} one-cycle, label smoothing 0.1");
        var model = pipeline.Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"test: micro accuracy {100 * metrics.MicroAccuracy:F2}%, macro accuracy {100 * metrics.MacroAccuracy:F2}%, log-loss {metrics.LogLoss:F4}; {sw.Elapsed.TotalMinutes:F1} min"));
        return 0;
    }
}
