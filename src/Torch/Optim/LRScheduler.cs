using System.Globalization;
using System.Runtime.CompilerServices;

namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Base of the learning-rate schedulers, as <c>torch.optim.lr_scheduler._LRScheduler</c> (PyTorch 1.13).
/// </summary>
/// <remarks>
/// <para>
/// On construction a scheduler attaches to every parameter group of the optimizer: the first scheduler attached to a
/// group copies its current <see cref="ParamGroup.LearningRate"/> into <see cref="ParamGroup.InitialLearningRate"/>
/// (PyTorch: <c>group.setdefault("initial_lr", group["lr"])</c>); later schedulers keep it. The scheduler's
/// <see cref="BaseLearningRates"/> are the groups' <see cref="ParamGroup.InitialLearningRate"/> at that moment.
/// The constructor then applies epoch 0 (<see cref="LastEpoch"/> becomes 0), like PyTorch's initial <c>step()</c>.
/// </para>
/// <para>
/// Every value is computed in closed form from <see cref="BaseLearningRates"/> and the epoch. This equals PyTorch's
/// chainable (recursive) form up to floating-point rounding whenever the learning rate is driven by this scheduler
/// alone, which is the usual case. It differs from PyTorch when something else (another scheduler, user code) also
/// changes <see cref="ParamGroup.LearningRate"/> between steps: PyTorch's chainable form carries such changes
/// forward, the closed form overwrites them.
/// </para>
/// <para>
/// Call <see cref="Step"/> once after each <see cref="Optimizer.Step"/>. To resume from a checkpoint, construct the
/// scheduler on an optimizer configured as in the original run and call <see cref="LoadState"/> with the saved
/// <see cref="LastEpoch"/>.
/// </para>
/// </remarks>
public abstract class LRScheduler
{
    // Which parameter groups already had a scheduler attached (PyTorch: the presence of group["initial_lr"]).
    private static readonly ConditionalWeakTable<ParamGroup, object> s_attached = new();
    private static readonly object s_marker = new();

    private double[] _baseLrs = [];
    private double[] _lastLrs = [];
    private bool _initialized;

