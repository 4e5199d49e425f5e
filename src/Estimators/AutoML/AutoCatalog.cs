namespace MLNet.Attention.AutoML;

/// <summary>The AutoML entry point on <see cref="MLContext"/> (ML.NET AutoML's <c>MLContextExtension</c>).</summary>
public static class AutoMLExtensions
{
    /// <summary>The AutoML catalog of <paramref name="context"/>: <c>mlContext.Auto().CreateBackboneExperiment(settings)</c>.</summary>
    public static AutoCatalog Auto(this MLContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new AutoCatalog(context);
    }
}

/// <summary>Experiments that pick a model automatically (ML.NET AutoML's <c>AutoCatalog</c>).</summary>
public sealed class AutoCatalog
{
    private readonly MLContext _env;

    internal AutoCatalog(MLContext env) => _env = env;

    /// <summary>
    /// An experiment comparing backbones (× learning rates × batch sizes) by successive halving within
    /// <see cref="BackboneExperimentSettings.MaxExperimentTime"/>; the settings are checked here (unknown model names,
    /// an empty candidate list, a non-positive budget, ...).
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range or names an unknown model (the message names it).</exception>
    public BackboneExperiment CreateBackboneExperiment(BackboneExperimentSettings settings) => new(_env, settings);

    /// <summary>An experiment over <paramref name="backbones"/> with the default settings and a budget of <paramref name="maxExperimentTime"/>.</summary>
    /// <exception cref="ArgumentException">A backbone is unknown or the budget is not positive.</exception>
    public BackboneExperiment CreateBackboneExperiment(TimeSpan maxExperimentTime, params BackboneChoice[] backbones) =>
        new(_env, new BackboneExperimentSettings { MaxExperimentTime = maxExperimentTime, Backbones = backbones.ToList() });
}
