using System.Globalization;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.AutoML;

/// <summary>
/// The images of an experiment, read once for every candidate: the training and validation image sources with their
/// class indices, the per-image pipeline of the feature column's image transforms, the pixel shape and the classes —
/// what <see cref="AttentionBackboneTrainer"/>'s <c>Fit</c> reads from its input, read the same way (the class order
/// of an image folder or IDX file, otherwise sorted labels; validation labels mapped onto the training classes).
/// </summary>
internal sealed class ExperimentData
{
    private const string Source = "BackboneExperiment";

    private ExperimentData(ImageDataset train, ImageDataset validation, ImagePipeline pipeline, (int C, int H, int W) shape, DataViewType labelType, string? keyValueType)
    {
        Train = train; Validation = validation; Pipeline = pipeline; Shape = shape; LabelType = labelType; KeyValueType = keyValueType;
    }

    public ImageDataset Train { get; }
    public ImageDataset Validation { get; }
    public ImagePipeline Pipeline { get; }
    public (int C, int H, int W) Shape { get; }
    public DataViewType LabelType { get; }
    /// <summary>For a key label with key values: their type (the best model's key PredictedLabel maps back to it); else null.</summary>
    public string? KeyValueType { get; }
    public IReadOnlyList<string> Classes => Train.ClassNames;
    /// <summary>The validation labels as class indices.</summary>
    public int[] ValidationLabels => Validation.Select(s => s.Label).ToArray();

    public static ExperimentData Read(IDataView train, IDataView? validation, string labelColumn, string featureColumn, float validationFraction,
        int seed, BadInputPolicy policy)
    {
        var labelCol = train.Schema.GetColumnOrNull(labelColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(train), $"{Source}: label column '{labelColumn}' not found in the training data (columns: {train.Schema.Describe()}); set LabelColumnName");
        var plan = Plan(train, featureColumn, "the training data");
        var (trainSet, _) = AttentionBackboneTrainer.ReadDataset(train, plan, labelCol, null, policy, "training", Source);
        if (trainSet.ClassNames.Count < 2)
            throw new ArgumentException($"{Source}: the label column '{labelColumn}' holds a single class ('{trainSet.ClassNames.FirstOrDefault()}'); a classifier needs at least 2", nameof(train));
        ImageDataset validationSet;
        if (validation is not null)
        {
            var vcol = validation.Schema.GetColumnOrNull(labelColumn)
                ?? throw new ArgumentOutOfRangeException(nameof(validation), $"{Source}: label column '{labelColumn}' not found in the validation data (columns: {validation.Schema.Describe()})");
            validationSet = AttentionBackboneTrainer.ReadDataset(validation, Plan(validation, featureColumn, "the validation data"), vcol, trainSet.ClassNames, policy, "validation", Source).Dataset;
        }
        else
        {
            double fraction = validationFraction;   // in double on both sides: (1 - 0.2f) + 0.2f as doubles exceeds 1
            var parts = trainSet.Split(1 - fraction, fraction, seed, stratified: true);
            if (parts.Validation.Count == 0 || parts.Train.Count == 0)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"{Source}: {trainSet.Count} images split by ValidationFraction {validationFraction} leave {parts.Train.Count} for training and {parts.Validation.Count} for validation; pass a validation set or more data"), nameof(train));
            trainSet = parts.Train;
            validationSet = parts.Validation;
        }
        var pipeline = plan.ToPipeline();
        var shape = AttentionBackboneTrainer.SampleShape(trainSet, pipeline);
        if (shape.C is not (1 or 3))
            throw new ArgumentException($"{Source}: the image pipeline makes {shape.C}-channel pixels; the backbones take 1 (gray) or 3 (RGB): decode with LoadImages(channels: 1 or 3) or ExtractPixels(ColorBits.Rgb)", nameof(train));
        return new ExperimentData(trainSet, validationSet, pipeline, shape, labelCol.Type, AttentionBackboneTrainer.KeyValueTypeName(labelCol));
    }

    private static ImagePlan Plan(IDataView data, string featureColumn, string where) =>
        AttentionBackboneTrainer.ResolveTrainingPlan(data, featureColumn, where, Source);
}
