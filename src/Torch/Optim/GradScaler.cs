using System.Globalization;
using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch.Optim;

/// <summary>
/// Dynamic loss scaling for float16 training, with the semantics of PyTorch's <c>torch.cuda.amp.GradScaler</c>:
/// <see cref="Scale"/> multiplies the loss by the scale so small float16 gradients do not flush to zero;
/// <see cref="Unscale_"/> divides an optimizer's gradients by it and records whether any is NaN or infinite;
/// <see cref="Step"/> runs the optimizer only when none was; <see cref="Update"/> halves the scale after such a step
/// (backoff) and doubles it after <see cref="GrowthInterval"/> consecutive clean steps (growth).
/// </summary>
/// <remarks>
/// <para>Works on every device: the check-and-unscale is one native call per device that uses libtorch's fused kernel for
/// CUDA gradients and plain tensor operations elsewhere; the scale and the growth tracker live on the host. One device
/// synchronisation per step reads the inf/NaN flag (PyTorch's <c>step</c> does the same).</para>
/// <code>
/// var scaler = new GradScaler();
/// optimizer.ZeroGrad();
/// Tensor loss;
/// using (TorchRuntime.Autocast(device, DType.Float16)) loss = F.CrossEntropy(model.Forward(x), y);
/// scaler.Scale(loss).Backward();
/// scaler.Unscale_(optimizer);               // optional: only to clip or inspect the true gradients
/// Tensor.ClipGradNorm(parameters, 1.0);
/// scaler.Step(optimizer);                   // skipped when a gradient was inf/NaN
/// scaler.Update();
/// </code>
/// </remarks>
public sealed class GradScaler
{
    private enum Stage { Ready, Unscaled, Stepped }

    private sealed class OptimizerRecord
    {
        public Stage Stage;
        /// <summary>One float32 flag per device of the optimizer's gradients (1: an inf/NaN was found).</summary>
        public List<Tensor> FoundInf { get; } = new();
        public double? FoundInfValue;
    }

    private readonly Dictionary<Optimizer, OptimizerRecord> _records = new(ReferenceEqualityComparer.Instance);
    private float _scale;
    private int _growthTracker;

    /// <summary>Creates a scaler (PyTorch's defaults: scale 65536, growth ×2 after 2000 clean steps, backoff ×0.5).</summary>
    /// <param name="initScale">The first scale, finite and &gt; 0.</param>
    /// <param name="growthFactor">Multiplies the scale after <paramref name="growthInterval"/> clean steps in a row, &gt; 1.</param>
    /// <param name="backoffFactor">Multiplies the scale after a step with inf/NaN gradients, in (0, 1).</param>
    /// <param name="growthInterval">Clean steps in a row before the scale grows, &gt;= 1.</param>
    /// <param name="enabled">False makes every method a pass-through (<see cref="Scale"/> returns the loss, <see cref="Step"/> just steps).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public GradScaler(double initScale = 65536.0, double growthFactor = 2.0, double backoffFactor = 0.5, int growthInterval = 2000, bool enabled = true)
    {
        if (!(initScale > 0) || !double.IsFinite(initScale) || !float.IsFinite((float)initScale))
            throw new ArgumentOutOfRangeException(nameof(initScale), initScale, "initScale must be a finite value > 0 (in float32's range)");
        if (!(growthFactor > 1) || !double.IsFinite(growthFactor))
            throw new ArgumentOutOfRangeException(nameof(growthFactor), growthFactor, "growthFactor must be a finite value > 1");
        if (!(backoffFactor > 0 && backoffFactor < 1))
            throw new ArgumentOutOfRangeException(nameof(backoffFactor), backoffFactor, "backoffFactor must be in (0, 1)");
        if (growthInterval < 1)
            throw new ArgumentOutOfRangeException(nameof(growthInterval), growthInterval, "growthInterval must be >= 1");
        _scale = (float)initScale;
        GrowthFactor = growthFactor;
        BackoffFactor = backoffFactor;
        GrowthInterval = growthInterval;
        Enabled = enabled;
    }

