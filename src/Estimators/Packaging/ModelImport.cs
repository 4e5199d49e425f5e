using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>
/// A backbone with weights trained elsewhere — a PyTorch <c>torch.save</c> checkpoint (<c>.pth</c>/<c>.pt</c>) or a
/// safetensors file whose keys are the reference implementation's — as a ready classifier, without training: append it
/// to the image transforms the weights were trained with, <c>Fit</c> (which learns nothing; it loads and checks the
/// weights), and save the result with <c>Model.Save</c>. Made by <see cref="ModelImportCatalog.ImportBackbone"/>.
/// </summary>
public sealed class BackboneImportEstimator : IEstimator<AttentionBackboneTransformer>
{
    private const string Source = nameof(BackboneImportEstimator);
    private readonly MLContext _env;
    private readonly Options _options;

    /// <summary>What to import: the architecture and its options, the weights, the class names and the input the model takes.</summary>
    public sealed class Options
    {
        /// <summary>The backbone: a <see cref="ModelRegistry"/> name ("resnet50", "epsanet50", ...). Required.</summary>
        public string Arch = "";
        /// <summary>The weights: a <c>torch.save</c> state dict (<c>.pth</c>/<c>.pt</c>, a <c>module.</c> prefix is stripped) or a safetensors file. Required.</summary>
        public string WeightsPath = "";
        /// <summary>The class names in the order of the classifier's outputs; their count must equal the checkpoint's head. Required.</summary>
        public IReadOnlyList<string> Labels = Array.Empty<string>();
        /// <summary>Channels of the pixels the model takes: 3 (RGB, default) or 1 (gray).</summary>
        public int ImageChannels = 3;
        /// <summary>Height of the pixels the model takes (default 224).</summary>
        public int ImageHeight = 224;
        /// <summary>Width of the pixels the model takes (default 224).</summary>
        public int ImageWidth = 224;
        /// <summary>The small-image form the weights were trained in (a stride-1 stem without max-pool).</summary>
        public bool SmallImage;
        /// <summary>The width multiplier the weights were trained at (default 1).</summary>
        public double WidthMultiplier = 1.0;
        /// <summary>The attention layer, for families that take one (null: the model's own).</summary>
        public string? Attention;
        /// <summary>The image feature column (default "Features").</summary>
        public string FeatureColumnName = DefaultColumnNames.Features;
        /// <summary>The label column name recorded in the model (default "Label"; predictions use it only for evaluation).</summary>
        public string LabelColumnName = DefaultColumnNames.Label;
        /// <summary>The output column of class probabilities (default "Score").</summary>
        public string ScoreColumnName = DefaultColumnNames.Score;
        /// <summary>The output column of the predicted label (default "PredictedLabel").</summary>
        public string PredictedLabelColumnName = DefaultColumnNames.PredictedLabel;
        /// <summary>Images per forward pass when scoring (default 32).</summary>
        public int BatchSize = 32;
    }

