using MLNet.Attention.Torch;

namespace MLNet.Attention;

/// <summary>
/// The starting point (ML.NET's <c>MLContext</c>): catalogs of data loaders, transforms, trainers, evaluation and
/// model I/O, the random seed every component defaults to, the device to train on, and a <see cref="Log"/> event.
/// </summary>
/// <example>
/// <code>
/// var ml = new MLContext(seed: 1);
/// var data = ml.Data.LoadFromImageFolder("images/train");
/// var pipeline = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath")
///     .Append(ml.Transforms.ResizeImages("Image", 64, 64))
///     .Append(ml.Transforms.ExtractPixels("Features", "Image"))
///     .Append(ml.MulticlassClassification.Trainers.SeResNet());
/// var model = pipeline.Fit(data);
/// </code>
/// </example>
public sealed class MLContext
{
    private readonly object _randomLock = new();
    private readonly Random _random;

    /// <summary>A context; <paramref name="seed"/> makes every seeded component (splits, shuffles, weight initialisation,
    /// augmentation) deterministic. Null: a random seed.</summary>
    public MLContext(int? seed = null)
    {
        Seed = seed;
        _random = seed is { } s ? new Random(s) : new Random();
        Data = new DataOperationsCatalog(this);
        Transforms = new TransformsCatalog(this);
        MulticlassClassification = new MulticlassClassificationCatalog(this);
        Model = new ModelOperationsCatalog(this);
    }

    /// <summary>The seed given to the constructor.</summary>
    public int? Seed { get; }

    /// <summary>Loading, splitting and reading data.</summary>
    public DataOperationsCatalog Data { get; }

    /// <summary>Image transforms.</summary>
    public TransformsCatalog Transforms { get; }

    /// <summary>Multiclass trainers and evaluation.</summary>
    public MulticlassClassificationCatalog MulticlassClassification { get; }

    /// <summary>Saving, loading and serving models.</summary>
    public ModelOperationsCatalog Model { get; }

    /// <summary>The CUDA device to train and score on (null: the first GPU when there is one, else the CPU; -1: the CPU even where a GPU exists).</summary>
    public int? GpuDeviceId { get; set; }

    /// <summary>Use the CPU when <see cref="GpuDeviceId"/> names a GPU that is not there (default true); false makes that an error.</summary>
    public bool FallbackToCpu { get; set; } = true;

    /// <summary>Progress and diagnostics: per-epoch metrics while training, what was loaded, skipped inputs.</summary>
    public event EventHandler<LoggingEventArgs>? Log;

    /// <summary>The device <see cref="GpuDeviceId"/> and <see cref="FallbackToCpu"/> select.</summary>
    public Device Device => Device.Resolve(GpuDeviceId, FallbackToCpu);

    /// <summary>A seed for a component without its own: the context's seed sequence (deterministic for a seeded context).</summary>
    internal int NextSeed()
    {
        lock (_randomLock) return _random.Next();
    }

    internal void WriteLog(string source, string message, LogKind kind = LogKind.Info) =>
        Log?.Invoke(this, new LoggingEventArgs(message, kind, source));
}

/// <summary>The kind of a log message (ML.NET's <c>ChannelMessageKind</c>).</summary>
public enum LogKind
{
    /// <summary>Detailed tracing.</summary>
    Trace,
    /// <summary>Progress and results.</summary>
    Info,
    /// <summary>Something the user may want to fix.</summary>
    Warning,
    /// <summary>A failure.</summary>
    Error,
}

/// <summary>One message of <see cref="MLContext.Log"/> (ML.NET's <c>LoggingEventArgs</c>).</summary>
public sealed class LoggingEventArgs : EventArgs
{
    /// <summary>A message from <paramref name="source"/>.</summary>
    public LoggingEventArgs(string message, LogKind kind, string source)
    {
        Message = message; Kind = kind; Source = source;
    }

    /// <summary>The message.</summary>
    public string Message { get; }

    /// <summary>The kind.</summary>
    public LogKind Kind { get; }

    /// <summary>The component that wrote it.</summary>
    public string Source { get; }

    /// <summary>The message prefixed with its source and kind, as ML.NET prints it ("[Source=..., Kind=Info] ...").</summary>
    public override string ToString() => $"[Source={Source}, Kind={Kind}] {Message}";
}

/// <summary>Column names ML.NET uses by default.</summary>
public static class DefaultColumnNames
{
    /// <summary>"Label".</summary>
    public const string Label = "Label";
    /// <summary>"Features".</summary>
    public const string Features = "Features";
    /// <summary>"Score".</summary>
    public const string Score = "Score";
    /// <summary>"PredictedLabel".</summary>
    public const string PredictedLabel = "PredictedLabel";
}
