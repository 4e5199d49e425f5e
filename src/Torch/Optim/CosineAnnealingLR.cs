namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Cosine annealing from the base learning rate to <see cref="EtaMin"/> over <see cref="TMax"/> epochs, as
/// <c>torch.optim.lr_scheduler.CosineAnnealingLR</c>:
/// <c>lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2</c>.
/// </summary>
/// <remarks>
/// Past <see cref="TMax"/> the learning rate follows the cosine back up (period <c>2 * T_max</c>), as PyTorch's
/// recursive form does; it does not restart or stay at <see cref="EtaMin"/>.
/// </remarks>
public sealed class CosineAnnealingLR : LRScheduler
{
    /// <summary>Creates the scheduler and sets the epoch-0 learning rates (the base learning rates).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="tMax">Half period in epochs: the epoch at which <paramref name="etaMin"/> is reached, &gt;= 1.</param>
    /// <param name="etaMin">Minimum learning rate, finite and &gt;= 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0)
        : base(optimizer)
    {
        RequireAtLeast(tMax, 1, nameof(tMax));
        RequireNonNegativeFinite(etaMin, nameof(etaMin));
        TMax = tMax;
        EtaMin = etaMin;
        Initialize();
    }

    /// <summary>The epoch at which <see cref="EtaMin"/> is reached.</summary>
    public int TMax { get; }

    /// <summary>Minimum learning rate.</summary>
    public double EtaMin { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
        => Cosine(baseLearningRate, EtaMin, epoch, TMax);

    // PyTorch's closed form, same operation order.
    internal static double Cosine(double baseLr, double etaMin, int epoch, int tMax)
        => etaMin + (baseLr - etaMin) * (1 + Math.Cos(Math.PI * epoch / tMax)) / 2;
}
