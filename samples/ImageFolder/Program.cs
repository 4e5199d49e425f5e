// ImageFolder: train an attention CNN on your own photos. Put them in one subfolder per class:
//   photos/cat/*.jpg, photos/dog/*.jpg, ...      (JPEG, PNG, BMP, GIF, TGA, PNM; any size, colour or gray)
//   dotnet run -c Release --project samples/ImageFolder -- --data photos [--test-data photos-test] [--epochs 15] [--size 64]
// Without --test-data, a stratified 20% of --data is held out for the evaluation. The model (preprocessing included)
// is saved as a .zip, then loaded back to classify --predict (default: the first held-out image).
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Samples;

var defaults = new Dictionary<string, string>
{
    ["--data"] = "", ["--test-data"] = "", ["--epochs"] = "15", ["--size"] = "64", ["--width"] = "0.5",
    ["--batch-size"] = "32", ["--lr"] = "0.05", ["--out"] = "image-folder.zip", ["--predict"] = "",
};
return SampleArgs.Run("ImageFolder", args, defaults, a =>
{
    string data = a.Text("--data") ?? throw new SampleArgumentException("--data must name a folder with one subfolder of images per class");
    if (!Directory.Exists(data)) throw new SampleArgumentException($"--data: folder '{data}' does not exist");
    int epochs = a.Int("--epochs", min: 1), size = a.Int("--size", min: 16), batch = a.Int("--batch-size", min: 1);
    double width = a.Positive("--width"), lr = a.Positive("--lr");
    string output = a.Text("--out")!;

    var ml = new MLContext(seed: 1);
    ml.Log += (_, e) => { if (e.Kind >= LogKind.Warning) Console.WriteLine(e); };
    var all = ml.Data.LoadFromImageFolder(data);                          // columns ImagePath, Label (the subfolder names)
    IDataView train = all, test;
    if (a.Text("--test-data") is { } testFolder) test = ml.Data.LoadFromImageFolder(testFolder);
    else
    {
        var split = ml.Data.TrainTestSplit(all, testFraction: 0.2, stratified: true);
        (train, test) = (split.TrainSet, split.TestSet);
    }
    Console.WriteLine($"{train.GetRowCount()} training images, {test.GetRowCount()} test images");

    // Photos of any size → size×size RGB; random crops and flips while training; ImageNet normalisation.
    var pipeline = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath", channels: 3)
        .Append(ml.Transforms.ResizeImages("Image", size, size))
        .Append(ml.Transforms.RandomResizedCrop("Image", size, size, scaleMin: 0.6))
        .Append(ml.Transforms.RandomHorizontalFlip("Image"))
        .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
        .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f }))
        .Append(ml.MulticlassClassification.Trainers.EcaResNet(new AttentionBackboneTrainer.Options
        {
            // ResNet-18 with efficient channel attention (ECA-Net) in every block; the small-image stem up to 96 px.
            Arch = "resnet18", Attention = "eca", SmallImage = size <= 96, WidthMultiplier = width,
            MaxEpoch = epochs, BatchSize = batch, LearningRate = lr, LabelSmoothing = 0.1,
            MetricsCallback = m => Console.WriteLine(m),
        }));
    var model = pipeline.Fit(train);
    Console.WriteLine($"classes: {string.Join(", ", model.LastTransformer.Labels)}");

    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"test accuracy: {100 * metrics.MicroAccuracy:F2}% (macro {100 * metrics.MacroAccuracy:F2}%, log-loss {metrics.LogLoss:F4})"));
    Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());
    ml.Model.Save(model, train.Schema, output);
    Console.WriteLine($"model saved to {Path.GetFullPath(output)}");

    // What an application does: load the .zip once, then classify single images by path.
    var loaded = ml.Model.Load(output, out _);
    using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(loaded);
    string image = a.Text("--predict") ?? ml.Data.CreateEnumerable<Labelled>(test).First().ImagePath;
    var p = engine.Predict(new ImageInput { ImagePath = image });
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prediction: {image} -> {p.PredictedLabel} ({100 * p.Score.Max():F1}%)"));
    return 0;
});

/// <summary>A row of an image folder.</summary>
internal sealed class Labelled
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}

/// <summary>The prediction engine's input: an image file.</summary>
internal sealed class ImageInput
{
    public string ImagePath { get; set; } = "";
}

/// <summary>The prediction engine's output: the class probabilities and the most probable class.</summary>
internal sealed class ImagePrediction
{
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
