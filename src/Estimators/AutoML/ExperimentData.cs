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

    private ExperimentData(ImageDataset train, ImageDataset validation, ImagePipeline pipeline, (int C, int H, int W) shape, DataViewType labelType)
    {
        Train = train; Validation = validation; Pipeline = pipeline; Shape = shape; LabelType = labelType;
    }

    public ImageDataset Train { get; }
    public ImageDataset Validation { get; }
    public ImagePipeline Pipeline { get; }
    public (int C, int H, int W) Shape { get; }
    public DataViewType LabelType { get; }
    public IReadOnlyList<string> Classes => Train.ClassNames;
    /// <summary>The validation labels as class indices.</summary>
    public int[] ValidationLabels => Validation.Select(s => s.Label).ToArray();

    public static ExperimentData Read(IDataView train, IDataView? validation, string labelColumn, string featureColumn, float validationFraction,
        int seed, BadInputPolicy policy)
    {
        var labelCol = train.Schema.GetColumnOrNull(labelColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(train), $"{Source}: label column '{labelColumn}' not found in the training data (columns: {train.Schema.Describe()}); set LabelColumnName");
        var plan = Plan(train, featureColumn, "the training data");
        var (trainSet, _) = ReadDataset(train, plan, labelCol, null, policy, "training");
        if (trainSet.ClassNames.Count < 2)
            throw new ArgumentException($"{Source}: the label column '{labelColumn}' holds a single class ('{trainSet.ClassNames.FirstOrDefault()}'); a classifier needs at least 2", nameof(train));
        ImageDataset validationSet;
        if (validation is not null)
        {
            var vcol = validation.Schema.GetColumnOrNull(labelColumn)
                ?? throw new ArgumentOutOfRangeException(nameof(validation), $"{Source}: label column '{labelColumn}' not found in the validation data (columns: {validation.Schema.Describe()})");
            validationSet = ReadDataset(validation, Plan(validation, featureColumn, "the validation data"), vcol, trainSet.ClassNames, policy, "validation").Dataset;
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
        var shape = SampleShape(trainSet, pipeline);
        if (shape.C is not (1 or 3))
            throw new ArgumentException($"{Source}: the image pipeline makes {shape.C}-channel pixels; the backbones take 1 (gray) or 3 (RGB): decode with LoadImages(channels: 1 or 3) or ExtractPixels(ColorBits.Rgb)", nameof(train));
        return new ExperimentData(trainSet, validationSet, pipeline, shape, labelCol.Type);
    }

    private static ImagePlan Plan(IDataView data, string featureColumn, string where)
    {
        var col = data.Schema.GetColumnOrNull(featureColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumn), $"{Source}: feature column '{featureColumn}' not found in {where} (columns: {data.Schema.Describe()}); set FeatureColumnName, or make it with LoadImages/ExtractPixels (or pass those transforms as the pre-featurizer)");
        return ImagePlan.Resolve(data, col)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumn),
                $"{Source}: feature column '{featureColumn}' holds {col.Type} that does not come from images; the trainers load, transform and augment the images themselves: " +
                "make the column with LoadImages (then ResizeImages, ExtractPixels, ...) from a column of image paths, bytes or images");
    }

    // The same reading as AttentionBackboneTrainer's (private) ReadDataset.
    private static (ImageDataset Dataset, string[] Labels) ReadDataset(IDataView data, ImagePlan plan, DataViewSchema.Column labelCol, IReadOnlyList<string>? classes, BadInputPolicy policy, string what)
    {
        if (!AttentionBackboneTrainer.IsLabelType(labelCol.Type))
            throw new ArgumentOutOfRangeException(nameof(data), $"{Source}: label column '{labelCol.Name}' must hold text or integers, but it is {labelCol.Type}");
        var provided = plan.BaseKind == ImageBaseKind.Image ? (data as IImageSourceProvider)?.GetImageSources(plan.Base) : null;
        var needed = provided is null ? new[] { labelCol, plan.Base } : new[] { labelCol };
        var sources = new List<ImageSource>();
        var labels = new List<string>();
        using (var cursor = data.GetRowCursor(needed))
        {
            var getLabel = RowAccess.Boxed(cursor, labelCol);
            var getBase = provided is null ? RowAccess.Boxed(cursor, plan.Base) : null;
            while (cursor.MoveNext())
            {
                long row = cursor.Position;
                labels.Add(AttentionBackboneTrainer.LabelText(getLabel(), labelCol.Name, row));
                sources.Add(getBase is null ? plan.Wrap(provided![(int)row]) : plan.Source(getBase(), row));
            }
        }
        if (labels.Count == 0) throw new ArgumentException($"{Source}: the {what} data has no rows");
        var present = labels.ToHashSet(StringComparer.Ordinal);
        var names = classes?.ToArray()
            ?? ((data as IImageSourceProvider)?.GetClassNames(labelCol) is { } ordered && present.All(ordered.Contains) ? ordered.Where(present.Contains).ToArray() : null)
            ?? (labelCol.Type is NumberDataViewType
                ? present.OrderBy(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray()
                : present.OrderBy(s => s, StringComparer.Ordinal).ToArray());
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var samples = new List<ImageSample>(labels.Count);
        var report = new BadInputReport();
        for (int i = 0; i < labels.Count; i++)
        {
            if (index.TryGetValue(labels[i], out int l)) { samples.Add(new ImageSample(sources[i], l)); continue; }
            var e = new ImageDataException(sources[i].Name, BadInputKind.UnknownLabel,
                $"{what} label '{labels[i]}' (row {i}) is not one of the {names.Length} training classes ({string.Join(", ", names.Take(12))}{(names.Length > 12 ? ", ..." : "")})");
            if (policy == BadInputPolicy.Throw) throw e;
            report.Add(e);
        }
        if (samples.Count == 0) throw new ArgumentException($"{Source}: no {what} row has a training class", nameof(data));
        return (new ImageDataset(samples, names, report), labels.ToArray());
    }

    /// <summary>(C, H, W) of the first image that loads, through the evaluation pipeline.</summary>
    private static (int C, int H, int W) SampleShape(ImageDataset data, ImagePipeline pipeline)
    {
        ImageDataException? first = null;
        for (int i = 0; i < Math.Min(data.Count, 100); i++)
        {
            try
            {
                var f = pipeline.Run(data[i].Source.Load(3));
                return (f.Channels, f.Height, f.Width);
            }
            catch (ImageDataException e)
            {
                first ??= e;
            }
        }
        throw first!;
    }
}
