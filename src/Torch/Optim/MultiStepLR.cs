namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Multiplies the learning rate by <see cref="Gamma"/> at each milestone epoch, as
/// <c>torch.optim.lr_scheduler.MultiStepLR</c>: <c>lr(e) = base_lr * gamma^(number of milestones &lt;= e)</c>.
/// </summary>
/// <remarks>
/// As in PyTorch, the milestones may come in any order and a repeated milestone counts once per occurrence
/// (PyTorch keeps them in a <c>Counter</c>). A milestone 0 already applies at construction.
/// </remarks>
public sealed class MultiStepLR : LRScheduler
{
    private readonly int[] _milestones;

    /// <summary>Creates the scheduler and sets the epoch-0 learning rates.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="milestones">Epoch indices, each &gt;= 0.</param>
    /// <param name="gamma">Multiplicative decay factor, finite and &gt; 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="milestones"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A milestone is negative or <paramref name="gamma"/> is outside its range.</exception>
    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(milestones);
        var sorted = milestones.ToArray();
        foreach (int m in sorted)
        {
            if (m < 0)
                throw new ArgumentOutOfRangeException(nameof(milestones), m, "milestones must be >= 0");
        }
        RequirePositiveFinite(gamma, nameof(gamma));
        Array.Sort(sorted);
        _milestones = sorted;
        Gamma = gamma;
        Initialize();
    }

    /// <summary>The milestones, sorted ascending (duplicates kept).</summary>
    public IReadOnlyList<int> Milestones => _milestones;

    /// <summary>Multiplicative decay factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
    {
        // bisect_right: the number of milestones <= epoch.
        int passed = 0;
        while (passed < _milestones.Length && _milestones[passed] <= epoch)
            passed++;
        return baseLearningRate * Math.Pow(Gamma, passed);
    }
}