    internal BackboneImportEstimator(MLContext env, Options options)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        _env = env;
        _options = options;
        if (string.IsNullOrEmpty(options.Arch))
            throw new ArgumentException($"{Source}: Options.Arch must name the model: one of {string.Join(", ", ModelRegistry.All.Select(m => m.Name))}", nameof(options));
        ModelRegistry.Get(options.Arch);
        if (string.IsNullOrEmpty(options.WeightsPath)) throw new ArgumentException($"{Source}: Options.WeightsPath must name a .pth, .pt or .safetensors file", nameof(options));
        ArgumentNullException.ThrowIfNull(options.Labels, nameof(options.Labels));
        if (options.Labels.Count < 2) throw new ArgumentException($"{Source}: Options.Labels holds {options.Labels.Count} class name(s); a classifier has at least 2", nameof(options));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.Labels.Count; i++)
            if (string.IsNullOrEmpty(options.Labels[i]) || !seen.Add(options.Labels[i]))
                throw new ArgumentException($"{Source}: Options.Labels has an empty or repeated class name ('{options.Labels[i]}' at {i})", nameof(options));
        if (options.ImageHeight < 1 || options.ImageWidth < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"{Source}: ImageHeight and ImageWidth must be >= 1 (got {options.ImageHeight}x{options.ImageWidth})");
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, $"{Source}: BatchSize must be >= 1");
        foreach (var (name, value) in new[] { ("LabelColumnName", options.LabelColumnName), ("FeatureColumnName", options.FeatureColumnName), ("ScoreColumnName", options.ScoreColumnName), ("PredictedLabelColumnName", options.PredictedLabelColumnName) })
            if (string.IsNullOrEmpty(value)) throw new ArgumentException($"{Source}: {name} must name a column", nameof(options));
        if (options.ScoreColumnName == options.PredictedLabelColumnName)
            throw new ArgumentException($"{Source}: ScoreColumnName and PredictedLabelColumnName are both '{options.ScoreColumnName}'", nameof(options));
        Backbone.Validate();
    }

    private BackboneOptions Backbone => new(_options.Labels.Count, _options.ImageChannels, _options.SmallImage, _options.WidthMultiplier, _options.Attention);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (!inputSchema.TryFindColumn(_options.FeatureColumnName, out _))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: feature column '{_options.FeatureColumnName}' not found (columns: {inputSchema}); make it with LoadImages/ResizeImages/ExtractPixels");
        return inputSchema.With(
            new SchemaShape.Column(_options.ScoreColumnName, SchemaShape.VectorKind.Vector, NumberDataViewType.Single),
            new SchemaShape.Column(_options.PredictedLabelColumnName, SchemaShape.VectorKind.Scalar, TextDataViewType.Instance));
    }

    /// <summary>
    /// Loads the weights into the architecture (every tensor must fit: a missing, unexpected or differently shaped tensor is an
    /// <see cref="InvalidDataException"/> naming the file and the tensors) and checks that the image transforms before it make
    /// pixels of the declared shape. <paramref name="input"/> may be empty: only its schema (and the transforms that made it) is read.
    /// </summary>
    public AttentionBackboneTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var shape = new[] { o.ImageChannels, o.ImageHeight, o.ImageWidth };
        CheckFeatureShape(input, shape);
        string path = o.WeightsPath;
        if (!File.Exists(path)) throw new FileNotFoundException($"{Source}: weights file '{path}' does not exist", path);
        var model = ModelRegistry.Create(o.Arch, Backbone);
        try
        {
            LoadReport report;
            try
            {
                report = model.LoadWeights(path, strict: false);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or TorchException)
            {
                throw new InvalidDataException($"weights file '{path}': {e.Message}", e);
            }
            if (!report.IsClean)
            {
                string head = AttentionBackboneTrainer.HeadPrefix(model, o.Labels.Count);
                var headMismatch = report.ShapeMismatches.FirstOrDefault(m => m.Key.StartsWith(head + ".", StringComparison.Ordinal));
                string hint = headMismatch is not null
                    ? $" (the classifier '{head}' of the checkpoint has another class count than the {o.Labels.Count} labels given: {headMismatch})"
                    : "; check the architecture, width multiplier, small-image form and attention layer";
                throw new InvalidDataException(
                    $"weights file '{path}' does not fit {o.Arch} ({Describe(Backbone)}){hint}: {Summary(report)}");
            }
            model.Eval();
            var device = _env.Device;
            if (device != Device.Cpu) model.To(device);
            var info = new BackboneModelInfo
            {
                Architecture = o.Arch,
                NumClasses = o.Labels.Count,
                InChannels = o.ImageChannels,
                SmallImage = o.SmallImage,
                WidthMultiplier = o.WidthMultiplier,
                Attention = o.Attention,
                InputShape = shape,
                Labels = o.Labels.ToArray(),
                LabelType = TextDataViewType.Instance.ToString()!,
                LabelColumnName = o.LabelColumnName,
                FeatureColumnName = o.FeatureColumnName,
                ScoreColumnName = o.ScoreColumnName,
                PredictedLabelColumnName = o.PredictedLabelColumnName,
                BatchSize = o.BatchSize,
                Training = new JsonObject
                {
                    ["importedFrom"] = Path.GetFileName(path),
                    ["importedSha256"] = Sha256(path),
                },
            };
            _env.WriteLog(Source, string.Create(CultureInfo.InvariantCulture,
                $"imported {o.Arch} ({model.ParameterCount():N0} parameters, {o.Labels.Count} classes, input {shape[0]}x{shape[1]}x{shape[2]}) from '{path}'"));
            return new AttentionBackboneTransformer(_env, info, model, device, null);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The feature column's declared size, and what the image transforms make of an image, must be the model's input.</summary>
    private void CheckFeatureShape(IDataView input, int[] shape)
    {
        var col = input.Schema[_options.FeatureColumnName];
        int size = shape[0] * shape[1] * shape[2];
        if (col.Type is VectorDataViewType { IsKnownSize: true } v && v.ItemType == NumberDataViewType.Single && v.Size != size)
            throw new ArgumentOutOfRangeException(nameof(input), $"{Source}: feature column '{col.Name}' holds {v.Size} values per row; the model takes {string.Join("x", shape)} = {size}");
        if (ImagePlan.Resolve(input, col) is not { } plan) return;
        int channels = plan.Channels == 0 ? shape[0] : plan.Channels;
        // A probe image of another size shows whether the transforms fix the size the model takes.
        int ph = shape[1] + 7, pw = shape[2] + 5;
        var probe = new ImageData(pw, ph, channels, new byte[ph * pw * channels]);
        var f = plan.ToPipeline().Run(probe);
        if (f.Channels != shape[0] || f.Height != shape[1] || f.Width != shape[2])
            throw new ArgumentOutOfRangeException(nameof(input),
                $"{Source}: the image transforms of '{col.Name}' turn a {ph}x{pw} image into {f.Channels}x{f.Height}x{f.Width} pixels; the model takes {string.Join("x", shape)}: resize (ResizeImages) and decode with {shape[0]} channel(s)");
    }

    private static string Describe(BackboneOptions b) => string.Create(CultureInfo.InvariantCulture,
        $"{b.NumClasses} classes, {b.InChannels} input channels, width {b.WidthMultiplier}{(b.SmallImage ? ", small-image form" : "")}{(b.Attention is null ? "" : $", attention {b.Attention}")}");

    private static string Summary(LoadReport r)
    {
        var parts = r.MissingKeys.Select(k => $"missing {k}")
            .Concat(r.UnexpectedKeys.Select(k => $"unexpected {k}"))
            .Concat(r.ShapeMismatches.Select(m => $"shape of {m}")).ToList();
        return string.Join("; ", parts.Take(10)) + (parts.Count > 10 ? $"; ... ({parts.Count} in all)" : "");
    }

    private static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}

/// <summary>Importing weights trained elsewhere as a trained classifier (<see cref="BackboneImportEstimator"/>).</summary>
public static class ModelImportCatalog
{
    /// <summary>
    /// A backbone with weights from a PyTorch checkpoint or a safetensors file as a trained classifier, without training:
    /// <c>ml.Transforms.LoadImages(...).Append(ResizeImages(...)).Append(ExtractPixels(...)).Append(NormalizeImage(...))
    /// .Append(ml.MulticlassClassification.Trainers.ImportBackbone(options))</c>, then <c>Fit</c> on the (possibly empty)
    /// data view of image paths and <c>Model.Save</c>.
    /// </summary>
    public static BackboneImportEstimator ImportBackbone(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, BackboneImportEstimator.Options options) =>
        new((catalog ?? throw new ArgumentNullException(nameof(catalog))).Environment, options);
}
