using System.Collections.Concurrent;
using MLNet.Attention.Data;
using MLNet.Attention.Packaging;

namespace MLNet.Attention;

/// <summary>Saving and loading models as one <c>.zip</c>, and prediction engines (ML.NET's <c>ModelOperationsCatalog</c>).</summary>
public sealed class ModelOperationsCatalog
{
    private readonly MLContext _env;

    internal ModelOperationsCatalog(MLContext env) => _env = env;

    /// <summary>
    /// Saves <paramref name="model"/> (a fitted pipeline) and the schema of the data it takes to <paramref name="filePath"/>:
    /// one .zip holding manifest.json (format and package versions, architecture, hyperparameters, label names, every
    /// transform of the pipeline, the input schema), the weights as safetensors, and SHA-256 checksums. Written to a
    /// temporary file that then replaces <paramref name="filePath"/>: a failure leaves an existing file intact.
    /// </summary>
    public void Save(ITransformer model, DataViewSchema? inputSchema, string filePath)
    {
        ModelPackage.Save(model, inputSchema, filePath);
        _env.WriteLog(nameof(ModelOperationsCatalog), $"saved the model to '{filePath}'");
    }

    /// <summary>Saves to a stream (see <see cref="Save(ITransformer, DataViewSchema?, string)"/>); the stream is left open.</summary>
    public void Save(ITransformer model, DataViewSchema? inputSchema, Stream stream) => ModelPackage.Save(model, inputSchema, stream);

    /// <summary>
    /// Loads a model saved by <see cref="Save(ITransformer, DataViewSchema?, string)"/>, rebuilding the whole pipeline.
    /// A truncated, corrupt or modified file, an unexpected or oversized entry, an entry name that escapes the
    /// archive, or a newer format version is an <see cref="InvalidDataException"/> naming the file and the reason.
    /// </summary>
    public ITransformer Load(string filePath, out DataViewSchema inputSchema) => ModelPackage.Load(filePath, _env, out inputSchema);

    /// <summary>Loads from a stream (see <see cref="Load(string, out DataViewSchema)"/>).</summary>
    public ITransformer Load(Stream stream, out DataViewSchema inputSchema) => ModelPackage.Load(stream, "stream", _env, out inputSchema);

    /// <summary>A prediction engine: one object of <typeparamref name="TSrc"/> in, one <typeparamref name="TDst"/> out (not thread-safe; see <see cref="CreatePredictionEnginePool{TSrc, TDst}"/>).</summary>
    public PredictionEngine<TSrc, TDst> CreatePredictionEngine<TSrc, TDst>(ITransformer transformer, bool ignoreMissingColumns = true, DataViewSchema? inputSchemaDefinition = null)
        where TSrc : class where TDst : class, new() => new(transformer, ignoreMissingColumns, inputSchemaDefinition);

    /// <summary>A thread-safe pool of prediction engines for services.</summary>
    public PredictionEnginePool<TSrc, TDst> CreatePredictionEnginePool<TSrc, TDst>(ITransformer transformer, bool ignoreMissingColumns = true)
        where TSrc : class where TDst : class, new() => new(transformer, ignoreMissingColumns);
}

/// <summary>
/// Predicts one example at a time (ML.NET's <c>PredictionEngine</c>): the pipeline runs on a one-row view of the
/// example — a path or the bytes of one image, as the pipeline's input columns say. Not thread-safe: use one per
/// thread, or a <see cref="PredictionEnginePool{TSrc, TDst}"/>.
/// </summary>
public sealed class PredictionEngine<TSrc, TDst> : IDisposable where TSrc : class where TDst : class, new()
{
    private readonly OneRow _row = new();
    private readonly IDataView _output;
    private readonly RowToObjectMapper<TDst> _mapper;

    internal PredictionEngine(ITransformer transformer, bool ignoreMissingColumns, DataViewSchema? inputSchemaDefinition)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        _output = transformer.Transform(new EnumerableDataView<TSrc>(_row, inputSchemaDefinition));
        _mapper = new RowToObjectMapper<TDst>(_output.Schema, ignoreMissingColumns);
    }

    /// <summary>The schema of the pipeline's output.</summary>
    public DataViewSchema OutputSchema => _output.Schema;

    /// <summary>The prediction for <paramref name="example"/>.</summary>
    public TDst Predict(TSrc example)
    {
        TDst? result = null;
        Predict(example, ref result!);
        return result;
    }

    /// <summary>The prediction for <paramref name="example"/>, written into <paramref name="prediction"/> (a new object when null).</summary>
    public void Predict(TSrc example, ref TDst prediction)
    {
        ArgumentNullException.ThrowIfNull(example);
        _row.Current = example;
        try
        {
            using var cursor = _output.GetRowCursor(_mapper.Columns);
            if (!cursor.MoveNext()) throw new InvalidOperationException("the pipeline produced no row for the example");
            prediction = _mapper.MakeReader(cursor)(prediction);
        }
        finally
        {
            _row.Current = null;
        }
    }

    /// <summary>Nothing to free (the model belongs to the transformer); present for ML.NET compatibility.</summary>
    public void Dispose() { }

    /// <summary>A sequence of exactly the current example.</summary>
    private sealed class OneRow : IEnumerable<TSrc>, IReadOnlyCollection<TSrc>
    {
        public TSrc? Current;

        public int Count => 1;

        public IEnumerator<TSrc> GetEnumerator()
        {
            yield return Current ?? throw new InvalidOperationException("no example is being predicted");
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

/// <summary>
/// Thread-safe predictions for services (Microsoft.Extensions.ML's <c>PredictionEnginePool</c>): each call borrows a
/// <see cref="PredictionEngine{TSrc, TDst}"/> (made on demand; at most one per concurrent caller) and returns it.
/// The engines share the model.
/// </summary>
public sealed class PredictionEnginePool<TSrc, TDst> where TSrc : class where TDst : class, new()
{
    private readonly ConcurrentBag<PredictionEngine<TSrc, TDst>> _engines = new();
    private readonly ITransformer _transformer;
    private readonly bool _ignoreMissingColumns;
    private int _created;

    internal PredictionEnginePool(ITransformer transformer, bool ignoreMissingColumns)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        _transformer = transformer;
        _ignoreMissingColumns = ignoreMissingColumns;
        _engines.Add(new PredictionEngine<TSrc, TDst>(transformer, ignoreMissingColumns, null));
        _created = 1;
    }

    /// <summary>Engines made so far (the highest number of concurrent callers).</summary>
    public int EngineCount => Volatile.Read(ref _created);

    /// <summary>The prediction for <paramref name="example"/>; safe to call from many threads at once.</summary>
    public TDst Predict(TSrc example)
    {
        if (!_engines.TryTake(out var engine))
        {
            engine = new PredictionEngine<TSrc, TDst>(_transformer, _ignoreMissingColumns, null);
            Interlocked.Increment(ref _created);
        }
        try
        {
            return engine.Predict(example);
        }
        finally
        {
            _engines.Add(engine);
        }
    }
}
