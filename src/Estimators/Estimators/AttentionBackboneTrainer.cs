using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Packaging;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>
/// Trains any backbone of the <see cref="ModelRegistry"/> (SE-ResNet, EPSANet, CBAM, BAM, ECA, Residual Attention,
/// MobileNetV2-CA, BoTNet, MobileViTv2, C2f-CA, ...) as a multiclass image classifier — the one trainer behind every
/// <c>MulticlassClassification.Trainers.*</c> method, which differ only in the default <see cref="Options.Arch"/>.
/// </summary>
/// <remarks>
/// <para>The feature column must come from images: a chain of the catalog's image transforms (<c>LoadImages</c>,
/// <c>ResizeImages</c>, <c>ExtractPixels</c>, <c>NormalizeImage</c>, augmentations ...) over a column of paths, bytes or
/// images. <see cref="Fit(IDataView)"/> reads that chain back and hands it to the training engine's streaming batch loader, which
/// decodes and transforms the images on worker threads — random augmentations apply only here. The labels can be
/// text or integers; the classes (kept in the model) are the values present, in the data set's own order for image
/// folders and IDX files, otherwise sorted (numerically for integers). A key label (<c>MapValueToKey</c>'s
/// <see cref="KeyDataViewType"/>) gives the classes as ML.NET does: every key, in key order (class index = key − 1),
/// named by the column's key values; a row with the missing key 0 is an error naming the column and row (skipped
/// under <see cref="Options.OnBadInput"/> Skip, as unknown labels are).</para>
/// <para>Output columns: <c>Score</c>, the class probabilities (a vector with the class names as slot names), and
/// <c>PredictedLabel</c>, the most probable class as an original label value — or, for a key label, as the same key
/// type with its key values, which <c>MapKeyToValue("PredictedLabel")</c> turns back into the original labels.</para>
/// </remarks>
public sealed class AttentionBackboneTrainer : IEstimator<AttentionBackboneTransformer>
{
    private const string Source = nameof(AttentionBackboneTrainer);
    private readonly MLContext _env;
    private readonly Options _options;
    private readonly string _arch;

    /// <summary>The trainer's options (ML.NET's names).</summary>
    public sealed class Options
    {
        /// <summary>The label column: text, integers or a key (from <c>MapValueToKey</c>) (default "Label").</summary>
        public string LabelColumnName = DefaultColumnNames.Label;
        /// <summary>The image feature column (default "Features"): pixels from <c>ExtractPixels</c>, or images, bytes or paths.</summary>
        public string FeatureColumnName = DefaultColumnNames.Features;
        /// <summary>The output column of class probabilities (default "Score").</summary>
        public string ScoreColumnName = DefaultColumnNames.Score;
        /// <summary>The output column of the predicted label (default "PredictedLabel").</summary>
        public string PredictedLabelColumnName = DefaultColumnNames.PredictedLabel;

        /// <summary>The backbone: a <see cref="ModelRegistry"/> name ("seresnet50", "epsanet50", ...); null: the catalog method's model.</summary>
        public string? Arch;
        /// <summary>An attention layer for families that take one (ResNet, MobileViTv2, C2f: "se", "cbam", "eca", "ca", ...); null: the model's own.</summary>
        public string? Attention;
        /// <summary>Scales every stage's channel count (default 1; e.g. 0.25 for a small, fast model).</summary>
        public double WidthMultiplier = 1.0;
        /// <summary>The small-image form for 28–96 px inputs: a stride-1 stem without max-pool (default false).</summary>
        public bool SmallImage;
        /// <summary>Stride of the stem conv (ResNet and EPSANet families): 0 (default) the form's own; 2 in the small-image form
        /// halves the feature maps (28-px images reach stage 1 at 14×14, about 4× less compute).</summary>
        public int StemStride;
        /// <summary>The memory format of training and scoring (default NCHW). <see cref="MemoryFormat.ChannelsLast"/> runs EPSANet's grouped
        /// 7×7/9×9 PSA convolutions several times faster on the CPU, and suits cuDNN.</summary>
        public MemoryFormat MemoryFormat = MemoryFormat.Contiguous;
        /// <summary>Mixed precision of training and validation (default None, float32): <see cref="Torch.MixedPrecision.BFloat16"/> autocasts the
        /// forward pass to bfloat16 on the CPU or a GPU; <see cref="Torch.MixedPrecision.Float16"/> to float16 with dynamic loss scaling, GPU only.
        /// Weights stay float32, and the saved model scores in float32.</summary>
        public MixedPrecision MixedPrecision = MixedPrecision.None;