    /// <summary>Whether the scaler scales (false: pass-through).</summary>
    public bool Enabled { get; }

    /// <summary>The growth factor.</summary>
    public double GrowthFactor { get; }

    /// <summary>The backoff factor.</summary>
    public double BackoffFactor { get; }

    /// <summary>Clean steps in a row before the scale grows.</summary>
    public int GrowthInterval { get; }

    /// <summary>Use libtorch's fused CUDA kernel to check and unscale CUDA gradients (default true); false: plain tensor
    /// operations, as on the CPU (the results are equal).</summary>
    public bool UseFusedCudaKernel { get; set; } = true;

    /// <summary>The current scale (a float32 value, as PyTorch keeps it); 1 when not <see cref="Enabled"/>.</summary>
    public double ScaleValue => Enabled ? _scale : 1.0;

    /// <summary>Clean steps since the last growth or backoff (PyTorch's <c>_growth_tracker</c>).</summary>
    public int GrowthTracker => _growthTracker;

    /// <summary>Restores the scale and the growth tracker (from a checkpoint: <see cref="ScaleValue"/> and <see cref="GrowthTracker"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The scale is not finite and &gt; 0, or the tracker is outside [0, <see cref="GrowthInterval"/>).</exception>
    public void LoadState(double scale, int growthTracker)
    {
        if (!(scale > 0) || !float.IsFinite((float)scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale must be a finite float32 value > 0");
        if (growthTracker < 0 || growthTracker >= GrowthInterval)
            throw new ArgumentOutOfRangeException(nameof(growthTracker), growthTracker, string.Create(CultureInfo.InvariantCulture, $"the growth tracker must be in [0, {GrowthInterval})"));
        _scale = (float)scale;
        _growthTracker = growthTracker;
    }

    /// <summary>The loss multiplied by the scale (in the loss's dtype); the loss itself when not <see cref="Enabled"/>.</summary>
    public Tensor Scale(Tensor loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        return Enabled ? loss.Mul(_scale) : loss;
    }

    /// <summary>
    /// Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale, in place, and records whether any
    /// of them holds a NaN or an infinity (for <see cref="Step"/> and <see cref="Update"/>). Call it at most once per
    /// optimizer between updates, before <see cref="Step"/> (which calls it when it was not), e.g. to clip gradients.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called twice since the last <see cref="Update"/>, or after <see cref="Step"/>.</exception>
    /// <exception cref="ArgumentException">A gradient is float16 (PyTorch refuses to unscale float16 gradients: keep the parameters in float32).</exception>
    public void Unscale_(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!Enabled) return;
        var record = Record(optimizer);
        if (record.Stage == Stage.Unscaled)
            throw new InvalidOperationException("Unscale_() has already been called on this optimizer since the last Update()");
        if (record.Stage == Stage.Stepped)
            throw new InvalidOperationException("Unscale_() is being called after Step()");
        UnscaleGrads(optimizer, record);
        record.Stage = Stage.Unscaled;
    }

    /// <summary>
    /// Runs <paramref name="optimizer"/>'s step unless the gradients held a NaN or an infinity (unscaling them first when
    /// <see cref="Unscale_"/> was not called). Returns whether the step ran.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called twice since the last <see cref="Update"/>.</exception>
    public bool Step(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!Enabled)
        {
            optimizer.Step();
            return true;
        }
        var record = Record(optimizer);
        if (record.Stage == Stage.Stepped)
            throw new InvalidOperationException("Step() has already been called since the last Update()");
        if (record.Stage == Stage.Ready) UnscaleGrads(optimizer, record);
        bool ok = FoundInf(record) == 0;
        if (ok) optimizer.Step();
        record.Stage = Stage.Stepped;
        return ok;
    }

