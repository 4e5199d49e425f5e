using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>Wrong column names and types: every error names the column and says what was expected, before any work is done.</summary>
[TestClass]
public sealed class ErrorTests
{
    /// <summary>Rows with columns of several types.</summary>
    public sealed class MixedRow
    {
        [ImageType(28, 28, Channels = 1)]
        public ImageData Image { get; set; } = ImageData.Create(28, 28, 1);
        public string Label { get; set; } = "a";
        public float Weight { get; set; }
        [VectorType(10)]
        public float[] Vector { get; set; } = new float[10];
    }

    /// <summary>Features of the wrong size.</summary>
    public sealed class FeatureRow
    {
        [VectorType(10)]
        public float[] Features { get; set; } = new float[10];
    }

    private sealed class BadPrediction
    {
        public string Score { get; set; } = "";
    }

    private sealed class NoPathInput
    {
        public string File { get; set; } = "";
    }

    private static readonly Lazy<(MLContext Ml, TransformerChain<AttentionBackboneTransformer> Model, IDataView Data)> s_model = new(() =>
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFashionMnist(train: false, limit: 24);
        var model = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options { Arch = "resnet18", SmallImage = true, WidthMultiplier = 0.125, MaxEpoch = 1, Workers = 0 }))
            .Fit(data);
        return (ml, model, data);
    });

    private static IDataView Mixed(MLContext ml, params string[] labels) =>
        ml.Data.LoadFromEnumerable((labels.Length == 0 ? new[] { "a", "b" } : labels).Select(l => new MixedRow { Label = l }).ToList());

    private static void Fails<TException>(Action action, params string[] fragments) where TException : Exception
    {
        var e = Assert.Throws<TException>(action);
        foreach (var f in fragments) StringAssert.Contains(e.Message, f);
    }

    [TestMethod]
    public void ImageTransformsNameTheColumnAndTheExpectedType()
    {
        var ml = new MLContext(seed: 1);
        var data = Mixed(ml);
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.LoadImages("Img", null, "Path").Fit(data),
            "LoadImages: input column 'Path' not found", "Image: Image<28, 28>(1 channels), Label: String");
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.LoadImages("Img", null, "Weight").Fit(data),
            "column 'Weight' must hold image paths (String) or encoded image bytes (Vector<Byte>), but it is Single");
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.ResizeImages("Small", 8, 8, "Label").Fit(data),
            "ResizeImages: column 'Label' must be an image (from LoadImages), but it is String");
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.ExtractPixels("Features", "Vector").Fit(data),
            "ExtractPixels: column 'Vector' must be an image");
        var pixels = ml.Transforms.ExtractPixels("Features", "Image").Fit(data).Transform(data);
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.NormalizeImage("Features", new[] { 0.1f, 0.2f, 0.3f }, new[] { 1f, 1f, 1f }).Fit(pixels),
            "3 channel means for column 'Features', which has 1 channels");
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.NormalizeImage("N", new[] { 0.1f }, new[] { 1f }, "Vector").Fit(data),
            "column 'Vector' is Vector<Single, 10>", "(channels, height, width)");
        var unsized = ml.Transforms.LoadImages("Image", null, "Label").Append(ml.Transforms.ExtractPixels("Features", "Image")).Fit(data).Transform(data);
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.NormalizeImage("Features", new[] { 0.5f }, new[] { 0.5f }).Fit(unsized), "ResizeImages");
        // A chain checks every step before fitting any.
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ExtractPixels("Features", "Image")).Fit(data),
            "input column 'ImagePath' not found");
        Fails<ArgumentOutOfRangeException>(() => ml.Transforms.ResizeImages("Image", 0, 8, "Image"), "width");
    }

    [TestMethod]
    public void TrainersNameTheColumnAndTheExpectedType()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.ExtractPixels("Features", "Image").Fit(Mixed(ml)).Transform(Mixed(ml));
        var trainers = ml.MulticlassClassification.Trainers;
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(labelColumnName: "Category").Fit(data),
            "label column 'Category' not found", "Label: String");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(labelColumnName: "Weight").Fit(data),
            "label column 'Weight' must hold text, integers or keys, but it is Single");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(featureColumnName: "Pixels").Fit(data),
            "feature column 'Pixels' not found");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(featureColumnName: "Vector").Fit(data),
            "feature column 'Vector' holds Vector<Single, 10> that does not come from images", "LoadImages");
        var oneClass = ml.Transforms.ExtractPixels("Features", "Image").Fit(Mixed(ml, "a", "a")).Transform(Mixed(ml, "a", "a"));
        Fails<ArgumentException>(() => trainers.SeResNet(new AttentionBackboneTrainer.Options { Arch = "resnet18", SmallImage = true, WidthMultiplier = 0.125 }).Fit(oneClass),
            "single class ('a')");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(new AttentionBackboneTrainer.Options { BatchSize = 0 }), "BatchSize");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(new AttentionBackboneTrainer.Options { ValidationSetFraction = 1.5f }), "ValidationSetFraction");
        Fails<ArgumentOutOfRangeException>(() => trainers.SeResNet(new AttentionBackboneTrainer.Options { WidthMultiplier = -1 }), "WidthMultiplier");
        Fails<ArgumentException>(() => trainers.SeResNet(new AttentionBackboneTrainer.Options { ScoreColumnName = "X", PredictedLabelColumnName = "X" }), "both 'X'");
    }

    [TestMethod]
    public void ScoringEvaluationAndReadingNameTheColumn()
    {
        var (ml, model, data) = s_model.Value;
        var wrongSize = ml.Data.LoadFromEnumerable(new[] { new MixedRow() }.ToList());
        Fails<ImageDataException>(() => model.LastTransformer.Transform(ml.Transforms.CenterCrop("Features", 8, 8, "Image").Fit(wrongSize).Transform(wrongSize)).GetColumn<float[]>("Score").ToList(),
            "1x8x8", "1x28x28");
        var vectors = ml.Data.LoadFromEnumerable(new[] { new FeatureRow() }.ToList());
        Fails<ArgumentOutOfRangeException>(() => model.LastTransformer.Transform(vectors), "feature column 'Features' is Vector<Single, 10>; the model takes Vector<Single, 1, 28, 28>");
        Fails<ArgumentOutOfRangeException>(() => model.LastTransformer.Transform(wrongSize), "feature column 'Features' not found");

        var scored = model.Transform(data);
        Fails<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Evaluate(data), "score column 'Score' not found");
        Fails<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Evaluate(scored, labelColumnName: "Truth"), "label column 'Truth' not found");
        Fails<InvalidOperationException>(() => ml.Data.CreateEnumerable<BadPrediction>(scored).ToList(),
            "column 'Score' holds Vector<Single, 10>, but BadPrediction.Score is String");
        Fails<InvalidOperationException>(() => scored.GetColumn<int>("PredictedLabel").ToList(), "column 'PredictedLabel' holds String");

        var otherLabels = ml.Data.LoadFromEnumerable(new[] { new MixedRow { Image = ImageData.Create(28, 28, 1, 3), Label = "Platypus" } }.ToList());
        Fails<InvalidOperationException>(() => ml.MulticlassClassification.Evaluate(model.Transform(otherLabels)),
            "label 'Platypus' in row 0 is not one of the model's 10 classes");

        Fails<ArgumentOutOfRangeException>(() => ml.Model.CreatePredictionEngine<NoPathInput, EstimatorTestData.Prediction>(model),
            "ExtractPixels: input column 'Image' not found", "File: String");
    }
}
