#!/usr/bin/env -S dotnet run
// QuickStart as a single file (.NET 10 file-based app): no project, no solution.
//   dotnet run samples/scripts/quickstart.cs                    # 60,000 Fashion-MNIST images, 2 epochs
//   dotnet run samples/scripts/quickstart.cs -- 1000 1          # the first 1,000 images, 1 epoch
// With the NuGet package instead of the source tree, replace the #:project line with
//   #:package MLNet.Attention@0.1.0
// (and a nuget.config naming the folder of the packages when they are not on nuget.org; see samples/README.md).
#:project ../../src/Estimators/MLNet.Attention.Estimators.csproj
// File-based apps default to native AOT publishing; this sample runs on the JIT (and needs no AOT packages to restore).
#:property PublishAot=false
using System.Globalization;
using MLNet.Attention;
using MLNet.Attention.Estimators;

int limit = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 0;
int epochs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;

var ml = new MLContext(seed: 1);
var train = ml.Data.LoadFashionMnist(train: true, limit: limit > 0 ? limit : null);
var test = ml.Data.LoadFashionMnist(train: false, limit: limit > 0 ? Math.Min(limit, 10_000) : null);
var pipeline = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
    .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.286f }, new[] { 0.353f }))
    .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
    {
        Arch = "resnet18", Attention = "se", SmallImage = true, WidthMultiplier = 0.25, MaxEpoch = epochs, BatchSize = 32,
        LearningRate = 0.05, LearningRateScheduler = LearningRateScheduler.OneCycle, MetricsCallback = m => Console.WriteLine(m),
    }));
var model = pipeline.Fit(train);
var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test accuracy: {100 * metrics.MicroAccuracy:F2}% on {test.GetRowCount()} images"));
ml.Model.Save(model, train.Schema, "fashion-mnist.zip");
Console.WriteLine($"model saved to {Path.GetFullPath("fashion-mnist.zip")}");