    /// <summary>
    /// Updates the scale from the inf/NaN checks since the last update: times <see cref="BackoffFactor"/> (and the growth
    /// tracker reset) when any optimizer's gradients held one; otherwise the tracker counts the clean step and, on reaching
    /// <see cref="GrowthInterval"/>, the scale grows by <see cref="GrowthFactor"/> (when the result is finite) and the tracker
    /// restarts. With <paramref name="newScale"/>, the scale is set to it instead (the tracker is kept).
    /// </summary>
    /// <exception cref="InvalidOperationException">No optimizer was unscaled or stepped since the last update.</exception>
    public void Update(double? newScale = null)
    {
        if (!Enabled) return;
        try
        {
            if (newScale is { } s)
            {
                if (!(s > 0) || !float.IsFinite((float)s))
                    throw new ArgumentOutOfRangeException(nameof(newScale), s, "newScale must be a finite float32 value > 0");
                _scale = (float)s;
                return;
            }
            var checkedRecords = _records.Values.Where(r => r.Stage != Stage.Ready).ToList();
            if (checkedRecords.Count == 0)
                throw new InvalidOperationException("No inf checks were recorded prior to Update(): call Unscale_() or Step() first");
            bool found = checkedRecords.Any(r => FoundInf(r) != 0);
            if (found)
            {
                _scale = (float)(_scale * BackoffFactor);
                _growthTracker = 0;
            }
            else if (_growthTracker + 1 == GrowthInterval)
            {
                float grown = (float)(_scale * GrowthFactor);
                if (float.IsFinite(grown)) _scale = grown;
                _growthTracker = 0;
            }
            else
            {
                _growthTracker++;
            }
        }
        finally
        {
            foreach (var r in _records.Values) Reset(r);
            _records.Clear();
        }
    }

    private OptimizerRecord Record(Optimizer optimizer)
    {
        if (!_records.TryGetValue(optimizer, out var record)) _records[optimizer] = record = new OptimizerRecord();
        return record;
    }

    private static void Reset(OptimizerRecord record)
    {
        foreach (var t in record.FoundInf) t.Dispose();
        record.FoundInf.Clear();
        record.FoundInfValue = null;
        record.Stage = Stage.Ready;
    }

    private static double FoundInf(OptimizerRecord record)
    {
        if (record.FoundInfValue is { } v) return v;
        double sum = 0;
        foreach (var t in record.FoundInf) sum += t.Item();
        record.FoundInfValue = sum;
        return sum;
    }

    private unsafe void UnscaleGrads(Optimizer optimizer, OptimizerRecord record)
    {
        // PyTorch: inv_scale = scale.double().reciprocal().float().
        float inv = (float)(1.0 / _scale);
        var byDevice = new Dictionary<Device, List<Tensor>>();
        var grads = new List<Tensor>();
        try
        {
            foreach (var group in optimizer.ParamGroups)
                foreach (var p in group.Parameters)
                {
                    var g = p.Grad;
                    if (g is null) continue;
                    grads.Add(g);
                    if (g.DType == DType.Float16)
                        throw new ArgumentException("Attempting to unscale float16 gradients: the parameters must stay in float32 under mixed precision (autocast casts them per operation)", nameof(optimizer));
                    var d = g.Device;
                    if (!byDevice.TryGetValue(d, out var list)) byDevice[d] = list = new List<Tensor>();
                    list.Add(g);
                }
            foreach (var (device, list) in byDevice)
            {
                var found = Tensor.Zeros(Array.Empty<long>(), DType.Float32, device).DetachFromDisposeScope();
                record.FoundInf.Add(found);
                using var invScale = Tensor.Full(Array.Empty<long>(), inv, DType.Float32, device);
                var hs = Tensor.Handles(list);
                fixed (IntPtr* ph = hs)
                    Check(mlt_amp_unscale_(ph, hs.Length, found.Handle, invScale.Handle, UseFusedCudaKernel ? 1 : 0));
                GC.KeepAlive(list);
            }
        }
        finally
        {
            foreach (var g in grads) g.Dispose();
        }
    }
}
