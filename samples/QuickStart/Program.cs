// QuickStart: an attention CNN (SE-ResNet-18 at quarter width, squeeze-excitation in every block) trained on
// Fashion-MNIST through the ML.NET-style pipeline, evaluated on the test set, saved as a .zip, used for predictions.
//   dotnet run -c Release --project samples/QuickStart                         # 60,000 images, 2 epochs (~90% accuracy)
//   dotnet run -c Release --project samples/QuickStart -- --limit 300 --epochs 1   # a few seconds
// The data is Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); build/setup.sh installs it.
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.Estimators;
using MLNet.Attention.Samples;

var defaults = new Dictionary<string, string> { ["--limit"] = "0", ["--test-limit"] = "0", ["--epochs"] = "2", ["--out"] = "fashion-mnist.zip" };
return SampleArgs.Run("QuickStart", args, defaults, a =>
{
    int limit = a.Int("--limit"), testLimit = a.Int("--test-limit"), epochs = a.Int("--epochs", min: 1);
    string output = a.Text("--out")!;

    // ---- the ten lines ----
    var ml = new MLContext(seed: 1);
    var train = ml.Data.LoadFashionMnist(train: true, limit: limit > 0 ? limit : null);
    var test = ml.Data.LoadFashionMnist(train: false, limit: testLimit > 0 ? testLimit : null);
    var pipeline = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
        .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.286f }, new[] { 0.353f }))
        .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
        {
            Arch = "resnet18", Attention = "se", SmallImage = true, WidthMultiplier = 0.25, MaxEpoch = epochs, BatchSize = 32,
            LearningRate = 0.05, LearningRateScheduler = LearningRateScheduler.OneCycle, MetricsCallback = m => Console.WriteLine(m),
        }));
    var model = pipeline.Fit(train);
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    ml.Model.Save(model, train.Schema, output);
    // -----------------------

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"test accuracy: {100 * metrics.MicroAccuracy:F2}% (macro {100 * metrics.MacroAccuracy:F2}%, log-loss {metrics.LogLoss:F4}) on {test.GetRowCount()} images"));
    Console.WriteLine($"model saved to {Path.GetFullPath(output)}");

    // The saved model, loaded back, scores the first test images.
    var loaded = ml.Model.Load(output, out _);
    var firstFive = ml.Data.LoadFashionMnist(train: false, limit: 5);
    foreach (var p in ml.Data.CreateEnumerable<FashionPrediction>(loaded.Transform(firstFive), reuseRowObject: false))
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prediction: {p.PredictedLabel} ({100 * p.Score.Max():F1}%), true label {p.Label}"));
    return 0;
});

/// <summary>A scored row: the true label, the class probabilities and the predicted label.</summary>
internal sealed class FashionPrediction
{
    public string Label { get; set; } = "";
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
