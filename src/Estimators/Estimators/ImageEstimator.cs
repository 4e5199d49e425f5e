using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;
using MLNet.Attention.Packaging;

namespace MLNet.Attention.Estimators;

/// <summary>
/// The estimator of every image transform of the catalog (<c>LoadImages</c>, <c>ResizeImages</c>, <c>ExtractPixels</c>,
/// <c>NormalizeImage</c>, the augmentations, ...): one column in, one column out, through one image operation. Fitting
/// learns nothing; it checks the input column. See <see cref="ImageTransformer"/>.
/// </summary>
public sealed class ImageEstimator : IEstimator<ImageTransformer>
{
    private readonly ImageTransformer _transformer;

    internal ImageEstimator(string outputColumnName, string? inputColumnName, ImageStep step)
    {
        _transformer = new ImageTransformer(outputColumnName, inputColumnName, step);
    }

    /// <summary>The column written.</summary>
    public string OutputColumnName => _transformer.OutputColumnName;

    /// <summary>The column read.</summary>
    public string InputColumnName => _transformer.InputColumnName;

    /// <summary>Checks the input column and returns the transformer.</summary>
    public ImageTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _transformer.GetOutputSchema(input.Schema);
        return _transformer;
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (!inputSchema.TryFindColumn(InputColumnName, out var col))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{_transformer.Step.Name}: input column '{InputColumnName}' not found (columns: {inputSchema})");
        var step = _transformer.Step;
        if (step is PixelTransformStep)
        {
            if (col.Kind == SchemaShape.VectorKind.Scalar || col.ItemType != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{step.Name}: column '{InputColumnName}' must be a vector of Single (from ExtractPixels), but it is {col}");
            return inputSchema.With(col with { Name = OutputColumnName });
        }
        var output = step.OutputType(col.Kind == SchemaShape.VectorKind.Scalar ? col.ItemType : new VectorDataViewType((PrimitiveDataViewType)col.ItemType), InputColumnName);
        return inputSchema.With(SchemaShape.Of(OutputColumnName, output));
    }

    /// <inheritdoc/>
    public override string ToString() => _transformer.ToString();
}

/// <summary>
/// A fitted image transform: writes <see cref="OutputColumnName"/> computed from <see cref="InputColumnName"/> row by
/// row, lazily. Random augmentations are the identity here (or their deterministic central form, for random crops):
/// they only change images inside a trainer's <c>Fit</c>, which reads the whole chain of image transforms and runs it
/// on its batch loader's worker threads.
/// </summary>
public sealed class ImageTransformer : ITransformer, ISavableTransformer
{
    internal const string Kind = "ImageTransform";

    internal ImageTransformer(string outputColumnName, string? inputColumnName, ImageStep step)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputColumnName);
        ArgumentNullException.ThrowIfNull(step);
        if (inputColumnName is not null) ArgumentException.ThrowIfNullOrEmpty(inputColumnName);
        step.Validate();
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName ?? outputColumnName;
        Step = step;
    }

    /// <summary>The column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The column read.</summary>
    public string InputColumnName { get; }

    /// <summary>The operation's catalog name ("ResizeImages", ...).</summary>
    public string OperationName => Step.Name;

    /// <summary>True for training augmentations (random crops, flips, colour jitter, random erasing).</summary>
    public bool IsAugmentation => Step.IsAugmentation;

    internal ImageStep Step { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var (_, type) = Bind(inputSchema);
        return new DataViewSchema.Builder().AddColumns(inputSchema).AddColumn(OutputColumnName, type).ToSchema();
    }

    private (DataViewSchema.Column Input, DataViewType Output) Bind(DataViewSchema schema)
    {
        var col = schema.GetColumnOrNull(InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{Step.Name}: input column '{InputColumnName}' not found (columns: {schema.Describe()})");
        return (col, Step.OutputType(col.Type, InputColumnName));
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (col, type) = Bind(input.Schema);
        return new MappedDataView(input, new Mapper(this, col, type));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Step.Name}({OutputColumnName} <- {InputColumnName})";

    JsonObject ISavableTransformer.Save(ModelSaveContext context) => new()
    {
        ["kind"] = Kind,
        ["outputColumnName"] = OutputColumnName,
        ["inputColumnName"] = InputColumnName,
        ["step"] = JsonSerializer.SerializeToNode(Step, ModelJson.Options),
    };

    internal static ImageTransformer Load(JsonObject json, ModelLoadContext context)
    {
        var step = context.Read(() => json["step"].Deserialize<ImageStep>(ModelJson.Options), "image transform step");
        return new ImageTransformer(context.String(json, "outputColumnName"), context.String(json, "inputColumnName"), step!);
    }

    /// <summary>A view's column reached through image transforms: the transformer and the view it was applied to.</summary>
    internal sealed class Mapper : ColumnMapper
    {
        public ImageTransformer Transformer { get; }
        public DataViewSchema.Column Input { get; }
        public DataViewType OutputType { get; }

        public Mapper(ImageTransformer transformer, DataViewSchema.Column input, DataViewType outputType)
        {
            Transformer = transformer; Input = input; OutputType = outputType;
        }

        public override IReadOnlyList<(string Name, DataViewType Type, IReadOnlyDictionary<string, object>? Annotations)> OutputColumns =>
            new[] { (Transformer.OutputColumnName, OutputType, (IReadOnlyDictionary<string, object>?)null) };

        public override IEnumerable<DataViewSchema.Column> Dependencies(IReadOnlyList<int> activeOutputs) =>
            activeOutputs.Count > 0 ? new[] { Input } : Array.Empty<DataViewSchema.Column>();

        public override Func<object?> MakeGetter(int output, DataViewRow input)
        {
            var get = RowAccess.Boxed(input, Input);
            var step = Transformer.Step;
            string name = Input.Name;
            var type = Input.Type;
            return () =>
            {
                var v = get() ?? throw new InvalidOperationException($"{step.Name}: column '{name}' is empty (null) in row {input.Position}");
                return step.Apply(v, type, name);
            };
        }
    }
}
