// CompareBackbones: which attention mechanism suits your data? ResNet-18 with no attention, squeeze-excitation, CBAM,
// ECA and coordinate attention, plus YOLOv8n-cls with coordinate attention (C2f+CA), compared on Fashion-MNIST by
// ctx.Auto().CreateBackboneExperiment: successive halving (every candidate trains the first epochs, the best third
// continues, ...) within a wall-clock budget. Prints the progress and the leaderboard (validation accuracy, parameters,
// GMACs, images/s), evaluates the winner on the test set and saves it as a .zip.
//   dotnet run -c Release --project samples/CompareBackbones                          # 12,000 images, 9 epochs, 30 minutes at most
//   dotnet run -c Release --project samples/CompareBackbones -- --limit 600 --epochs 1 --test-limit 500
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.AutoML;
using MLNet.Attention.Samples;

var defaults = new Dictionary<string, string>
{
    ["--limit"] = "12000", ["--test-limit"] = "0", ["--epochs"] = "9", ["--minutes"] = "30", ["--width"] = "0.25", ["--out"] = "best-backbone.zip",
};
return SampleArgs.Run("CompareBackbones", args, defaults, a =>
{
    int limit = a.Int("--limit"), testLimit = a.Int("--test-limit"), epochs = a.Int("--epochs", min: 1);
    double minutes = a.Positive("--minutes"), width = a.Positive("--width");
    string output = a.Text("--out")!;

    var ml = new MLContext(seed: 1);
    var train = ml.Data.LoadFashionMnist(train: true, limit: limit > 0 ? limit : null);
    var test = ml.Data.LoadFashionMnist(train: false, limit: testLimit > 0 ? testLimit : null);
    var features = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
        .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.286f }, new[] { 0.353f }));

    var experiment = ml.Auto().CreateBackboneExperiment(new BackboneExperimentSettings
    {
        Backbones =
        [
            new BackboneChoice("resnet18", width, SmallImage: true),
            new BackboneChoice("resnet18", width, "se", SmallImage: true),
            new BackboneChoice("resnet18", width, "cbam", SmallImage: true),
            new BackboneChoice("resnet18", width, "eca", SmallImage: true),
            new BackboneChoice("resnet18", width, "ca", SmallImage: true),
            new BackboneChoice("c2f_ca_cls_n", SmallImage: true),
        ],
        LearningRates = [0.05],                                         // a list: the grid is backbones × learning rates × batch sizes
        BatchSizes = [32],
        MaxEpochPerCandidate = epochs,
        MaxExperimentTime = TimeSpan.FromMinutes(minutes),
        ValidationFraction = 0.2f,
        Progress = new Progress(p => { if (p.Event != BackboneTrialEvent.Epoch) Console.WriteLine(p); }),
    });
    Console.WriteLine($"{experiment.Candidates.Count} candidates, rungs at epochs {string.Join(", ", experiment.RungEpochs)}, budget {minutes} min");
    using var result = experiment.Execute(train, validationData: null, preFeaturizer: features);

    Console.WriteLine("leaderboard (validation micro-accuracy):");
    foreach (var run in result.Leaderboard) Console.WriteLine($"  {run}");
    var metrics = ml.MulticlassClassification.Evaluate(result.BestModel.Transform(test));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"best: {result.BestRun.Name}; test accuracy {100 * metrics.MicroAccuracy:F2}% on {test.GetRowCount()} images; experiment {result.Elapsed.TotalSeconds:F0} s"));
    ml.Model.Save(result.BestModel, train.Schema, output);
    Console.WriteLine($"model saved to {Path.GetFullPath(output)}");
    return 0;
});

/// <summary>Reports progress synchronously on the training thread (System.Progress would post to the thread pool, out of order).</summary>
internal sealed class Progress(Action<BackboneTrialProgress> report) : IProgress<BackboneTrialProgress>
{
    public void Report(BackboneTrialProgress value) => report(value);
}
