namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// A group of parameters sharing hyperparameters, as in <c>torch.optim.Optimizer.param_groups</c>.
/// Learning-rate schedulers change <see cref="LearningRate"/> (and, for one-cycle, <see cref="Momentum"/> or
/// <see cref="Beta1"/>) between steps.
/// </summary>
public sealed class ParamGroup
{
    /// <summary>Creates a group.</summary>
    public ParamGroup(IReadOnlyList<Tensor> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be a finite value >= 0");
        Parameters = parameters;
        LearningRate = learningRate;
        InitialLearningRate = learningRate;
    }

    /// <summary>The parameters updated by this group.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>The learning rate used by the next step (PyTorch: <c>group["lr"]</c>).</summary>
    public double LearningRate { get; set; }

    /// <summary>The learning rate when the first scheduler was attached (PyTorch: <c>group["initial_lr"]</c>).</summary>
    public double InitialLearningRate { get; set; }

    /// <summary>SGD momentum factor (PyTorch: <c>group["momentum"]</c>).</summary>
    public double Momentum { get; set; }

    /// <summary>Adam-family first-moment coefficient (PyTorch: <c>group["betas"][0]</c>).</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>Adam-family second-moment coefficient (PyTorch: <c>group["betas"][1]</c>).</summary>
    public double Beta2 { get; set; } = 0.999;

    /// <summary>Weight decay (L2 for SGD, decoupled for AdamW).</summary>
    public double WeightDecay { get; set; }
}

/// <summary>Base of the optimizers: parameter groups, <see cref="Step"/> and <see cref="ZeroGrad"/>.</summary>
public abstract class Optimizer : IDisposable
{
    private readonly List<ParamGroup> _groups = new();

    /// <summary>Creates an optimizer over one or more groups.</summary>
    protected Optimizer(IEnumerable<ParamGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        _groups.AddRange(groups);
        if (_groups.Count == 0)
            throw new ArgumentException("an optimizer needs at least one parameter group", nameof(groups));
    }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>True when the optimizer's momentum lives in <see cref="ParamGroup.Beta1"/> (Adam family), false when in <see cref="ParamGroup.Momentum"/>.</summary>
    public abstract bool UsesBetas { get; }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public abstract void Step();

    /// <summary>Clears the gradients of every parameter (PyTorch 2 default: set them to none).</summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var g in _groups)
            Tensor.ZeroGrad(g.Parameters, setToNone);
    }

    /// <summary>Frees the optimizer state (momentum buffers, moments).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees owned state.</summary>
    protected virtual void Dispose(bool disposing) { }
}

/// <summary>Helpers for restoring optimizer state from checkpoints.</summary>
internal static class OptimizerState
{
    /// <summary>A detached, contiguous copy of <paramref name="state"/> on <paramref name="parameter"/>'s device and dtype, owned by the caller (null stays null).</summary>
    internal static Tensor? CopyFor(Tensor parameter, Tensor? state, string what)
    {
        if (state is null) return null;
        if (!state.Shape.SequenceEqual(parameter.Shape))
            throw new ArgumentException($"{what} has shape [{string.Join(", ", state.Shape)}], the parameter [{string.Join(", ", parameter.Shape)}]", nameof(state));
        using var detached = state.Detach();
        return detached.To(parameter.Device, parameter.DType, copy: true).DetachFromDisposeScope();
    }
}
