using MLNet.Attention.Torch.Native;

namespace MLNet.Attention.Torch;

/// <summary>
/// Mixed precision for training and inference: the lower-precision type autocast runs matrix products and
/// convolutions in (PyTorch's <c>torch.autocast(device_type, dtype)</c>).
/// </summary>
public enum MixedPrecision
{
    /// <summary>Everything in float32 (the default).</summary>
    None,
    /// <summary>Autocast to bfloat16: float32's range with 8 bits of mantissa, so no loss scaling is needed. Runs on the CPU
    /// (libtorch 1.13 and later) and on CUDA GPUs of compute capability 8.0 or higher (A100, H100, ...).</summary>
    BFloat16,
    /// <summary>Autocast to float16 with a <see cref="Optim.GradScaler"/> against gradient underflow: CUDA only with libtorch
    /// before 2.4 (its CPU autocast takes bfloat16 only).</summary>
    Float16,
}

/// <summary>Facts about <see cref="MixedPrecision"/> values.</summary>
public static class MixedPrecisionExtensions
{
    /// <summary>The dtype autocast casts to (<see cref="DType.Float32"/> for <see cref="MixedPrecision.None"/>).</summary>
    public static DType ToDType(this MixedPrecision precision) => precision switch
    {
        MixedPrecision.None => DType.Float32,
        MixedPrecision.BFloat16 => DType.BFloat16,
        MixedPrecision.Float16 => DType.Float16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "None, BFloat16 or Float16"),
    };
}

public static partial class TorchRuntime
{
    /// <summary>
    /// Autocast on this thread for <paramref name="device"/>'s kind until disposed, as PyTorch's
    /// <c>with torch.autocast(device.type, dtype=dtype)</c>: eligible operations (convolutions, matrix products, linear
    /// layers) run in <paramref name="dtype"/>, precision-sensitive ones (losses, reductions such as log-softmax) in float32,
    /// and the rest in the widest type of their inputs. Float32 weights are cast once per scope and cached (the cache is
    /// cleared when the outermost scope closes). Scopes nest; disposing one restores the state it found. Run the backward
    /// pass after the scope, as in PyTorch.
    /// </summary>
    /// <param name="device">The device kind to autocast (the index does not matter: autocast is per kind).</param>
    /// <param name="dtype"><see cref="DType.BFloat16"/> or <see cref="DType.Float16"/> (CUDA only with libtorch before 2.4).</param>
    /// <param name="enabled">False opens a scope that turns autocast off inside it (<c>torch.autocast(..., enabled=False)</c>).</param>
    /// <param name="cacheEnabled">Cache the casts of float32 leaf tensors that require grad (weights) inside the scope.</param>
    /// <returns>The scope; dispose it on the thread that opened it (autocast is thread-local in libtorch).</returns>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is neither bfloat16 nor float16.</exception>
    /// <exception cref="TorchException">The libtorch build cannot autocast that device kind to that dtype (the message says why).</exception>
    public static IDisposable Autocast(Device device, DType dtype, bool enabled = true, bool cacheEnabled = true)
    {
        if (enabled && dtype is not (DType.BFloat16 or DType.Float16))
            throw new ArgumentException($"autocast runs in BFloat16 or Float16, not {dtype}", nameof(dtype));
        return new AutocastScope(device.Type, dtype, enabled, cacheEnabled);
    }

    /// <summary>
    /// Autocast for <paramref name="precision"/> (see <see cref="Autocast(Device, DType, bool, bool)"/>);
    /// <see cref="MixedPrecision.None"/> returns a scope that changes nothing.
    /// </summary>
    public static IDisposable Autocast(Device device, MixedPrecision precision) =>
        precision == MixedPrecision.None ? NoScope.Instance : Autocast(device, precision.ToDType());

    /// <summary>Whether autocast is on for <paramref name="type"/> on this thread.</summary>
    public static bool IsAutocastEnabled(DeviceType type)
    {
        int r = NativeMethods.mlt_autocast_is_enabled((int)type);
        NativeMethods.Check(r);
        return r == 1;
    }

    /// <summary>The dtype autocast casts to for <paramref name="type"/> on this thread (libtorch's default: bfloat16 for the CPU, float16 for CUDA).</summary>
    public static DType AutocastDType(DeviceType type)
    {
        int r = NativeMethods.mlt_autocast_dtype((int)type);
        NativeMethods.Check(r);
        return (DType)r;
    }

    /// <summary>
    /// Whether cuDNN convolutions may use TensorFloat-32 on Ampere and newer GPUs (<c>torch.backends.cudnn.allow_tf32</c>;
    /// libtorch's default: true). TF32 keeps 10 bits of mantissa, so float32 results then differ from the CPU's by ~1e-3
    /// relative; set false for float32-exact comparisons. Process-wide; no effect on the CPU.
    /// </summary>
    public static bool AllowTF32CuDnn
    {
        get => (NativeMethods.mlt_get_allow_tf32() & 1) != 0;
        set => NativeMethods.Check(NativeMethods.mlt_set_allow_tf32(value ? 1 : 0, -1));
    }

    /// <summary>Whether cuBLAS matrix products may use TensorFloat-32 (<c>torch.backends.cuda.matmul.allow_tf32</c>; default false). Process-wide.</summary>
    public static bool AllowTF32CuBlas
    {
        get => (NativeMethods.mlt_get_allow_tf32() & 2) != 0;
        set => NativeMethods.Check(NativeMethods.mlt_set_allow_tf32(-1, value ? 1 : 0));
    }

    private sealed class AutocastScope : IDisposable
    {
        private IntPtr _scope;
        private readonly int _thread = Environment.CurrentManagedThreadId;

        public AutocastScope(DeviceType type, DType dtype, bool enabled, bool cacheEnabled) =>
            _scope = NativeMethods.Check(NativeMethods.mlt_autocast_enter((int)type, (int)dtype, enabled ? 1 : 0, cacheEnabled ? 1 : 0));

        public void Dispose()
        {
            if (_scope == IntPtr.Zero) return;
            if (Environment.CurrentManagedThreadId != _thread)
                throw new InvalidOperationException("an Autocast scope must be disposed on the thread that opened it (autocast is thread-local in libtorch)");
            var scope = _scope;
            _scope = IntPtr.Zero;
            NativeMethods.Check(NativeMethods.mlt_autocast_exit(scope));
        }
    }

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}
