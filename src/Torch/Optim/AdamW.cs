using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Adam with decoupled weight decay — <c>torch.optim.AdamW</c> of PyTorch 1.13 step for step (one native call
/// updates every parameter).
/// </summary>
public sealed class AdamW : Optimizer
{
    private readonly IntPtr[][] _m, _v, _vmax;
    private readonly Tensor?[][] _mT, _vT, _vmaxT;
    private readonly long[][] _steps;

    /// <summary>Added to the denominator.</summary>
    public double Eps { get; }
    /// <summary>Use the AMSGrad variant.</summary>
    public bool AmsGrad { get; }
    /// <summary>Maximise instead of minimise.</summary>
    public bool Maximize { get; }

    /// <summary>
    /// PyTorch's <c>foreach</c>: true updates all parameters with one multi-tensor operation per step of the rule
    /// (<c>torch._foreach_*</c>: a few fused kernel launches on CUDA instead of about ten per parameter), false one
    /// parameter at a time; null (the default, as PyTorch 2) chooses the multi-tensor form when the parameters are on
    /// CUDA. Both give the same values.
    /// </summary>
    public bool? Foreach { get; set; }

    /// <summary>Creates the optimizer over <paramref name="parameters"/> (PyTorch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2).</summary>
    public AdamW(IEnumerable<Tensor> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 1e-2, bool amsGrad = false, bool maximize = false)
        : this(new[] { new ParamGroup(parameters.ToList(), learningRate) { Beta1 = beta1, Beta2 = beta2, WeightDecay = weightDecay } }, eps, amsGrad, maximize) { }

    /// <summary>Creates the optimizer over several groups.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double eps = 1e-8, bool amsGrad = false, bool maximize = false) : base(groups)
    {
        foreach (var g in ParamGroups)
        {
            if (g.Beta1 < 0 || g.Beta1 >= 1) throw new ArgumentOutOfRangeException(nameof(groups), g.Beta1, "beta1 must be in [0, 1)");
            if (g.Beta2 < 0 || g.Beta2 >= 1) throw new ArgumentOutOfRangeException(nameof(groups), g.Beta2, "beta2 must be in [0, 1)");
            if (g.WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(groups), g.WeightDecay, "weight decay must be >= 0");
        }
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be >= 0");
        Eps = eps; AmsGrad = amsGrad; Maximize = maximize;
        IntPtr[][] Handles() => ParamGroups.Select(g => new IntPtr[g.Parameters.Count]).ToArray();
        Tensor?[][] Tensors() => ParamGroups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
        _m = Handles(); _v = Handles(); _vmax = Handles();
        _mT = Tensors(); _vT = Tensors(); _vmaxT = Tensors();
        _steps = ParamGroups.Select(g => new long[g.Parameters.Count]).ToArray();
    }

    /// <inheritdoc/>
    public override bool UsesBetas => true;

    /// <summary>First moment of parameter <paramref name="index"/> in group <paramref name="group"/> (null before its first step).</summary>
    public Tensor? ExpAvg(int group, int index) => _mT[group][index];
    /// <summary>Second moment of parameter <paramref name="index"/> in group <paramref name="group"/>.</summary>
    public Tensor? ExpAvgSq(int group, int index) => _vT[group][index];
    /// <summary>The AMSGrad running maximum of the second moment of parameter <paramref name="index"/> (null without AMSGrad or before its first step).</summary>
    public Tensor? MaxExpAvgSq(int group, int index) => _vmaxT[group][index];

    /// <summary>
    /// Restores the state of parameter <paramref name="index"/> in group <paramref name="group"/> (from a checkpoint):
    /// copies of the moments (detached, on the parameter's device and dtype) and the step count. Null moments clear
    /// them (the next step starts them at zero, as the first step does).
    /// </summary>
    /// <exception cref="ArgumentException">A moment's shape differs from the parameter's.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stepCount"/> is negative.</exception>
    public void SetState(int group, int index, Tensor? expAvg, Tensor? expAvgSq, Tensor? maxExpAvgSq, long stepCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepCount);
        var p = ParamGroups[group].Parameters[index];
        var m = OptimizerState.CopyFor(p, expAvg, $"exp_avg of parameter {index} in group {group}");
        var v = OptimizerState.CopyFor(p, expAvgSq, $"exp_avg_sq of parameter {index} in group {group}");
        var vmax = OptimizerState.CopyFor(p, maxExpAvgSq, $"max_exp_avg_sq of parameter {index} in group {group}");
        Replace(_m, _mT, group, index, m);
        Replace(_v, _vT, group, index, v);
        Replace(_vmax, _vmaxT, group, index, vmax);
        _steps[group][index] = stepCount;
    }

    private static void Replace(IntPtr[][] handles, Tensor?[][] tensors, int group, int index, Tensor? value)
    {
        tensors[group][index]?.Dispose();
        tensors[group][index] = value;
        handles[group][index] = value is null ? IntPtr.Zero : value.RawHandle;
    }

    /// <summary>Number of updates parameter <paramref name="index"/> of group <paramref name="group"/> received.</summary>
    public long StepCount(int group, int index) => _steps[group][index];

    /// <inheritdoc/>
    public override unsafe void Step()
    {
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            var g = ParamGroups[gi];
            if (g.Parameters.Count == 0) continue;
            var ps = Tensor.Handles(g.Parameters);
            bool multi = Foreach ?? g.Parameters[0].Device.IsCuda;
            fixed (IntPtr* pp = ps, pm = _m[gi], pv = _v[gi], pvm = _vmax[gi])
            fixed (long* st = _steps[gi])
                Check(mlt_adamw_step(pp, pm, pv, pvm, st, ps.Length, g.LearningRate, g.Beta1, g.Beta2, Eps, g.WeightDecay, AmsGrad ? 1 : 0, Maximize ? 1 : 0, multi ? 1 : 0));
            GC.KeepAlive(g.Parameters);
            Adopt(_m[gi], _mT[gi]);
            Adopt(_v[gi], _vT[gi]);
            Adopt(_vmax[gi], _vmaxT[gi]);
        }
    }

    private static void Adopt(IntPtr[] handles, Tensor?[] tensors)
    {
        for (int i = 0; i < handles.Length; i++)
            if (handles[i] != IntPtr.Zero && tensors[i] is null)
                tensors[i] = new Tensor(handles[i]).DetachFromDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        foreach (var arr in new[] { _mT, _vT, _vmaxT })
            foreach (var group in arr)
                for (int i = 0; i < group.Length; i++) { group[i]?.Dispose(); group[i] = null; }
        foreach (var arr in new[] { _m, _v, _vmax })
            foreach (var b in arr) Array.Clear(b);
    }
}
