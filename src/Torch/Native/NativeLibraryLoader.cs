using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace MLNet.Attention.Torch.Native;

/// <summary>
/// Finds and loads <c>libmlnet_torch.so</c> (our C ABI over libtorch). Searched, in order: the path in
/// <c>MLNET_ATTENTION_NATIVE</c>, the application folder, <c>runtimes/linux-x64/native</c> under it, and
/// <c>native/build</c> of a source checkout above it. When nothing loads, the error lists every place and
/// why it failed (file missing, or libtorch itself missing), and the command that fixes it.
/// </summary>
internal static unsafe class NativeLibraryLoader
{
    internal const string FileName = "libmlnet_torch.so";
    internal const string EnvVar = "MLNET_ATTENTION_NATIVE";
    internal const string FixCommand = "build/setup.sh (installs libtorch-dev, libopenblas0-pthread and libstb-dev with apt, then builds native/ with CMake)";

    private static int _registered;
    private static IntPtr _handle;
    private static readonly object Gate = new();

    internal static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
    }

    /// <summary>Lets another assembly's <c>[DllImport("mlnet_torch")]</c> declarations resolve to the same loaded library.</summary>
    internal static void RegisterFor(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        if (assembly == typeof(NativeLibraryLoader).Assembly) { EnsureRegistered(); return; }
        NativeLibrary.SetDllImportResolver(assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != NativeMethods.Lib) return IntPtr.Zero;
        lock (Gate)
        {
            if (_handle != IntPtr.Zero) return _handle;
            _handle = Load(Candidates());
            ApplyDefaultThreads(_handle);
            ApplyAllocatorTuning(_handle);
            return _handle;
        }
    }

    /// <summary>The places searched, in order.</summary>
    internal static IEnumerable<string> Candidates()
    {
        var env = Environment.GetEnvironmentVariable(EnvVar);
        if (!string.IsNullOrWhiteSpace(env)) yield return env;
        var baseDir = AppContext.BaseDirectory;
        yield return Path.Combine(baseDir, FileName);
        yield return Path.Combine(baseDir, "runtimes", "linux-x64", "native", FileName);
        for (var dir = new DirectoryInfo(baseDir); dir != null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "native", "build", FileName);
            if (File.Exists(p)) { yield return p; break; }
        }
    }

    /// <summary>Loads the first candidate that loads, or throws <see cref="DllNotFoundException"/> explaining each failure.</summary>
    internal static IntPtr Load(IEnumerable<string> candidates)
    {
        var report = new StringBuilder();
        foreach (var c in candidates)
        {
            if (!File.Exists(c))
            {
                report.Append("\n  - ").Append(c).Append(": no such file");
                continue;
            }
            try
            {
                return NativeLibrary.Load(c);
            }
            catch (DllNotFoundException e)
            {
                // dlopen's reason: typically libtorch_cpu.so / libc10.so missing from the loader's path.
                report.Append("\n  - ").Append(c).Append(": found but could not be loaded: ").Append(e.Message);
            }
            catch (BadImageFormatException e)
            {
                report.Append("\n  - ").Append(c).Append(": not a loadable library for this process: ").Append(e.Message);
            }
        }
        throw new DllNotFoundException(
            $"MLNet.Attention could not load its native library {FileName} (the C ABI over libtorch). Looked in:{report}\n" +
            $"Fix: run {FixCommand}; or set {EnvVar} to the full path of a built {FileName}. " +
            "For a CUDA or pip libtorch, build native/ with LIBTORCH_DIR=/path/to/libtorch and make its lib/ folder visible to the loader (LD_LIBRARY_PATH).");
    }

    /// <summary>
    /// glibc returns libtorch's multi-megabyte activation buffers to the OS and faults them in again every training step
    /// (10–25% of a step on 2 cores, measured by build/bench). Pinning malloc's mmap threshold at 32 MiB and trim
    /// threshold at 1 GiB keeps them reused, at the cost of RSS staying at its peak. MLNET_ATTENTION_MALLOC_TUNING=0 opts out.
    /// </summary>
    private static void ApplyAllocatorTuning(IntPtr handle)
    {
        if (Environment.GetEnvironmentVariable("MLNET_ATTENTION_MALLOC_TUNING") == "0") return;
        var fn = (delegate* unmanaged<long, long, int>)NativeLibrary.GetExport(handle, "mlt_configure_malloc");
        AllocatorTuned = fn(32L << 20, 1L << 30) == 1;
    }

    /// <summary>True when the glibc allocator thresholds were pinned at load.</summary>
    internal static bool AllocatorTuned { get; private set; }

    /// <summary>libtorch starts with one intra-op thread here; use every core unless the user chose a number.</summary>
    private static void ApplyDefaultThreads(IntPtr handle)
    {
        int n = Environment.ProcessorCount;
        var env = Environment.GetEnvironmentVariable("MLNET_ATTENTION_NUM_THREADS") ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS");
        if (int.TryParse(env, out var requested) && requested > 0) n = requested;
        var fn = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(handle, "mlt_set_num_threads");
        fn(n);
    }
}
