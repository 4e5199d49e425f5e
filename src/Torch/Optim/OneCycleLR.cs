using System.Globalization;

namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// The 1cycle policy, as <c>torch.optim.lr_scheduler.OneCycleLR</c> (PyTorch 1.13), stepped once per batch.
/// </summary>
/// <remarks>
/// <para>
/// The learning rate goes from <c>initial_lr = maxLr / divFactor</c> up to <c>maxLr</c> over the first
/// <c>pctStart * totalSteps - 1</c> steps and then down to <c>min_lr = initial_lr / finalDivFactor</c> at step
/// <c>totalSteps - 1</c>. With <c>threePhase</c> it goes back to <c>initial_lr</c> at step
/// <c>2 * pctStart * totalSteps - 2</c> first and then to <c>min_lr</c>. With <c>cycleMomentum</c> the momentum moves
/// inversely between <c>maxMomentum</c> and <c>baseMomentum</c>; it is written to <see cref="ParamGroup.Beta1"/> when
/// <see cref="Optimizer.UsesBetas"/>, to <see cref="ParamGroup.Momentum"/> otherwise.
/// </para>
/// <para>
/// PyTorch's behaviour is reproduced exactly, including these details: the phase boundaries are fractional
/// (<c>float(pct_start * total_steps) - 1</c>), so the learning rate at step 0 need not be <c>initial_lr</c> for small
/// <c>totalSteps</c>; <see cref="LRScheduler.Step"/> may be called <c>totalSteps</c> times (reaching
/// <see cref="LRScheduler.LastEpoch"/> = <c>totalSteps</c>, which extrapolates the last phase one step past
/// <c>min_lr</c>; with linear annealing that value can be negative); one more call throws
/// <see cref="InvalidOperationException"/> with PyTorch's message. Settings for which PyTorch divides by zero (a
/// phase of length zero, e.g. <c>pctStart * totalSteps == 1</c>) are rejected at construction, or, where it is only
/// reached later (<c>pctStart == 1</c>), by the step that reaches it.
/// </para>
/// <para>
/// <see cref="ParamGroup.InitialLearningRate"/> is overwritten with <c>initial_lr</c>, as PyTorch does. This scheduler is
/// not meant to be combined with another one on the same optimizer.
/// </para>
/// </remarks>
public sealed class OneCycleLR : LRScheduler
{
    private readonly (double EndStep, int StartLr, int EndLr, int StartMomentum, int EndMomentum)[] _phases;
    // Per group: the values a phase starts/ends at, indexed by the constants below.
    private readonly double[][] _lrPoints;
    private readonly double[][] _momentumPoints;
    private const int Initial = 0, Max = 1, Min = 2;      // lr points: initial_lr, max_lr, min_lr
    private const int MaxMom = 0, BaseMom = 1;            // momentum points: max_momentum, base_momentum

