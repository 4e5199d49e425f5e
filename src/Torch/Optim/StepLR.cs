namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Multiplies the learning rate by <see cref="Gamma"/> every <see cref="StepSize"/> epochs, as
/// <c>torch.optim.lr_scheduler.StepLR</c>: <c>lr(e) = base_lr * gamma^floor(e / step_size)</c>.
/// </summary>
public sealed class StepLR : LRScheduler
{
    /// <summary>Creates the scheduler and sets the epoch-0 learning rates (the base learning rates).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="stepSize">Period of the decay in epochs, &gt;= 1.</param>
    /// <param name="gamma">Multiplicative decay factor, finite and &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1)
        : base(optimizer)
    {
        RequireAtLeast(stepSize, 1, nameof(stepSize));
        RequirePositiveFinite(gamma, nameof(gamma));
        StepSize = stepSize;
        Gamma = gamma;
        Initialize();
    }

    /// <summary>Period of the decay in epochs.</summary>
    public int StepSize { get; }

    /// <summary>Multiplicative decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
        => baseLearningRate * Math.Pow(Gamma, epoch / StepSize);
}
