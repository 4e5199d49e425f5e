namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Multiplies the learning rate by <see cref="Gamma"/> every epoch, as <c>torch.optim.lr_scheduler.ExponentialLR</c>:
/// <c>lr(e) = base_lr * gamma^e</c>.
/// </summary>
public sealed class ExponentialLR : LRScheduler
{
    /// <summary>Creates the scheduler and sets the epoch-0 learning rates (the base learning rates).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="gamma">Multiplicative factor per epoch, finite and &gt; 0 (values above 1 grow the learning rate).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is outside its range.</exception>
    public ExponentialLR(Optimizer optimizer, double gamma)
        : base(optimizer)
    {
        RequirePositiveFinite(gamma, nameof(gamma));
        Gamma = gamma;
        Initialize();
    }

    /// <summary>Multiplicative factor per epoch.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
        => baseLearningRate * Math.Pow(Gamma, epoch);
}