        /// <summary>Images per batch (default 32).</summary>
        public int BatchSize = 32;
        /// <summary>Epochs (default 10).</summary>
        public int MaxEpoch = 10;
        /// <summary>The (peak) learning rate (default 0.01).</summary>
        public double LearningRate = 0.01;
        /// <summary>Weight decay (default 1e-4).</summary>
        public double WeightDecay = 1e-4;
        /// <summary>The optimizer (default SGD with Nesterov momentum 0.9).</summary>
        public OptimizerKind Optimizer = OptimizerKind.Sgd;
        /// <summary>SGD momentum (default 0.9).</summary>
        public double Momentum = 0.9;
        /// <summary>Nesterov momentum for SGD (default true).</summary>
        public bool Nesterov = true;
        /// <summary>The learning-rate schedule (default cosine annealing).</summary>
        public LearningRateScheduler LearningRateScheduler = LearningRateScheduler.Cosine;
        /// <summary>Label smoothing of the training loss, in [0, 1) (default 0).</summary>
        public double LabelSmoothing;
        /// <summary>Clip the gradient norm to this value (default: no clipping).</summary>
        public double? GradientClipNorm;

        /// <summary>Validation data, transformed by the same chain (null: <see cref="ValidationSetFraction"/>).</summary>
        public IDataView? ValidationSet;
        /// <summary>Without <see cref="ValidationSet"/>: the fraction of the training data held out for validation, stratified (default 0: none).</summary>
        public float ValidationSetFraction;
        /// <summary>Stop when the validation metric stops improving, and keep the best epoch's weights (needs validation data); null: never.</summary>
        public EarlyStopping? EarlyStoppingCriteria;
        /// <summary>Called after every epoch with its metrics.</summary>
        public Action<EpochMetrics>? MetricsCallback;
        /// <summary>Called after every training batch with the epoch's running loss and accuracy (a progress display).</summary>
        public Action<BatchProgress>? BatchCallback;

        /// <summary>Weights to start from: a safetensors file or a PyTorch <c>torch.save</c> file (.pth/.pt). The
        /// classifier head is re-initialised when its class count differs; every other tensor must fit.</summary>
        public string? PretrainedWeightsPath;
        /// <summary>Train only the classifier head (default false).</summary>
        public bool FreezeBackbone;

        /// <summary>Seed of the initialisation, shuffles, augmentation and validation split (null: the context's).</summary>
        public int? Seed;
        /// <summary>A folder for per-epoch checkpoints; <see cref="Fit(IDataView)"/> resumes from the last one (null: none).</summary>
        public string? CheckpointDirectory;
        /// <summary>Image decoding threads (null: the machine's cores).</summary>
        public int? Workers;
        /// <summary>Images that cannot be loaded: throw (default) or skip and report.</summary>
        public BadInputPolicy OnBadInput = BadInputPolicy.Throw;
    }

    internal AttentionBackboneTrainer(MLContext env, Options options, string defaultArch)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        _env = env;
        _options = options;
        _arch = options.Arch ?? (defaultArch == AnyArch ? throw new ArgumentException("Options.Arch must name the model: one of " + string.Join(", ", ModelRegistry.All.Select(m => m.Name)), nameof(options)) : defaultArch);
        var info = ModelRegistry.Get(_arch);
        var family = defaultArch == AnyArch ? info.Family : ModelRegistry.Get(defaultArch).Family;
        if (info.Family != family)
            throw new ArgumentException($"Arch '{options.Arch}' is a {info.Family} model; this trainer trains the {family} family ({string.Join(", ", ModelRegistry.All.Where(m => m.Family == family).Select(m => m.Name))}); use AttentionBackbone for any registered model", nameof(options));
        foreach (var (name, value) in new[] { ("LabelColumnName", options.LabelColumnName), ("FeatureColumnName", options.FeatureColumnName), ("ScoreColumnName", options.ScoreColumnName), ("PredictedLabelColumnName", options.PredictedLabelColumnName) })
            if (string.IsNullOrEmpty(value)) throw new ArgumentException($"{name} must name a column", nameof(options));
        if (options.ScoreColumnName == options.PredictedLabelColumnName)
            throw new ArgumentException($"ScoreColumnName and PredictedLabelColumnName are both '{options.ScoreColumnName}'", nameof(options));
        if (!(options.ValidationSetFraction >= 0 && options.ValidationSetFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.ValidationSetFraction, "ValidationSetFraction must be in [0, 1)");
        if (options.Workers is < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Workers, "Workers must be >= 0");
        ArgumentNullException.ThrowIfNull(options.LearningRateScheduler, nameof(options.LearningRateScheduler));
        new BackboneOptions(2, 3, options.SmallImage, options.WidthMultiplier, options.Attention) { StemStride = options.StemStride }.Validate();
        if (options.StemStride != 0 && !ModelRegistry.Get(_arch).TakesStemStride)
            throw new ArgumentException($"StemStride: {_arch} does not take a stem stride (the ResNet and EPSANet families do)", nameof(options));
        Settings(1).Validate();
    }

    /// <summary>The registry name meaning "no family check" (AttentionBackbone).</summary>
    internal const string AnyArch = "";

    /// <summary>The registry name of the model trained.</summary>
    public string Arch => _arch;

