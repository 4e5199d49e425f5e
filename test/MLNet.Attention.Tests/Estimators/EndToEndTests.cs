using System.Diagnostics;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Trainers;
using static MLNet.Attention.Tests.Estimators.EstimatorTestData;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// The acceptance path on real data: Fashion-MNIST written as PNG image folders, an ML.NET-style pipeline of image
/// transforms and an attention trainer, then evaluate → save → load → identical predictions, single-image prediction
/// engines (path and bytes), a thread-safe pool, and flat memory over many predictions.
/// </summary>
[TestClass]
public sealed class EndToEndTests
{
    private static MLContext? s_ml;
    private static TransformerChain<AttentionBackboneTransformer>? s_model;
    private static DataViewSchema? s_schema;
    private static readonly List<EpochMetrics> s_epochs = new();
    private static readonly List<string> s_log = new();

    /// <summary>SE-ResNet-18 at quarter width in the small-image form, gray 28×28 input, with crop/flip augmentation.</summary>
    internal static EstimatorChain<AttentionBackboneTransformer> Pipeline(MLContext ml, int maxEpoch, Action<EpochMetrics>? callback = null) =>
        ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath", channels: 1)
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.RandomCrop("Image", 28, 28, padding: 2))
            .Append(ml.Transforms.RandomHorizontalFlip("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.2860f }, new[] { 0.3530f }))
            .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
            {
                Arch = "resnet18",
                Attention = "se",
                SmallImage = true,
                WidthMultiplier = 0.25,
                MaxEpoch = maxEpoch,
                BatchSize = 32,
                LearningRate = 0.05,
                Workers = 2,
                MetricsCallback = callback,
            }));

    private static (MLContext Ml, TransformerChain<AttentionBackboneTransformer> Model, DataViewSchema Schema) Trained()
    {
        lock (s_epochs)
        {
            if (s_model is null)
            {
                var ml = new MLContext(seed: 1);
                ml.Log += (_, e) => { lock (s_log) s_log.Add(e.ToString()); };
                var train = ml.Data.LoadFromImageFolder(TrainFolder);
                s_model = Pipeline(ml, 4, m => s_epochs.Add(m)).Fit(train);
                s_schema = train.Schema;
                s_ml = ml;
            }
            return (s_ml!, s_model, s_schema!);
        }
    }

    [TestMethod]
    public void TrainEvaluateSaveLoadGivesIdenticalPredictions()
    {
        var (ml, model, schema) = Trained();
        Assert.HasCount(4, s_epochs, "MetricsCallback is called once per epoch");
        Assert.IsLessThan(s_epochs[0].TrainLoss, s_epochs[^1].TrainLoss, "the training loss falls");
        lock (s_log) Assert.IsTrue(s_log.Any(l => l.Contains("epoch 4/4", StringComparison.Ordinal)), "the engine's progress reaches MLContext.Log");

        var test = ml.Data.LoadFromImageFolder(TestFolder);
        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored, topKPredictionCount: 3);
        Console.WriteLine(metrics);
        Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());
        // 300 training images, 4 epochs: far above chance (10 %), as a sanity bound for a real fit.
        Assert.IsGreaterThan(0.45, metrics.MicroAccuracy, $"test accuracy {metrics.MicroAccuracy:P1}");
        Assert.IsGreaterThan(metrics.MicroAccuracy - 1e-9, metrics.TopKAccuracy, "top-3 accuracy >= top-1");
        Assert.AreEqual(10, metrics.ConfusionMatrix.NumberOfClasses);
        Assert.IsGreaterThan(0.0, metrics.LogLossReduction, "better than the prior");

        var predictions = ml.Data.CreateEnumerable<Prediction>(scored, reuseRowObject: false).ToList();
        Assert.HasCount(100, predictions);
        var classes = model.LastTransformer.Labels;
        CollectionAssert.AreEqual(Directory.GetDirectories(TestFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray(), classes.ToArray(),
            "the label names (class folders) are kept in the model");
        foreach (var p in predictions)
        {
            Assert.HasCount(10, p.Score);
            Assert.AreEqual(1.0, p.Score.Sum(), 1e-4, "Score holds probabilities");
            Assert.AreEqual(classes[Array.IndexOf(p.Score, p.Score.Max())], p.PredictedLabel, "PredictedLabel is the most probable class, as an original label value");
        }
        double accuracy = predictions.Count(p => p.PredictedLabel == p.Label) / 100.0;
        Assert.AreEqual(metrics.MicroAccuracy, accuracy, 1e-12, "Evaluate agrees with the predictions");

        var folder = NewFolder("e2e");
        var path = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, schema, path);
        Assert.IsFalse(Directory.EnumerateFiles(folder).Any(f => f.EndsWith(".tmp", StringComparison.Ordinal)), "no temporary file is left");

        var ml2 = new MLContext(seed: 2);
        var loaded = ml2.Model.Load(path, out var loadedSchema);
        CollectionAssert.AreEqual(schema.Select(c => $"{c.Name}:{c.Type}").ToArray(), loadedSchema.Select(c => $"{c.Name}:{c.Type}").ToArray(), "the input schema round-trips");
        var reloaded = ml2.Data.CreateEnumerable<Prediction>(loaded.Transform(ml2.Data.LoadFromImageFolder(TestFolder)), reuseRowObject: false).ToList();
        for (int i = 0; i < predictions.Count; i++)
        {
            CollectionAssert.AreEqual(predictions[i].Score, reloaded[i].Score, $"row {i}: the reloaded model's probabilities are bit-identical");
            Assert.AreEqual(predictions[i].PredictedLabel, reloaded[i].PredictedLabel);
        }
        var chain = (TransformerChain<ITransformer>)loaded;
        CollectionAssert.AreEqual(
            new[] { "LoadImages", "ResizeImages", "RandomCrop", "RandomHorizontalFlip", "ExtractPixels", "NormalizeImage" },
            chain.OfType<ImageTransformer>().Select(t => t.OperationName).ToArray(), "Load rebuilds the whole preprocessing pipeline");
        var backbone = chain.OfType<AttentionBackboneTransformer>().Single();
        Assert.AreEqual("resnet18", backbone.Architecture);
        Assert.AreEqual((1, 28, 28), backbone.InputShape);
    }

    [TestMethod]
    public void PredictionEngineScoresSingleImagesByPathAndBytes()
    {
        var (ml, model, _) = Trained();
        var files = Directory.GetFiles(TestFolder, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(12).ToArray();
        var batch = ml.Data.CreateEnumerable<Prediction>(model.Transform(ml.Data.LoadFromEnumerable(files.Select(f => new ImagePathInput { ImagePath = f }).ToList())), false, ignoreMissingColumns: true).ToList();
        using var byPath = ml.Model.CreatePredictionEngine<ImagePathInput, Prediction>(model);
        using var byBytes = ml.Model.CreatePredictionEngine<ImageBytesInput, Prediction>(model);
        for (int i = 0; i < files.Length; i++)
        {
            var p = byPath.Predict(new ImagePathInput { ImagePath = files[i] });
            var b = byBytes.Predict(new ImageBytesInput { Bytes = File.ReadAllBytes(files[i]) });
            Assert.IsNull(p.Label, "no label column: the output member stays unset");
            Assert.AreEqual(batch[i].PredictedLabel, p.PredictedLabel, $"{files[i]}: one image alone predicts as in a batch");
            CollectionAssert.AreEqual(p.Score, b.Score, $"{files[i]}: the bytes of the file predict as its path does");
            for (int k = 0; k < 10; k++) Assert.AreEqual(batch[i].Score[k], p.Score[k], 1e-5, $"{files[i]}: probability {k}");
        }
    }

    [TestMethod]
    public void PredictionEnginePoolIsThreadSafe()
    {
        var (ml, model, _) = Trained();
        var files = Directory.GetFiles(TestFolder, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(40).ToArray();
        using var engine = ml.Model.CreatePredictionEngine<ImagePathInput, Prediction>(model);
        var expected = files.Select(f => engine.Predict(new ImagePathInput { ImagePath = f }).Score).ToArray();
        var pool = ml.Model.CreatePredictionEnginePool<ImagePathInput, Prediction>(model);
        var got = new float[files.Length * 4][];
        Parallel.For(0, got.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => got[i] = pool.Predict(new ImagePathInput { ImagePath = files[i % files.Length] }).Score);
        for (int i = 0; i < got.Length; i++) CollectionAssert.AreEqual(expected[i % files.Length], got[i], $"prediction {i} under concurrency");
        Assert.IsLessThanOrEqualTo(4 + 1, pool.EngineCount, "at most one engine per concurrent caller");
    }

    [TestMethod]
    public void MemoryStaysFlatOverManyPredictions()
    {
        var (ml, model, _) = Trained();
        var file = Directory.GetFiles(TestFolder, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        var input = new ImagePathInput { ImagePath = file };
        using var engine = ml.Model.CreatePredictionEngine<ImagePathInput, Prediction>(model);
        for (int i = 0; i < 200; i++) engine.Predict(input); // warm-up: allocator pools, JIT
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Process.GetCurrentProcess().WorkingSet64;
        Prediction? p = null;
        for (int i = 0; i < 2000; i++) engine.Predict(input, ref p!);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long growth = Process.GetCurrentProcess().WorkingSet64 - before;
        Console.WriteLine($"RSS growth over 2,000 predictions: {growth / 1024} KiB");
        Assert.IsLessThan(20L << 20, growth, $"RSS grew by {growth / (1 << 20)} MiB over 2,000 predictions");
    }
}
