// FineTuneFromPyTorch: start from a PyTorch checkpoint instead of random weights.
// resnet18_w025_fmnist6.pth is a torch.save file of torchvision's ResNet-18 (quarter width, small-image stem) trained in
// PyTorch on the Fashion-MNIST classes 0-5 (make_checkpoint.py). Here it is loaded by its PyTorch state-dict keys
// (PretrainedWeightsPath: the 6-class head is re-initialised for 4 classes) and fine-tuned on the four classes it never
// saw (Shirt, Sneaker, Bag, Ankle boot) from a few images per class; the same network trained from scratch on the same
// images is the baseline. Your own checkpoint works the same way when its keys are the registry model's (torchvision's
// resnet18.pth for Arch "resnet18" at full width without SmallImage, for example).
//   dotnet run -c Release --project samples/FineTuneFromPyTorch [-- --per-class 50 --epochs 3 --test-limit 1000]
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Samples;
using MLNet.Attention.Transforms;

var defaults = new Dictionary<string, string>
{
    ["--checkpoint"] = Path.Combine(AppContext.BaseDirectory, "resnet18_w025_fmnist6.pth"),
    ["--per-class"] = "100", ["--test-limit"] = "0", ["--epochs"] = "5", ["--lr"] = "0.02", ["--baseline"] = "1", ["--out"] = "fine-tuned.zip",
};
return SampleArgs.Run("FineTuneFromPyTorch", args, defaults, a =>
{
    string checkpoint = a.Text("--checkpoint")!;
    if (!File.Exists(checkpoint)) throw new SampleArgumentException($"--checkpoint: '{checkpoint}' does not exist (make it with samples/FineTuneFromPyTorch/make_checkpoint.py)");
    int perClass = a.Int("--per-class", min: 1), testLimit = a.Int("--test-limit"), epochs = a.Int("--epochs", min: 1);
    bool baseline = a.Int("--baseline") != 0;
    double lr = a.Positive("--lr");
    string output = a.Text("--out")!;
    int[] newClasses = { 6, 7, 8, 9 };                                     // Shirt, Sneaker, Bag, Ankle boot

    var ml = new MLContext(seed: 1);
    ml.Log += (_, e) => { if (e.Message.Contains("pretrained", StringComparison.Ordinal)) Console.WriteLine(e.Message); };
    var train = ml.Data.LoadFromEnumerable(FashionRows(train: true, newClasses, perClass));
    var test = ml.Data.LoadFromEnumerable(FashionRows(train: false, newClasses, testLimit > 0 ? (testLimit + newClasses.Length - 1) / newClasses.Length : int.MaxValue));

    EstimatorChain<AttentionBackboneTransformer> Pipeline(string? weights) =>
        ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.286f }, new[] { 0.353f }))   // as in make_checkpoint.py
            .Append(ml.MulticlassClassification.Trainers.AttentionBackbone(new AttentionBackboneTrainer.Options
            {
                Arch = "resnet18", SmallImage = true, WidthMultiplier = 0.25,         // the checkpoint's architecture
                PretrainedWeightsPath = weights, MaxEpoch = epochs, BatchSize = 32, LearningRate = lr,
                MetricsCallback = m => Console.WriteLine($"  {m}"),
            }));
    double Accuracy(ITransformer model) => ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;

    Console.WriteLine($"fine-tuning {Path.GetFileName(checkpoint)} on {train.GetRowCount()} images of 4 new classes ({perClass} per class)");
    var fineTuned = Pipeline(checkpoint).Fit(train);
    double tuned = Accuracy(fineTuned);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fine-tuned test accuracy: {100 * tuned:F2}% on {test.GetRowCount()} images"));
    if (baseline)
    {
        Console.WriteLine("the same network from random weights, same images and epochs:");
        var scratch = Pipeline(null).Fit(train);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"from-scratch test accuracy: {100 * Accuracy(scratch):F2}%"));
        scratch.LastTransformer.Dispose();                                 // frees the network's libtorch tensors now
    }

    ml.Model.Save(fineTuned, train.Schema, output);
    Console.WriteLine($"model saved to {Path.GetFullPath(output)}");
    var loaded = ml.Model.Load(output, out _);
    foreach (var p in ml.Data.CreateEnumerable<Prediction>(loaded.Transform(ml.Data.LoadFromEnumerable(FashionRows(false, newClasses, 1))), reuseRowObject: false))
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prediction: {p.PredictedLabel} ({100 * p.Score.Max():F1}%), true label {p.Label}"));
    return 0;
});

// The first perClass Fashion-MNIST images of each of the classes, as in-memory rows (image + class name).
static List<FashionRow> FashionRows(bool train, int[] classes, int perClass)
{
    var idx = IdxDataset.FashionMnist(train);
    int px = idx.Width * idx.Height;
    var taken = new int[idx.ClassNames.Count];
    var rows = new List<FashionRow>();
    for (int i = 0; i < idx.Count; i++)
    {
        int label = idx.Labels[i];
        if (Array.IndexOf(classes, label) < 0 || taken[label]++ >= perClass) continue;
        rows.Add(new FashionRow { Image = new ImageData(idx.Width, idx.Height, 1, idx.Images.AsSpan(i * px, px).ToArray()), Label = idx.ClassNames[label] });
    }
    return rows;
}

/// <summary>An in-memory training row: a 28×28 gray image and its class name.</summary>
internal sealed class FashionRow
{
    [ImageType(28, 28, Channels = 1)]
    public ImageData Image { get; set; } = null!;
    public string Label { get; set; } = "";
}

/// <summary>A scored row.</summary>
internal sealed class Prediction
{
    public string Label { get; set; } = "";
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
