namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Linear warm-up followed by cosine annealing. Defined as what PyTorch 1.13 produces for
/// <c>SequentialLR(opt, [LinearLR(opt, start_factor=warmupStartFactor, end_factor=1.0, total_iters=warmupSteps),
/// CosineAnnealingLR(opt, T_max=totalSteps - warmupSteps, eta_min=etaMin)], milestones=[warmupSteps])</c>:
/// <list type="bullet">
/// <item><description>
/// <c>e &lt; warmupSteps</c>: <c>lr = base_lr * (f + (1 - f) * e / warmupSteps)</c> with <c>f = warmupStartFactor</c>, so
/// epoch 0 (construction) uses <c>base_lr * f</c> and the last warm-up epoch <c>warmupSteps - 1</c> is still below
/// <c>base_lr</c>;
/// </description></item>
/// <item><description>
/// <c>e &gt;= warmupSteps</c>: <c>lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * (e - warmupSteps) / (totalSteps - warmupSteps))) / 2</c>,
/// so <c>base_lr</c> is reached exactly at epoch <c>warmupSteps</c> and <c>eta_min</c> at epoch <c>totalSteps</c>.
/// </description></item>
/// </list>
/// </summary>
/// <remarks>
/// SequentialLR's quirks in 1.13, and what this class does about them: at the milestone SequentialLR calls
/// <c>CosineAnnealingLR.step(0)</c>, the deprecated epoch argument, which switches to the closed form and sets
/// <c>base_lr</c> (it also warns; here nothing is warned). The cosine scheduler's base is the group's
/// <c>initial_lr</c>, not the warmed-up learning rate. Past <c>totalSteps</c> PyTorch's cosine keeps going and the
/// learning rate rises again (period <c>2 * (totalSteps - warmupSteps)</c>); this class reproduces that rather than
/// clamping at <c>eta_min</c>, so stop stepping at <c>totalSteps</c>. <c>warmupSteps = 0</c> is rejected because
/// SequentialLR then never applies the warm-up correctly.
/// </remarks>
public sealed class CosineAnnealingWithWarmupLR : LRScheduler
{
    /// <summary>Creates the scheduler and sets the epoch-0 learning rates (<c>base_lr * warmupStartFactor</c>).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="warmupSteps">Number of warm-up epochs, &gt;= 1.</param>
    /// <param name="totalSteps">Epoch at which <paramref name="etaMin"/> is reached, &gt; <paramref name="warmupSteps"/>.</param>
    /// <param name="warmupStartFactor">Factor of the base learning rate at epoch 0, in (0, 1].</param>
    /// <param name="etaMin">Minimum learning rate, finite and &gt;= 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public CosineAnnealingWithWarmupLR(Optimizer optimizer, int warmupSteps, int totalSteps,
        double warmupStartFactor = 0.001, double etaMin = 0)
        : base(optimizer)
    {
        RequireAtLeast(warmupSteps, 1, nameof(warmupSteps));
        if (totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps,
                $"totalSteps must be > warmupSteps ({warmupSteps})");
        RequireInRange(warmupStartFactor, 0, false, 1, nameof(warmupStartFactor));
        RequireNonNegativeFinite(etaMin, nameof(etaMin));
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        WarmupStartFactor = warmupStartFactor;
        EtaMin = etaMin;
        Initialize();
    }

    /// <summary>Number of warm-up epochs.</summary>
    public int WarmupSteps { get; }

    /// <summary>Epoch at which <see cref="EtaMin"/> is reached.</summary>
    public int TotalSteps { get; }

    /// <summary>Factor of the base learning rate at epoch 0.</summary>
    public double WarmupStartFactor { get; }

    /// <summary>Minimum learning rate.</summary>
    public double EtaMin { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
    {
        if (epoch < WarmupSteps)
            return baseLearningRate * (WarmupStartFactor + (1.0 - WarmupStartFactor) * epoch / WarmupSteps);
        return CosineAnnealingLR.Cosine(baseLearningRate, EtaMin, epoch - WarmupSteps, TotalSteps - WarmupSteps);
    }
}