    private TrainingSettings Settings(ulong seed)
    {
        var o = _options;
        var s = new TrainingSettings
        {
            BatchSize = o.BatchSize,
            MaxEpoch = o.MaxEpoch,
            LearningRate = o.LearningRate,
            WeightDecay = o.WeightDecay,
            Optimizer = o.Optimizer,
            Momentum = o.Momentum,
            Nesterov = o.Nesterov,
            LabelSmoothing = o.LabelSmoothing,
            EarlyStoppingPatience = o.EarlyStoppingCriteria?.Patience,
            EarlyStoppingMetric = o.EarlyStoppingCriteria?.Metric ?? EarlyStoppingMetric.ValidationLoss,
            MetricsCallback = o.MetricsCallback,
            BatchCallback = o.BatchCallback,
            Seed = seed,
            CheckpointDirectory = o.CheckpointDirectory,
            Workers = o.Workers ?? Environment.ProcessorCount,
            GradientClipNorm = o.GradientClipNorm,
            OnBadInput = o.OnBadInput,
            MemoryFormat = o.MemoryFormat,
            MixedPrecision = o.MixedPrecision,
        };
        return o.LearningRateScheduler.Apply(s);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (!inputSchema.TryFindColumn(_options.LabelColumnName, out var label))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: label column '{_options.LabelColumnName}' not found (columns: {inputSchema}); pass labelColumnName");
        if (label.Kind != SchemaShape.VectorKind.Scalar || !IsLabelType(label.ItemType))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: label column '{label.Name}' must hold text, integers or keys, but it is {label.TypeText}");
        if (!inputSchema.TryFindColumn(_options.FeatureColumnName, out _))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: feature column '{_options.FeatureColumnName}' not found (columns: {inputSchema}); pass featureColumnName, or make it with LoadImages/ExtractPixels");
        return inputSchema.With(
            new SchemaShape.Column(_options.ScoreColumnName, SchemaShape.VectorKind.Vector, NumberDataViewType.Single),
            label.IsKey
                ? new SchemaShape.Column(_options.PredictedLabelColumnName, SchemaShape.VectorKind.Scalar, label.ItemType, true, label.KeyValueType is null ? null : label.Annotations)
                : new SchemaShape.Column(_options.PredictedLabelColumnName, SchemaShape.VectorKind.Scalar, label.ItemType));
    }

    internal static bool IsLabelType(DataViewType t) => t is TextDataViewType || t is NumberDataViewType { IsInteger: true } || t is BooleanDataViewType || t is KeyDataViewType;

    /// <summary>
    /// How the values of a label column become class names: text, integers and booleans as their text; a key as its
    /// key value (the <c>KeyValues</c> annotation; the key number as text when the column has none), with the class
    /// names of a key column (<paramref name="keyClasses"/>) in key order — class index = key − 1. The reader gives null
    /// for a missing key (0).
    /// </summary>
    internal static Func<object?, long, string?> LabelReader(DataViewSchema.Column labelCol, string source, out IReadOnlyList<string>? keyClasses)
    {
        if (labelCol.Type is not KeyDataViewType key)
        {
            keyClasses = null;
            return (v, row) => LabelText(v, labelCol.Name, row);
        }
        var names = KeyClassNames(labelCol, source);
        keyClasses = names;
        string column = labelCol.Name;
        return (v, row) => v switch
        {
            uint k when k == 0 => null,
            uint k when k <= (uint)names.Length => names[k - 1],
            uint k => throw new InvalidOperationException($"{source}: label column '{column}' holds key {k} in row {row}, beyond its type {key}"),
            _ => throw new InvalidOperationException($"{source}: label column '{column}' holds no key (null) in row {row}"),
        };
    }