    /// <summary>Creates the scheduler with one maximum learning rate for every group.</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="maxLr">Peak learning rate, finite and &gt;= 0.</param>
    /// <param name="totalSteps">Number of steps in the cycle, &gt;= 1.</param>
    /// <param name="pctStart">Fraction of the cycle spent increasing the learning rate, in [0, 1].</param>
    /// <param name="annealStrategy">Cosine or linear annealing.</param>
    /// <param name="cycleMomentum">Whether to cycle the momentum (or Adam's beta1) inversely to the learning rate.</param>
    /// <param name="baseMomentum">Momentum at the learning-rate peak, in [0, 1].</param>
    /// <param name="maxMomentum">Momentum at the start of the cycle, in [0, 1].</param>
    /// <param name="divFactor"><c>initial_lr = maxLr / divFactor</c>; finite and &gt; 0.</param>
    /// <param name="finalDivFactor"><c>min_lr = initial_lr / finalDivFactor</c>; finite and &gt; 0.</param>
    /// <param name="threePhase">Use three phases (up, symmetric down to <c>initial_lr</c>, then to <c>min_lr</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    /// <exception cref="ArgumentException">The settings give a phase of length zero at step 0.</exception>
    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3,
        AnnealStrategy annealStrategy = AnnealStrategy.Cos, bool cycleMomentum = true, double baseMomentum = 0.85,
        double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4, bool threePhase = false)
        : this(optimizer, Broadcast(optimizer, maxLr), totalSteps, pctStart, annealStrategy, cycleMomentum,
            baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase)
    {
    }

    /// <summary>Creates the scheduler with one maximum learning rate per group (PyTorch: a list <c>max_lr</c>).</summary>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="maxLr">Peak learning rate of each group, finite and &gt;= 0, one per group.</param>
    /// <param name="totalSteps">Number of steps in the cycle, &gt;= 1.</param>
    /// <param name="pctStart">Fraction of the cycle spent increasing the learning rate, in [0, 1].</param>
    /// <param name="annealStrategy">Cosine or linear annealing.</param>
    /// <param name="cycleMomentum">Whether to cycle the momentum (or Adam's beta1) inversely to the learning rate.</param>
    /// <param name="baseMomentum">Momentum at the learning-rate peak, in [0, 1].</param>
    /// <param name="maxMomentum">Momentum at the start of the cycle, in [0, 1].</param>
    /// <param name="divFactor"><c>initial_lr = maxLr / divFactor</c>; finite and &gt; 0.</param>
    /// <param name="finalDivFactor"><c>min_lr = initial_lr / finalDivFactor</c>; finite and &gt; 0.</param>
    /// <param name="threePhase">Use three phases (up, symmetric down to <c>initial_lr</c>, then to <c>min_lr</c>).</param>
    /// <exception cref="ArgumentNullException"><paramref name="maxLr"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    /// <exception cref="ArgumentException"><paramref name="maxLr"/> does not have one value per group, or the settings give a phase of length zero at step 0.</exception>
    public OneCycleLR(Optimizer optimizer, IReadOnlyList<double> maxLr, int totalSteps, double pctStart = 0.3,
        AnnealStrategy annealStrategy = AnnealStrategy.Cos, bool cycleMomentum = true, double baseMomentum = 0.85,
        double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4, bool threePhase = false)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(maxLr);
        int groups = optimizer.ParamGroups.Count;
        if (maxLr.Count != groups)
            throw new ArgumentException($"expected {groups} values for maxLr, one per parameter group, got {maxLr.Count}", nameof(maxLr));
        foreach (double m in maxLr)
            RequireNonNegativeFinite(m, nameof(maxLr));
        RequireAtLeast(totalSteps, 1, nameof(totalSteps));
        RequireInRange(pctStart, 0, true, 1, nameof(pctStart));
        if (!Enum.IsDefined(annealStrategy))
            throw new ArgumentOutOfRangeException(nameof(annealStrategy), annealStrategy, "annealStrategy must be Cos or Linear");
        RequireInRange(baseMomentum, 0, true, 1, nameof(baseMomentum));
        RequireInRange(maxMomentum, 0, true, 1, nameof(maxMomentum));
        RequirePositiveFinite(divFactor, nameof(divFactor));
        RequirePositiveFinite(finalDivFactor, nameof(finalDivFactor));

        TotalSteps = totalSteps;
        PctStart = pctStart;
        AnnealStrategy = annealStrategy;
        CycleMomentum = cycleMomentum;
        BaseMomentum = baseMomentum;
        MaxMomentum = maxMomentum;
        DivFactor = divFactor;
        FinalDivFactor = finalDivFactor;
        ThreePhase = threePhase;

        // Same expressions as PyTorch (operation order included).
        _phases = threePhase
            ? [
                (pctStart * totalSteps - 1, Initial, Max, MaxMom, BaseMom),
                (2 * pctStart * totalSteps - 2, Max, Initial, BaseMom, MaxMom),
                (totalSteps - 1, Initial, Min, MaxMom, MaxMom),
            ]
            : [
                (pctStart * totalSteps - 1, Initial, Max, MaxMom, BaseMom),
                (totalSteps - 1, Max, Min, BaseMom, MaxMom),
            ];

        var initialLrs = new double[groups];
        _lrPoints = new double[groups][];
        _momentumPoints = new double[groups][];
        for (int i = 0; i < groups; i++)
        {
            double initial = maxLr[i] / divFactor;
            initialLrs[i] = initial;
            _lrPoints[i] = [initial, maxLr[i], initial / finalDivFactor];
            _momentumPoints[i] = [maxMomentum, baseMomentum];
        }

        if (!TryLocate(0, out _, out _))
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture,
                    $"pctStart = {pctStart} with totalSteps = {totalSteps} gives a phase of length zero at step 0 (PyTorch divides by zero)"),
                nameof(pctStart));
        Initialize(initialLrs);
    }

    /// <summary>Number of steps in the cycle.</summary>
    public int TotalSteps { get; }

    /// <summary>Fraction of the cycle spent increasing the learning rate.</summary>
    public double PctStart { get; }

    /// <summary>Cosine or linear annealing.</summary>
    public AnnealStrategy AnnealStrategy { get; }

    /// <summary>Whether the momentum (or Adam's beta1) is cycled.</summary>
    public bool CycleMomentum { get; }

    /// <summary>Momentum at the learning-rate peak.</summary>
    public double BaseMomentum { get; }

    /// <summary>Momentum at the start of the cycle.</summary>
    public double MaxMomentum { get; }

    /// <summary><c>initial_lr = maxLr / DivFactor</c>.</summary>
    public double DivFactor { get; }

    /// <summary><c>min_lr = initial_lr / FinalDivFactor</c>.</summary>
    public double FinalDivFactor { get; }

    /// <summary>Whether the three-phase schedule is used.</summary>
    public bool ThreePhase { get; }

    /// <inheritdoc />
    protected override int MaxLastEpoch => TotalSteps;

    /// <summary>
    /// Advances to the next step. Allowed until <see cref="LRScheduler.LastEpoch"/> equals <see cref="TotalSteps"/>, as in PyTorch.
    /// </summary>
    /// <exception cref="InvalidOperationException">The cycle is over, or the next step falls in a phase of length zero.</exception>
    public override void Step()
    {
        if (LastEpoch >= TotalSteps)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"Tried to step {LastEpoch + 2} times. The specified number of total steps is {TotalSteps}"));
        base.Step();
    }

    /// <inheritdoc />
    protected override double ComputeLearningRate(int epoch, int groupIndex, double baseLearningRate)
    {
        if (!TryLocate(epoch, out int phase, out double pct))
            throw ZeroLengthPhase(epoch);
        var p = _phases[phase];
        return Anneal(_lrPoints[groupIndex][p.StartLr], _lrPoints[groupIndex][p.EndLr], pct);
    }

    /// <inheritdoc />
    protected override void ApplyEpoch(int epoch)
    {
        if (!TryLocate(epoch, out int phase, out double pct))
            throw ZeroLengthPhase(epoch);
        var p = _phases[phase];
        var groups = Optimizer.ParamGroups;
        var lrs = new double[groups.Count];
        var momenta = new double[groups.Count];
        for (int i = 0; i < lrs.Length; i++)
        {
            lrs[i] = Anneal(_lrPoints[i][p.StartLr], _lrPoints[i][p.EndLr], pct);
            momenta[i] = Anneal(_momentumPoints[i][p.StartMomentum], _momentumPoints[i][p.EndMomentum], pct);
        }
        SetLearningRates(lrs);
        if (!CycleMomentum)
            return;
        bool betas = Optimizer.UsesBetas;
        for (int i = 0; i < momenta.Length; i++)
        {
            if (betas)
                groups[i].Beta1 = momenta[i];
            else
                groups[i].Momentum = momenta[i];
        }
    }

    // The phase containing `step` and the fraction of it done, as PyTorch's get_lr; false where PyTorch divides by zero.
    private bool TryLocate(int step, out int phase, out double pct)
    {
        double start = 0;
        for (int i = 0; i < _phases.Length; i++)
        {
            double end = _phases[i].EndStep;
            if (step <= end || i == _phases.Length - 1)
            {
                phase = i;
                double length = end - start;
                pct = (step - start) / length;
                return length != 0;
            }
            start = end;
        }
        throw new InvalidOperationException("unreachable");
    }

    private double Anneal(double start, double end, double pct)
    {
        if (AnnealStrategy == AnnealStrategy.Linear)
            return (end - start) * pct + start;
        double cosOut = Math.Cos(Math.PI * pct) + 1;
        return end + (start - end) / 2.0 * cosOut;
    }

    private static InvalidOperationException ZeroLengthPhase(int step)
        => new(string.Create(CultureInfo.InvariantCulture,
            $"OneCycleLR step {step} falls in a phase of length zero (PyTorch raises ZeroDivisionError here)"));

    private static double[] Broadcast(Optimizer optimizer, double value)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        return Enumerable.Repeat(value, optimizer.ParamGroups.Count).ToArray();
    }
}
