using System.Runtime.InteropServices;
using MLNet.Attention.Torch.Native;

namespace MLNet.Attention.Torch;

/// <summary>Process-wide libtorch settings: threads, seeds, CUDA availability, grad mode.</summary>
public static partial class TorchRuntime
{
    /// <summary>The libtorch version the native library was built against.</summary>
    public static string Version => Marshal.PtrToStringUTF8(NativeMethods.mlt_version()) ?? "unknown";

    /// <summary>
    /// Intra-op threads. Defaults to the number of cores (libtorch alone would use one here), or to
    /// <c>MLNET_ATTENTION_NUM_THREADS</c> / <c>OMP_NUM_THREADS</c> when set.
    /// </summary>
    public static int NumThreads
    {
        get => NativeMethods.mlt_get_num_threads();
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "thread count must be >= 1");
            NativeMethods.Check(NativeMethods.mlt_set_num_threads(value));
        }
    }

    /// <summary>
    /// True when MLNet.Attention pinned glibc's malloc thresholds at load so libtorch's large buffers are reused
    /// between steps (set MLNET_ATTENTION_MALLOC_TUNING=0 before the first tensor to opt out).
    /// </summary>
    public static bool CpuAllocatorTuned
    {
        get
        {
            _ = NumThreads; // loads the native library if nothing has yet
            return NativeLibraryLoader.AllocatorTuned;
        }
    }

    /// <summary>
    /// Makes <c>[DllImport("mlnet_torch")]</c> declarations in <paramref name="assembly"/> resolve to the native library this
    /// package loads (same search order, same error message), for assemblies that add their own native entry points.
    /// Call once per assembly, before its first native call (e.g. from a static constructor).
    /// </summary>
    public static void RegisterNativeLibraryResolver(System.Reflection.Assembly assembly) => NativeLibraryLoader.RegisterFor(assembly);

    /// <summary>Seeds libtorch's CPU and CUDA generators (<c>torch.manual_seed</c>).</summary>
    public static void ManualSeed(ulong seed) => NativeMethods.Check(NativeMethods.mlt_manual_seed(seed));

    /// <summary>True when the native library was built against a CUDA libtorch and a GPU is visible.</summary>
    public static bool CudaIsAvailable => NativeMethods.mlt_cuda_is_available() == 1;

    /// <summary>Number of visible CUDA devices (0 on a CPU build).</summary>
    public static int CudaDeviceCount => NativeMethods.mlt_cuda_device_count();

    /// <summary>Waits for every kernel queued on a CUDA device.</summary>
    public static void CudaSynchronize(int deviceIndex = 0) => NativeMethods.Check(NativeMethods.mlt_cuda_synchronize(deviceIndex));

    /// <summary>Whether autograd records operations on this thread.</summary>
    public static bool IsGradEnabled => NativeMethods.mlt_is_grad_enabled() == 1;

    /// <summary>Disables gradient recording on this thread until disposed (<c>torch.no_grad()</c>).</summary>
    public static IDisposable NoGrad() => new GradModeGuard(false);

    /// <summary>Enables gradient recording on this thread until disposed (<c>torch.enable_grad()</c>).</summary>
    public static IDisposable EnableGrad() => new GradModeGuard(true);

    /// <summary>
    /// Inference mode on this thread until disposed (<c>torch.inference_mode()</c>): faster than no-grad; tensors
    /// created inside cannot later take part in autograd. Dispose on the thread that created it.
    /// </summary>
    public static IDisposable InferenceMode() => new InferenceModeGuard();

    private sealed class GradModeGuard : IDisposable
    {
        private readonly int _previous;
        private bool _disposed;
        public GradModeGuard(bool enabled) => _previous = NativeMethods.mlt_set_grad_enabled(enabled ? 1 : 0);
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            NativeMethods.mlt_set_grad_enabled(_previous);
        }
    }

    private sealed class InferenceModeGuard : IDisposable
    {
        private IntPtr _guard;
        private readonly int _thread = Environment.CurrentManagedThreadId;
        public InferenceModeGuard() => _guard = NativeMethods.Check(NativeMethods.mlt_inference_mode_enter());
        public void Dispose()
        {
            if (_guard == IntPtr.Zero) return;
            if (Environment.CurrentManagedThreadId != _thread)
                throw new InvalidOperationException("an InferenceMode scope must be disposed on the thread that opened it (it is thread-local in libtorch)");
            NativeMethods.Check(NativeMethods.mlt_inference_mode_exit(_guard));
            _guard = IntPtr.Zero;
        }
    }
}