    /// <summary>The class names of a key label column, in key order: its key values, or 1..Count as text.</summary>
    internal static string[] KeyClassNames(DataViewSchema.Column labelCol, string source)
    {
        var key = (KeyDataViewType)labelCol.Type;
        var values = labelCol.GetKeyValues();
        if (values is null)
        {
            if (key.Count > 1_000_000) throw new ArgumentOutOfRangeException(nameof(labelCol), $"{source}: label column '{labelCol.Name}' is {key}: too many classes");
            return Enumerable.Range(1, (int)key.Count).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
        }
        if ((ulong)values.Count != key.Count)
            throw new ArgumentOutOfRangeException(nameof(labelCol), $"{source}: label column '{labelCol.Name}' is {key} but has {values.Count} key values");
        var dup = values.GroupBy(v => v, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentOutOfRangeException(nameof(labelCol), $"{source}: label column '{labelCol.Name}' has the key value '{dup.Key}' twice");
        if (values.Any(string.IsNullOrEmpty)) throw new ArgumentOutOfRangeException(nameof(labelCol), $"{source}: label column '{labelCol.Name}' has an empty key value");
        return values.ToArray();
    }

    /// <summary>The type of a key label's key values as the model records it (what <c>MapKeyToValue</c> of the key
    /// <c>PredictedLabel</c> gives), or null for a label that is not a key or a key without key values.</summary>
    internal static string? KeyValueTypeName(DataViewSchema.Column labelCol) =>
        labelCol.Type is KeyDataViewType && labelCol.GetKeyValues() is not null
            ? (labelCol.Annotations.TryGetValue<PrimitiveDataViewType>(DataViewSchema.AnnotationKinds.KeyValueType, out var t) ? t : TextDataViewType.Instance).ToString()
            : null;

    /// <summary>Trains the backbone on <paramref name="input"/> (cancel with <see cref="Fit(IDataView, CancellationToken)"/>).</summary>
    public AttentionBackboneTransformer Fit(IDataView input) => Fit(input, CancellationToken.None);

    /// <summary>Trains the backbone on <paramref name="input"/>; <paramref name="cancellationToken"/> stops it between batches.</summary>
    public AttentionBackboneTransformer Fit(IDataView input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var labelCol = input.Schema[o.LabelColumnName];
        var plan = ResolveTrainingPlan(input, o.FeatureColumnName);
        int seed = o.Seed ?? _env.Seed ?? _env.NextSeed();

        var (train, trainLabels) = ReadDataset(input, plan, labelCol, null, o.OnBadInput, "training");
        var classes = train.ClassNames;
        if (classes.Count < 2) throw new ArgumentException($"{Source}: the label column '{labelCol.Name}' holds a single class ('{classes.FirstOrDefault()}'); a classifier needs at least 2", nameof(input));
        ImageDataset? validation = null;
        if (o.ValidationSet is { } vs)
        {
            var vcol = vs.Schema.GetColumnOrNull(o.LabelColumnName)
                ?? throw new ArgumentOutOfRangeException(nameof(input), $"{Source}: label column '{o.LabelColumnName}' not found in the ValidationSet (columns: {vs.Schema.Describe()})");
            var vplan = ResolveTrainingPlan(vs, o.FeatureColumnName, "ValidationSet");
            validation = ReadDataset(vs, vplan, vcol, classes, o.OnBadInput, "validation").Dataset;
        }
        else if (o.ValidationSetFraction > 0)
        {
            var parts = train.Split(1 - o.ValidationSetFraction, o.ValidationSetFraction, seed, stratified: true);
            train = parts.Train;
            validation = parts.Validation.Count > 0 ? parts.Validation : null;
        }
        if (o.EarlyStoppingCriteria is not null && validation is null)
            throw new ArgumentException($"{Source}: EarlyStoppingCriteria needs validation data: set ValidationSet or ValidationSetFraction", nameof(input));

        var pipeline = plan.ToPipeline();
        var shape = SampleShape(train, pipeline);
        if (shape.C is not (1 or 3))
            throw new ArgumentException($"{Source}: the image pipeline makes {shape.C}-channel pixels; the backbones take 1 (gray) or 3 (RGB): decode with LoadImages(channels: 1 or 3) or ExtractPixels(ColorBits.Rgb)", nameof(input));

        var backbone = new BackboneOptions(classes.Count, shape.C, o.SmallImage, o.WidthMultiplier, o.Attention) { StemStride = o.StemStride };
        TorchRuntime.ManualSeed((ulong)(uint)seed);
        var model = ModelRegistry.Create(_arch, backbone);
        try
        {
            string head = HeadPrefix(model, classes.Count);
            if (o.PretrainedWeightsPath is { } weights) LoadPretrained(model, weights, head);
            if (o.FreezeBackbone)
            {
                model.RequiresGrad(false);
                foreach (var (key, p) in model.NamedParameters())
                    if (key.StartsWith(head + ".", StringComparison.Ordinal)) p.RequiresGrad = true;
            }
            var settings = Settings((ulong)(uint)seed) with { Device = _env.Device };
            var engine = new TrainingEngine(settings);
            engine.Log += (_, line) => _env.WriteLog(Source, line);
            _env.WriteLog(Source, string.Create(CultureInfo.InvariantCulture,
                $"training {_arch} ({model.ParameterCount():N0} parameters, {classes.Count} classes, input {shape.C}x{shape.H}x{shape.W}) on {train.Count} images{(validation is null ? "" : $", validating on {validation.Count}")}, device {settings.Device}"));
            var result = engine.Fit(model, train, validation, pipeline, pipeline, cancellationToken);
            model.Eval();
            var info = new BackboneModelInfo
            {
                Architecture = _arch,
                NumClasses = classes.Count,
                InChannels = shape.C,
                SmallImage = o.SmallImage,
                StemStride = o.StemStride,
                MemoryFormat = o.MemoryFormat,
                WidthMultiplier = o.WidthMultiplier,
                Attention = o.Attention,
                InputShape = new[] { shape.C, shape.H, shape.W },
                Labels = classes.ToArray(),
                LabelType = labelCol.Type.ToString()!,
                KeyValueType = KeyValueTypeName(labelCol),
                LabelColumnName = o.LabelColumnName,
                FeatureColumnName = o.FeatureColumnName,
                ScoreColumnName = o.ScoreColumnName,
                PredictedLabelColumnName = o.PredictedLabelColumnName,
                BatchSize = o.BatchSize,
                Training = Hyperparameters(seed, train.Count, validation?.Count, result),
            };
            return new AttentionBackboneTransformer(_env, info, model, settings.Device, result);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private JsonObject Hyperparameters(int seed, int trainCount, int? validationCount, TrainingResult result)
    {
        var o = _options;
        var s = o.LearningRateScheduler;
        return new JsonObject
        {
            ["batchSize"] = o.BatchSize,
            ["maxEpoch"] = o.MaxEpoch,
            ["learningRate"] = o.LearningRate,
            ["weightDecay"] = o.WeightDecay,
            ["optimizer"] = o.Optimizer.ToString(),
            ["momentum"] = o.Momentum,
            ["nesterov"] = o.Nesterov,
            ["learningRateScheduler"] = s.ToString(),
            ["labelSmoothing"] = o.LabelSmoothing,
            ["gradientClipNorm"] = o.GradientClipNorm,
            ["mixedPrecision"] = o.MixedPrecision.ToString(),
            ["validationSetFraction"] = o.ValidationSetFraction,
            ["earlyStopping"] = o.EarlyStoppingCriteria?.ToString(),
            ["pretrainedWeightsPath"] = o.PretrainedWeightsPath,
            ["freezeBackbone"] = o.FreezeBackbone,
            ["seed"] = seed,
            ["trainImages"] = trainCount,
            ["validationImages"] = validationCount,
            ["epochsTrained"] = result.History.Count,
            ["bestEpoch"] = result.BestEpoch,
            ["stoppedEarly"] = result.StoppedEarly,
            ["final"] = result.Final?.ToString(),
        };
    }

    /// <summary>The plan of the feature column, or an error saying what the column must be.</summary>
    /// <param name="data">The data.</param>
    /// <param name="featureColumn">The feature column's name.</param>
    /// <param name="where">The data named in errors.</param>
    /// <param name="source">What errors name as their source (the trainer, or AutoML's experiment).</param>
    internal static ImagePlan ResolveTrainingPlan(IDataView data, string featureColumn, string where = "the training data", string source = Source)
    {
        var col = data.Schema.GetColumnOrNull(featureColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumn), $"{source}: feature column '{featureColumn}' not found in {where} (columns: {data.Schema.Describe()}); set FeatureColumnName, or make it with LoadImages/ExtractPixels");
        return ImagePlan.Resolve(data, col)
            ?? throw new ArgumentOutOfRangeException(nameof(featureColumn),
                $"{source}: feature column '{featureColumn}' holds {col.Type} that does not come from images; the trainers load, transform and augment the images themselves: " +
                "make the column with LoadImages (then ResizeImages, ExtractPixels, ...) from a column of image paths, bytes or images");
    }

    /// <summary>
    /// Reads the image sources and labels of <paramref name="data"/>: class indices in the data set's own class order
    /// (an image folder's or IDX file's), else sorted labels, or onto <paramref name="classes"/> when given.
    /// </summary>
    internal static (ImageDataset Dataset, string?[] Labels) ReadDataset(IDataView data, ImagePlan plan, DataViewSchema.Column labelCol, IReadOnlyList<string>? classes, BadInputPolicy policy, string what, string source = Source)
    {
        if (!IsLabelType(labelCol.Type))
            throw new ArgumentOutOfRangeException(nameof(data), $"{source}: label column '{labelCol.Name}' must hold text, integers or keys, but it is {labelCol.Type}");
        var readLabel = LabelReader(labelCol, source, out var keyClasses);
        var provided = plan.BaseKind == ImageBaseKind.Image ? (data as IImageSourceProvider)?.GetImageSources(plan.Base) : null;
        var needed = provided is null ? new[] { labelCol, plan.Base } : new[] { labelCol };
        var sources = new List<ImageSource>();
        var labels = new List<string?>();
        using (var cursor = data.GetRowCursor(needed))
        {
            var getLabel = RowAccess.Boxed(cursor, labelCol);
            var getBase = provided is null ? RowAccess.Boxed(cursor, plan.Base) : null;
            while (cursor.MoveNext())
            {
                long row = cursor.Position;
                labels.Add(readLabel(getLabel(), row));
                sources.Add(getBase is null ? plan.Wrap(provided![(int)row]) : plan.Source(getBase(), row));
            }
        }
        if (labels.Count == 0) throw new ArgumentException($"{source}: the {what} data has no rows");
        var present = labels.OfType<string>().ToHashSet(StringComparer.Ordinal);
        // A key label's key order; the data set's own class order when it has one (an IDX file's label order); else sorted values.
        var names = classes?.ToArray() ?? keyClasses?.ToArray()
            ?? ((data as IImageSourceProvider)?.GetClassNames(labelCol) is { } ordered && present.All(ordered.Contains) ? ordered.Where(present.Contains).ToArray() : null)
            ?? SortLabels(present, labelCol.Type);
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var samples = new List<ImageSample>(labels.Count);
        var report = new BadInputReport();
        for (int i = 0; i < labels.Count; i++)
        {
            if (labels[i] is { } text && index.TryGetValue(text, out int l)) { samples.Add(new ImageSample(sources[i], l)); continue; }
            var e = new ImageDataException(sources[i].Name, BadInputKind.UnknownLabel, labels[i] is null
                ? $"{what} label column '{labelCol.Name}' holds the missing key 0 in row {i} (a value MapValueToKey's dictionary does not hold, or an empty one)"
                : $"{what} label '{labels[i]}' (row {i}) is not one of the {names.Length} training classes ({string.Join(", ", names.Take(12))}{(names.Length > 12 ? ", ..." : "")})");
            if (policy == BadInputPolicy.Throw) throw e;
            report.Add(e);
        }
        if (samples.Count == 0) throw new ArgumentException($"{source}: no {what} row has a training class", nameof(data));
        return (new ImageDataset(samples, names, report), labels.ToArray());
    }

    internal static string LabelText(object? value, string column, long row) => value switch
    {
        string s when s.Length > 0 => s,
        string => throw new InvalidOperationException($"{Source}: label column '{column}' is empty in row {row}"),
        null => throw new InvalidOperationException($"{Source}: label column '{column}' is missing (null) in row {row}"),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    private static string[] SortLabels(IEnumerable<string> labels, DataViewType type) => type is NumberDataViewType
        ? labels.OrderBy(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray()
        : labels.OrderBy(s => s, StringComparer.Ordinal).ToArray();

    /// <summary>(C, H, W) of the first image that loads, through the evaluation pipeline.</summary>
    internal static (int C, int H, int W) SampleShape(ImageDataset data, ImagePipeline pipeline)
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

    /// <summary>The module name of the classifier: the last linear layer with one output per class.</summary>
    internal static string HeadPrefix(Module model, int classes) =>
        model.NamedModules().LastOrDefault(m => m.Value is Linear l && l.Weight.Shape[0] == classes).Key
        ?? throw new InvalidOperationException($"the model has no linear layer with {classes} outputs to serve as the classifier head");

    /// <summary>Loads pretrained weights; only the classifier head may be missing or of another class count (it then keeps its fresh initialisation).</summary>
    private void LoadPretrained(Module model, string path, string head)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{Source}: PretrainedWeightsPath '{path}' does not exist", path);
        var report = model.LoadWeights(path, strict: false);
        bool IsHead(string key) => key.StartsWith(head + ".", StringComparison.Ordinal);
        var problems = report.MissingKeys.Where(k => !IsHead(k)).Select(k => $"missing {k}")
            .Concat(report.UnexpectedKeys.Where(k => !IsHead(k)).Select(k => $"unexpected {k}"))
            .Concat(report.ShapeMismatches.Where(m => !IsHead(m.Key)).Select(m => $"shape of {m}")).ToList();
        if (problems.Count > 0)
            throw new InvalidOperationException($"{Source}: pretrained weights '{path}' do not fit {_arch} (with these options): {string.Join("; ", problems.Take(10))}{(problems.Count > 10 ? $"; ... ({problems.Count} in all)" : "")}");
        var reset = report.ShapeMismatches.Select(m => m.Key).Concat(report.MissingKeys).Where(IsHead).ToList();
        _env.WriteLog(Source, reset.Count == 0
            ? $"loaded pretrained weights from '{path}'"
            : $"loaded pretrained weights from '{path}'; the classifier head '{head}' was re-initialised ({string.Join(", ", reset)}) for this data's classes");
    }
}

/// <summary>What a trained backbone transformer is, as written to the manifest.</summary>
internal sealed record BackboneModelInfo
{
    public required string Architecture { get; init; }
    public required int NumClasses { get; init; }
    public required int InChannels { get; init; }
    public bool SmallImage { get; init; }
    public int StemStride { get; init; }
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.Contiguous;
    public double WidthMultiplier { get; init; } = 1.0;
    public string? Attention { get; init; }
    public required int[] InputShape { get; init; }
    public required string[] Labels { get; init; }
    public required string LabelType { get; init; }
    /// <summary>For a key label with key values: their type (what MapKeyToValue of the key PredictedLabel gives); else null.</summary>
    public string? KeyValueType { get; init; }
    public required string LabelColumnName { get; init; }
    public required string FeatureColumnName { get; init; }
    public required string ScoreColumnName { get; init; }
    public required string PredictedLabelColumnName { get; init; }
    public int BatchSize { get; init; } = 32;
    public JsonObject? Training { get; init; }

    public BackboneOptions Backbone => new(NumClasses, InChannels, SmallImage, WidthMultiplier, Attention) { StemStride = StemStride };
}

/// <summary>
/// A trained backbone: adds <c>Score</c> (class probabilities) and <c>PredictedLabel</c> (the original label value) to
/// a view. Scoring is lazy and batched: a cursor reads a batch of rows ahead, decodes and transforms their images in
/// parallel (the chain's image transforms, in evaluation mode), runs one forward pass, and serves the rows.
/// </summary>
public sealed class AttentionBackboneTransformer : ITransformer, ISavableTransformer, IDisposable
{
    internal const string Kind = "AttentionBackbone";
    private readonly MLContext _env;
    private readonly object[] _labelValues;

    internal AttentionBackboneTransformer(MLContext env, BackboneModelInfo info, Module<Tensor, Tensor> model, Device device, TrainingResult? result)
    {
        _env = env; Info = info; Model = model; Device = device; TrainingResult = result;
        LabelType = ModelJson.ReadType(new JsonObject { ["type"] = info.LabelType });
        if (!AttentionBackboneTrainer.IsLabelType(LabelType)) throw new ArgumentException($"label type {LabelType} is not text, an integer type or a key");
        if (info.Labels.Length != info.NumClasses) throw new ArgumentException($"{info.Labels.Length} labels for {info.NumClasses} classes");
        if (LabelType is KeyDataViewType key)
        {
            if (key.Count != (ulong)info.NumClasses) throw new ArgumentException($"the label type {key} does not have the model's {info.NumClasses} classes");
            _labelValues = Enumerable.Range(1, info.NumClasses).Select(k => (object)(uint)k).ToArray();
            if (info.KeyValueType is { } kvt)
            {
                KeyValueType = ModelJson.ReadType(new JsonObject { ["type"] = kvt }) as PrimitiveDataViewType;
                if (KeyValueType is null || !KeyValueCodec.IsValueType(KeyValueType)) throw new ArgumentException($"key value type {kvt} is not text, a number or boolean");
                foreach (var l in info.Labels) KeyValueCodec.Parse(l, KeyValueType);
            }
        }
        else
        {
            if (info.KeyValueType is not null) throw new ArgumentException($"a key value type ({info.KeyValueType}) for a label of {LabelType}, which is not a key");
            _labelValues = info.Labels.Select(l => ParseLabel(l, LabelType)).ToArray();
        }
        ScoreType = new VectorDataViewType(NumberDataViewType.Single, info.NumClasses);
    }

    internal BackboneModelInfo Info { get; }
    internal Module<Tensor, Tensor> Model { get; }
    internal Device Device { get; }

    /// <summary>The registry name of the backbone.</summary>
    public string Architecture => Info.Architecture;

    /// <summary>The class names (label values as text), in score order.</summary>
    public IReadOnlyList<string> Labels => Info.Labels;

    /// <summary>The type of the label column it was trained on (and of <c>PredictedLabel</c>): text, an integer type, or a key
    /// (<see cref="KeyDataViewType"/>; then <c>PredictedLabel</c> is that key, class index + 1).</summary>
    public DataViewType LabelType { get; }

    /// <summary>The type of the key values of a key label (what <c>MapKeyToValue</c> of <c>PredictedLabel</c> gives), or null.</summary>
    internal PrimitiveDataViewType? KeyValueType { get; }

    /// <summary>The (channels, height, width) of the pixels the model takes.</summary>
    public (int Channels, int Height, int Width) InputShape => (Info.InputShape[0], Info.InputShape[1], Info.InputShape[2]);

    /// <summary>The feature column read.</summary>
    public string FeatureColumnName => Info.FeatureColumnName;
    /// <summary>The probabilities column written.</summary>
    public string ScoreColumnName => Info.ScoreColumnName;
    /// <summary>The predicted label column written.</summary>
    public string PredictedLabelColumnName => Info.PredictedLabelColumnName;

    /// <summary>What training did (epochs, metrics, early stopping); null for a model loaded from a file.</summary>
    public TrainingResult? TrainingResult { get; }

    /// <summary>The model's parameter count (every weight, trainable or not).</summary>
    public long ParameterCount => Model.ParameterCount();

    internal VectorDataViewType ScoreType { get; }

    private long _forwardPasses;

    /// <summary>Forward passes run by scoring so far (each scores a batch).</summary>
    internal long ForwardPasses => Interlocked.Read(ref _forwardPasses);

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    private static object ParseLabel(string text, DataViewType type) => type.RawType switch
    {
        var t when t == typeof(string) => text,
        var t when t == typeof(int) => int.Parse(text, CultureInfo.InvariantCulture),
        var t when t == typeof(long) => long.Parse(text, CultureInfo.InvariantCulture),
        var t when t == typeof(uint) => uint.Parse(text, CultureInfo.InvariantCulture),
        var t when t == typeof(byte) => byte.Parse(text, CultureInfo.InvariantCulture),
        var t when t == typeof(bool) => bool.Parse(text),
        _ => throw new NotSupportedException($"label type {type}"),
    };

    internal object LabelValue(int index) => _labelValues[index];

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        CheckFeature(inputSchema);
        return OutputSchema(inputSchema);
    }

    internal DataViewSchema OutputSchema(DataViewSchema inputSchema) => new DataViewSchema.Builder()
        .AddColumns(inputSchema)
        .AddColumn(ScoreColumnName, ScoreType, new Dictionary<string, object> { [DataViewSchema.AnnotationKinds.SlotNames] = Info.Labels.ToArray() })
        .AddColumn(PredictedLabelColumnName, LabelType, PredictedLabelAnnotations())
        .ToSchema();

    /// <summary>The class names as KeyValues; for a key label, with their type, and none when the trained key had no key values.</summary>
    private Dictionary<string, object>? PredictedLabelAnnotations() => LabelType is not KeyDataViewType
        ? new Dictionary<string, object> { [DataViewSchema.AnnotationKinds.KeyValues] = Info.Labels.ToArray() }
        : KeyValueType is null ? null
        : new Dictionary<string, object> { [DataViewSchema.AnnotationKinds.KeyValues] = Info.Labels.ToArray(), [DataViewSchema.AnnotationKinds.KeyValueType] = KeyValueType };

    internal DataViewSchema.Column CheckFeature(DataViewSchema schema)
    {
        var col = schema.GetColumnOrNull(FeatureColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{Architecture}: feature column '{FeatureColumnName}' not found (columns: {schema.Describe()})");
        var t = col.Type;
        int size = Info.InputShape[0] * Info.InputShape[1] * Info.InputShape[2];
        bool ok = t is ImageDataViewType or TextDataViewType
            || t is VectorDataViewType { ItemType: var it } v && (it == NumberDataViewType.Byte || it == NumberDataViewType.Single && (!v.IsKnownSize || v.Size == size));
        if (!ok)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{Architecture}: feature column '{FeatureColumnName}' is {t}; the model takes Vector<Single, {string.Join(", ", Info.InputShape)}> pixels (or the images they come from)");
        return col;
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var col = CheckFeature(input.Schema);
        return new ScoringDataView(input, this, col);
    }

    /// <summary>Frees the model's tensors.</summary>
    public void Dispose() => Model.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"{Architecture}({Info.NumClasses} classes: {FeatureColumnName} -> {ScoreColumnName}, {PredictedLabelColumnName})";

    /// <summary>Class probabilities of <paramref name="n"/> images (N × C × H × W floats in <paramref name="pixels"/>) into <paramref name="probabilities"/>.</summary>
    internal void Score(float[] pixels, int n, Span<float> probabilities)
    {
        Interlocked.Increment(ref _forwardPasses);
        var (c, h, w) = InputShape;
        using var scope = Tensor.NewDisposeScope();
        using var inference = TorchRuntime.InferenceMode();
        var x = Tensor.FromArray<float>(pixels.AsSpan(0, n * c * h * w), new long[] { n, c, h, w });
        if (Device != Torch.Device.Cpu) x = x.To(Device);
        if (Info.MemoryFormat != MemoryFormat.Contiguous) x = x.Contiguous(Info.MemoryFormat);
        var p = Functional.Softmax(Model.Forward(x), 1);
        if (p.Device != Torch.Device.Cpu) p = p.Cpu();
        p.CopyTo<float>(probabilities[..(n * Info.NumClasses)]);
    }

    JsonObject ISavableTransformer.Save(ModelSaveContext context)
    {
        var state = Model.StateDict().Select(p => new KeyValuePair<string, RawTensor>(p.Key, p.Value.ToRaw())).ToList();
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, state, new Dictionary<string, string> { ["architecture"] = Architecture, ["format"] = "pt" });
        string entry = context.AddEntry("weights", "safetensors", ms.ToArray());
        var info = JsonSerializer.SerializeToNode(Info, ModelJson.Options)!.AsObject();
        context.Models.Add(new JsonObject
        {
            ["architecture"] = Architecture,
            ["description"] = ModelRegistry.Get(Architecture).Description,
            ["parameters"] = Model.ParameterCount(),
            ["inputShape"] = new JsonArray(Info.InputShape.Select(d => (JsonNode)d).ToArray()),
            ["labels"] = new JsonArray(Info.Labels.Select(l => (JsonNode)l).ToArray()),
            ["weights"] = entry,
        });
        return new JsonObject { ["kind"] = Kind, ["weights"] = entry, ["model"] = info };
    }

    internal static AttentionBackboneTransformer Load(JsonObject json, ModelLoadContext context)
    {
        var info = context.Read(() => json["model"].Deserialize<BackboneModelInfo>(ModelJson.Options), "the model description")
                   ?? throw context.Error("the model description is missing");
        string entry = context.String(json, "weights");
        var bytes = context.Entry(entry);
        Module<Tensor, Tensor>? model = null;
        try
        {
            model = context.Read(() => ModelRegistry.Create(info.Architecture, info.Backbone), "the architecture");
            var tensors = new List<KeyValuePair<string, Tensor>>();
            try
            {
                using var ms = new MemoryStream(bytes, writable: false);
                foreach (var (k, v) in SafeTensors.Read(ms)) tensors.Add(new(k, v.ToTensor().DetachFromDisposeScope()));
                model.LoadStateDict(tensors, strict: true);
                model.ToMemoryFormat(info.MemoryFormat);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or ArgumentException)
            {
                throw context.Error($"the weights in '{entry}' do not fit {info.Architecture}: {e.Message}", e);
            }
            finally
            {
                foreach (var (_, t) in tensors) t.Dispose();
            }
            model.Eval();
            var device = context.Environment.Device;
            if (device != Torch.Device.Cpu) model.To(device);
            return context.Read(() => new AttentionBackboneTransformer(context.Environment, info, model, device, null), "the model description");
        }
        catch
        {
            model?.Dispose();
            throw;
        }
    }
}
