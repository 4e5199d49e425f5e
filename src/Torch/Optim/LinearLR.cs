namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Scales the base learning rate by a factor that changes linearly from <see cref="StartFactor"/> to
/// <see cref="EndFactor"/> over <see cref="TotalIters"/> epochs and then stays, as
/// <c>torch.optim.lr_scheduler.LinearLR</c>:
/// <c>lr(e) = base_lr * (start + (end - start) * min(total_iters, e) / total_iters)</c>.
/// </summary>
/// <remarks>
/// <see cref="StartFactor"/> must be &gt; 0: PyTorch 1.13 accepts 0 but then divides by zero on the first step
/// (PyTorch 2 rejects it too).
/// </remarks>
public sealed class LinearLR : LRScheduler
{
    /// <summary>Creates the scheduler and sets the epoch-0 learning rates (<c>base_lr * startFactor</c>).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="startFactor">Factor at epoch 0, in (0, 1].</param>
    /// <param name="endFactor">Factor from epoch <paramref name="totalIters"/> on, in [0, 1].</param>
    /// <param name="totalIters">Number of epochs of the linear change, &gt;= 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public LinearLR(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5)
        : base(optimizer)
    {
        RequireInRange(startFactor, 0, false, 1, nameof(startFactor));
        RequireInRange(endFactor, 0, true, 1, nameof(endFactor));
        RequireAtLeast(totalIters, 1, nameof(totalIters));
        StartFactor = startFactor;
        EndFactor = endFactor;
        TotalIters = totalIters;
        Initialize();
    }

    /// <summary>Factor at epoch 0.</summary>
    public double StartFactor { get; }

    /// <summary>Factor from epoch <see cref="TotalIters"/> on.</summary>
    public double EndFactor { get; }

    /// <summary>Number of epochs of the linear change.</summary>
    public int TotalIters { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
        => baseLearningRate * (StartFactor + (EndFactor - StartFactor) * Math.Min(TotalIters, epoch) / TotalIters);
}
