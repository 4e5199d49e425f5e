using System.Collections;
using MLNet.Attention.Data;
using MLNet.Attention.Packaging;

namespace MLNet.Attention;

/// <summary>
/// A fitted step of a pipeline (ML.NET's <c>ITransformer</c>): maps a view to a view lazily — nothing is computed
/// until a cursor reads the result.
/// </summary>
public interface ITransformer
{
    /// <summary>Whether the transformer maps each row on its own (true for every transformer here).</summary>
    bool IsRowToRowMapper { get; }

    /// <summary>The schema <see cref="Transform"/> would produce from <paramref name="inputSchema"/>; errors name the column that does not fit.</summary>
    DataViewSchema GetOutputSchema(DataViewSchema inputSchema);

    /// <summary>The transformed view (lazy).</summary>
    IDataView Transform(IDataView input);
}

/// <summary>A step of a pipeline that learns a <typeparamref name="TTransformer"/> from data (ML.NET's <c>IEstimator</c>).</summary>
/// <typeparam name="TTransformer">The transformer it makes.</typeparam>
public interface IEstimator<out TTransformer> where TTransformer : ITransformer
{
    /// <summary>Learns from <paramref name="input"/> (trains, for trainers).</summary>
    TTransformer Fit(IDataView input);

    /// <summary>The output shape for an input of <paramref name="inputSchema"/>; errors name the column that does not fit.</summary>
    SchemaShape GetOutputSchema(SchemaShape inputSchema);
}

/// <summary>Estimators run one after another (ML.NET's <c>EstimatorChain</c>): each is fitted on the output of the transformers before it.</summary>
/// <typeparam name="TLastTransformer">The last estimator's transformer.</typeparam>
public sealed class EstimatorChain<TLastTransformer> : IEstimator<TransformerChain<TLastTransformer>>, IEstimatorChain where TLastTransformer : class, ITransformer
{
    private readonly IEstimator<ITransformer>[] _estimators;

    /// <summary>An empty chain.</summary>
    public EstimatorChain() => _estimators = Array.Empty<IEstimator<ITransformer>>();

    internal EstimatorChain(IEnumerable<IEstimator<ITransformer>> estimators) => _estimators = estimators.ToArray();

    /// <summary>The estimators, in order.</summary>
    public IReadOnlyList<IEstimator<ITransformer>> Estimators => _estimators;

    /// <summary>This chain followed by <paramref name="estimator"/>.</summary>
    public EstimatorChain<TNewTrans> Append<TNewTrans>(IEstimator<TNewTrans> estimator) where TNewTrans : class, ITransformer
    {
        ArgumentNullException.ThrowIfNull(estimator);
        return new EstimatorChain<TNewTrans>(_estimators.Append(estimator).ToArray());
    }

    /// <summary>Fits each estimator on the (lazily) transformed output of the ones before it.</summary>
    public TransformerChain<TLastTransformer> Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var fitted = new List<ITransformer>(_estimators.Length);
        var current = input;
        for (int i = 0; i < _estimators.Length; i++)
        {
            var t = _estimators[i].Fit(current);
            fitted.Add(t);
            if (i + 1 < _estimators.Length) current = t.Transform(current);
        }
        return new TransformerChain<TLastTransformer>(fitted);
    }

    /// <summary>Checks every estimator in turn.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var s = inputSchema;
        foreach (var e in _estimators) s = e.GetOutputSchema(s);
        return s;
    }
}

/// <summary>Transformers run one after another (ML.NET's <c>TransformerChain</c>); what <c>Fit</c> of a pipeline returns and what <c>Model.Save</c> writes.</summary>
/// <typeparam name="TLastTransformer">The last transformer's type.</typeparam>
public sealed class TransformerChain<TLastTransformer> : ITransformer, IEnumerable<ITransformer>, ITransformerChain, ISavableTransformer where TLastTransformer : class, ITransformer
{
    private readonly ITransformer[] _transformers;

    /// <summary>A chain of <paramref name="transformers"/>; the last must be a <typeparamref name="TLastTransformer"/>.</summary>
    public TransformerChain(params ITransformer[] transformers) : this((IEnumerable<ITransformer>)transformers) { }

    internal TransformerChain(IEnumerable<ITransformer> transformers)
    {
        ArgumentNullException.ThrowIfNull(transformers);
        _transformers = transformers.ToArray();
        foreach (var t in _transformers) ArgumentNullException.ThrowIfNull(t, nameof(transformers));
        if (_transformers.Length > 0 && _transformers[^1] is not TLastTransformer)
            throw new ArgumentException($"the last transformer is a {_transformers[^1].GetType().Name}, not a {typeof(TLastTransformer).Name}", nameof(transformers));
    }

    /// <summary>The last transformer (the trained model, for a training pipeline).</summary>
    public TLastTransformer LastTransformer => _transformers.Length == 0 ? throw new InvalidOperationException("the chain is empty") : (TLastTransformer)_transformers[^1];

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _transformers.All(t => t.IsRowToRowMapper);

    /// <summary>This chain followed by <paramref name="transformer"/>.</summary>
    public TransformerChain<TNewLast> Append<TNewLast>(TNewLast transformer) where TNewLast : class, ITransformer =>
        new(_transformers.Append(transformer));

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        var s = inputSchema;
        foreach (var t in _transformers) s = t.GetOutputSchema(s);
        return s;
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        foreach (var t in _transformers) input = t.Transform(input);
        return input;
    }

    /// <inheritdoc/>
    public IEnumerator<ITransformer> GetEnumerator() => ((IEnumerable<ITransformer>)_transformers).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    IEnumerable<ITransformer> ITransformerChain.Append(ITransformer next) => _transformers.Append(next);

    System.Text.Json.Nodes.JsonObject ISavableTransformer.Save(ModelSaveContext context) => context.SaveChain(_transformers);
}

/// <summary>Pipeline building (ML.NET's <c>LearningPipelineExtensions</c>).</summary>
public static class LearningPipelineExtensions
{
    /// <summary><paramref name="start"/> followed by <paramref name="estimator"/>.</summary>
    public static EstimatorChain<TTrans> Append<TTrans>(this IEstimator<ITransformer> start, IEstimator<TTrans> estimator) where TTrans : class, ITransformer
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(estimator);
        return new EstimatorChain<TTrans>(start is IEstimatorChain chain ? chain.Estimators.Append(estimator) : new[] { start, estimator });
    }

    /// <summary><paramref name="start"/> followed by <paramref name="transformer"/>.</summary>
    public static TransformerChain<TTrans> Append<TTrans>(this ITransformer start, TTrans transformer) where TTrans : class, ITransformer
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(transformer);
        return new TransformerChain<TTrans>(start is ITransformerChain chain ? chain.Append(transformer) : new[] { start, transformer });
    }
}

/// <summary>Any estimator chain, whatever its last transformer type.</summary>
internal interface IEstimatorChain
{
    IReadOnlyList<IEstimator<ITransformer>> Estimators { get; }
}

/// <summary>Any transformer chain, whatever its last transformer type.</summary>
internal interface ITransformerChain
{
    IEnumerable<ITransformer> Append(ITransformer next);
}
