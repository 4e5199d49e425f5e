#!/usr/bin/env -S dotnet run
// Classifies image files with a saved model (.zip from any sample, the CLI or your own pipeline): what an application does.
//   dotnet run samples/scripts/predict.cs -- model.zip photo1.jpg photo2.png ...
// The model's own preprocessing (decode, resize, normalise) runs on each file; prints the top 3 classes per image.
#:project ../../src/Estimators/MLNet.Attention.Estimators.csproj
#:property PublishAot=false
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.Data;
using MLNet.Attention.Transforms;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: dotnet run samples/scripts/predict.cs -- <model.zip> <image> [<image> ...]");
    return 2;
}
var ml = new MLContext();
var model = ml.Model.Load(args[0], out var inputSchema);
// The model reads the image from the column its pipeline was trained on (ImagePath for image folders).
string column = inputSchema.Select(c => c.Name).FirstOrDefault(n => n is "ImagePath" or "Image") ?? inputSchema[0].Name;
if (column != "ImagePath")
{
    Console.Error.WriteLine($"error: {args[0]} takes its images from the column '{column}' (decoded pixels), not from files; train it on an image folder or paths (LoadImages) to classify files");
    return 1;
}
using var engine = ml.Model.CreatePredictionEngine<ImageFile, Prediction>(model);
var classes = engine.OutputSchema["Score"].GetSlotNames() ?? [];
int failures = 0;
foreach (var file in args.Skip(1))
{
    try
    {
        var p = engine.Predict(new ImageFile { ImagePath = Path.GetFullPath(file) });
        var top = p.Score.Select((s, i) => (s, i)).OrderByDescending(t => t.s).Take(3)
            .Select(t => string.Create(CultureInfo.InvariantCulture, $"{(t.i < classes.Count ? classes[t.i] : t.i.ToString(CultureInfo.InvariantCulture))} {100 * t.s:F1}%"));
        Console.WriteLine($"{file}: {p.PredictedLabel} ({string.Join(", ", top)})");
    }
    catch (Exception e) when (e is ImageDataException or IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"{file}: {e.Message}");
        failures++;
    }
}
return failures == 0 ? 0 : 1;

/// <summary>The engine's input: a path.</summary>
internal sealed class ImageFile
{
    public string ImagePath { get; set; } = "";
}

/// <summary>The engine's output: probabilities (slot names = class names) and the predicted class.</summary>
internal sealed class Prediction
{
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