    /// <summary>Stores the optimizer; the derived constructor validates its arguments and then calls <see cref="Initialize"/>.</summary>
    /// <param name="optimizer">The optimizer whose parameter groups are scheduled.</param>
    protected LRScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
    }

    /// <summary>The scheduled optimizer.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>
    /// The index of the epoch (or batch, for per-batch schedules) whose learning rates are set: 0 after construction,
    /// incremented by each <see cref="Step"/> (PyTorch: <c>last_epoch</c>).
    /// </summary>
    public int LastEpoch { get; private set; } = -1;

    /// <summary>The learning rates the schedule starts from, one per parameter group (PyTorch: <c>base_lrs</c>).</summary>
    public IReadOnlyList<double> BaseLearningRates => _baseLrs;

    /// <summary>The largest <see cref="LastEpoch"/> the schedule is defined for; <see cref="int.MaxValue"/> unless a schedule is finite.</summary>
    protected virtual int MaxLastEpoch => int.MaxValue;

    /// <summary>
    /// Attaches to the parameter groups and applies epoch 0. Derived constructors call this once, last, after
    /// validating their arguments (so that an invalid argument leaves the optimizer untouched).
    /// </summary>
    /// <param name="initialLearningRates">
    /// Null to keep PyTorch's <c>setdefault</c> behaviour; otherwise one value per group that overwrites
    /// <see cref="ParamGroup.InitialLearningRate"/> (as <c>OneCycleLR</c> does).
    /// </param>
    /// <exception cref="InvalidOperationException">Called more than once.</exception>
    /// <exception cref="ArgumentException"><paramref name="initialLearningRates"/> has the wrong length.</exception>
    protected void Initialize(IReadOnlyList<double>? initialLearningRates = null)
    {
        if (_initialized)
            throw new InvalidOperationException("the scheduler is already initialized");
        var groups = Optimizer.ParamGroups;
        if (initialLearningRates is not null && initialLearningRates.Count != groups.Count)
            throw new ArgumentException(
                $"expected {groups.Count} initial learning rates, one per parameter group, got {initialLearningRates.Count}",
                nameof(initialLearningRates));
        var baseLrs = new double[groups.Count];
        for (int i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            if (initialLearningRates is not null)
                g.InitialLearningRate = initialLearningRates[i];
            else if (!s_attached.TryGetValue(g, out _))
                g.InitialLearningRate = g.LearningRate;
            s_attached.AddOrUpdate(g, s_marker);
            baseLrs[i] = g.InitialLearningRate;
        }
        _baseLrs = baseLrs;
        _initialized = true;
        ApplyEpoch(0);
        LastEpoch = 0;
    }

    /// <summary>Advances <see cref="LastEpoch"/> by one and sets every group's learning rate for that epoch.</summary>
    /// <exception cref="InvalidOperationException">The schedule is finite and already at its end.</exception>
    public virtual void Step()
    {
        EnsureInitialized();
        if (LastEpoch >= MaxLastEpoch)
            throw new InvalidOperationException($"the schedule ends at epoch {MaxLastEpoch}");
        int next = LastEpoch + 1;
        ApplyEpoch(next);
        LastEpoch = next;
    }

    /// <summary>The learning rates set by the last <see cref="Step"/> (or by construction), one per group (PyTorch: <c>get_last_lr()</c>).</summary>
    public IReadOnlyList<double> GetLastLr() => (double[])_lastLrs.Clone();

    /// <summary>
    /// Restores the scheduler to <paramref name="lastEpoch"/> (a saved <see cref="LastEpoch"/>) and sets the
    /// groups' learning rates (and, where scheduled, momenta) for that epoch in closed form. Stepping on afterwards
    /// gives the same values as an uninterrupted run.
    /// </summary>
    /// <param name="lastEpoch">The epoch to resume at, from 0 to the end of the schedule.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lastEpoch"/> is negative or past the end of a finite schedule.</exception>
    public void LoadState(int lastEpoch)
    {
        EnsureInitialized();
        if (lastEpoch < 0 || lastEpoch > MaxLastEpoch)
            throw new ArgumentOutOfRangeException(nameof(lastEpoch), lastEpoch,
                $"lastEpoch must be in [0, {MaxLastEpoch}]");
        ApplyEpoch(lastEpoch);
        LastEpoch = lastEpoch;
    }

    /// <summary>The learning rate of group <paramref name="groupIndex"/> at <paramref name="epoch"/>, in closed form.</summary>
    /// <param name="epoch">The epoch (0 at construction).</param>
    /// <param name="groupIndex">The parameter group's index.</param>
    /// <param name="baseLearningRate">The group's <see cref="BaseLearningRates"/> entry.</param>
    protected abstract double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate);

    /// <summary>
    /// Sets the groups' hyperparameters for <paramref name="epoch"/>. The default sets every learning rate from
    /// <see cref="ComputeLearningRate"/>; overrides compute everything before assigning anything, so that a failure
    /// leaves the groups unchanged, and then call <see cref="SetLearningRates"/>.
    /// </summary>
    /// <param name="epoch">The epoch to apply.</param>
    protected virtual void ApplyEpoch(int epoch)
    {
        var lrs = new double[_baseLrs.Length];
        for (int i = 0; i < lrs.Length; i++)
            lrs[i] = ComputeLearningRate(epoch, i, _baseLrs[i]);
        SetLearningRates(lrs);
    }

    /// <summary>Assigns one learning rate per group and records them for <see cref="GetLastLr"/>.</summary>
    /// <param name="learningRates">One value per parameter group.</param>
    protected void SetLearningRates(double[] learningRates)
    {
        ArgumentNullException.ThrowIfNull(learningRates);
        var groups = Optimizer.ParamGroups;
        if (learningRates.Length != groups.Count)
            throw new ArgumentException($"expected {groups.Count} learning rates, got {learningRates.Length}", nameof(learningRates));
        for (int i = 0; i < learningRates.Length; i++)
            groups[i].LearningRate = learningRates[i];
        _lastLrs = (double[])learningRates.Clone();
    }

    private void EnsureInitialized()
    {
        if (!_initialized)
            throw new InvalidOperationException($"{GetType().Name} did not call Initialize() in its constructor");
    }

    // ---- argument validation shared by the schedulers ----

    internal static void RequireAtLeast(int value, int min, string paramName)
    {
        if (value < min)
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be >= {min}");
    }

    internal static void RequirePositiveFinite(double value, string paramName)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite value > 0");
    }

    internal static void RequireNonNegativeFinite(double value, string paramName)
    {
        if (!(value >= 0) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite value >= 0");
    }

    internal static void RequireInRange(double value, double min, bool minInclusive, double max, string paramName)
    {
        bool ok = (minInclusive ? value >= min : value > min) && value <= max;
        if (!ok)
            throw new ArgumentOutOfRangeException(paramName, value,
                string.Create(CultureInfo.InvariantCulture, $"{paramName} must be in {(minInclusive ? "[" : "(")}{min}, {max}]"));
    }
}
