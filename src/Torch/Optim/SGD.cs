using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay — <c>torch.optim.SGD</c>
/// of PyTorch 1.13 step for step (one native call updates every parameter).
/// </summary>
public sealed class SGD : Optimizer
{
    private readonly IntPtr[][] _buffers;
    private readonly Tensor?[][] _bufferTensors;

    /// <summary>Dampening applied to the momentum update.</summary>
    public double Dampening { get; }
    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; }
    /// <summary>Maximise instead of minimise.</summary>
    public bool Maximize { get; }

    /// <summary>
    /// PyTorch's <c>foreach</c>: true updates all parameters with one multi-tensor operation per step of the rule
    /// (<c>torch._foreach_*</c>: a few fused kernel launches on CUDA instead of about five per parameter), false one
    /// parameter at a time; null (the default, as PyTorch 2) chooses the multi-tensor form when the parameters are on
    /// CUDA. Both give the same values.
    /// </summary>
    public bool? Foreach { get; set; }

    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    public SGD(IEnumerable<Tensor> parameters, double learningRate, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : this(new[] { new ParamGroup(parameters.ToList(), learningRate) { Momentum = momentum, WeightDecay = weightDecay } }, dampening, nesterov, maximize) { }

    /// <summary>Creates the optimizer over several groups (each with its own learning rate, momentum and weight decay).</summary>
    public SGD(IEnumerable<ParamGroup> groups, double dampening = 0, bool nesterov = false, bool maximize = false) : base(groups)
    {
        foreach (var g in ParamGroups)
        {
            if (g.Momentum < 0) throw new ArgumentOutOfRangeException(nameof(groups), g.Momentum, "momentum must be >= 0");
            if (g.WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(groups), g.WeightDecay, "weight decay must be >= 0");
            if (nesterov && (g.Momentum <= 0 || dampening != 0))
                throw new ArgumentException("Nesterov momentum requires a momentum > 0 and zero dampening", nameof(nesterov));
        }
        Dampening = dampening; Nesterov = nesterov; Maximize = maximize;
        _buffers = ParamGroups.Select(g => new IntPtr[g.Parameters.Count]).ToArray();
        _bufferTensors = ParamGroups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
    }

    /// <inheritdoc/>
    public override bool UsesBetas => false;

    /// <summary>The momentum buffer of parameter <paramref name="index"/> in group <paramref name="group"/> (null before the first step).</summary>
    public Tensor? MomentumBuffer(int group, int index) => _bufferTensors[group][index];

    /// <summary>
    /// Restores the momentum buffer of parameter <paramref name="index"/> in group <paramref name="group"/> (from a
    /// checkpoint): the optimizer keeps its own detached copy on the parameter's device and dtype; null clears it (the
    /// next step then starts the buffer from the gradient, as the first step does).
    /// </summary>
    /// <exception cref="ArgumentException">The buffer's shape differs from the parameter's.</exception>
    public void SetMomentumBuffer(int group, int index, Tensor? buffer)
    {
        var copy = OptimizerState.CopyFor(ParamGroups[group].Parameters[index], buffer, $"momentum buffer of parameter {index} in group {group}");
        _bufferTensors[group][index]?.Dispose();
        _bufferTensors[group][index] = copy;
        _buffers[group][index] = copy is null ? IntPtr.Zero : copy.RawHandle;
    }

    /// <inheritdoc/>
    public override unsafe void Step()
    {
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            var g = ParamGroups[gi];
            if (g.Parameters.Count == 0) continue;
            var ps = Tensor.Handles(g.Parameters);
            var bufs = _buffers[gi];
            bool multi = Foreach ?? g.Parameters[0].Device.IsCuda;
            fixed (IntPtr* pp = ps, pb = bufs)
                Check(mlt_sgd_step(pp, pb, ps.Length, g.LearningRate, g.Momentum, Dampening, g.WeightDecay, Nesterov ? 1 : 0, Maximize ? 1 : 0, multi ? 1 : 0));
            GC.KeepAlive(g.Parameters);
            for (int i = 0; i < bufs.Length; i++)
                if (bufs[i] != IntPtr.Zero && _bufferTensors[gi][i] is null)
                    _bufferTensors[gi][i] = new Tensor(bufs[i]).DetachFromDisposeScope();
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        foreach (var group in _bufferTensors)
            for (int i = 0; i < group.Length; i++) { group[i]?.Dispose(); group[i] = null; }
        foreach (var b in _buffers) Array.Clear(b);
    }
}
