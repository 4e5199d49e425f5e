using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace MLNet.Attention.Transforms.Native;

/// <summary>Mirror of <c>mlt_image_info_t</c> in native/include/mlnet_image.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeImageInfo
{
    public int Width;
    public int Height;
    public int Channels;
    public int Format;
    public int Orientation;
    public int Bits;
}

/// <summary>
/// P/Invoke declarations of native/include/mlnet_image.h. The functions live in <c>libmlnet_torch.so</c>, which
/// MLNet.Attention.Torch resolves for its own assembly only; this assembly registers a resolver that searches the
/// same places in the same order (so both end up with the same loaded file).
/// </summary>
internal static unsafe class ImageNative
{
    internal const string Lib = "mlnet_torch";
    private const string FileName = "libmlnet_torch.so";
    private const string EnvVar = "MLNET_ATTENTION_NATIVE";

    internal const int Ok = 0, ErrCorrupt = -1, ErrNotImage = -2, ErrUnsupported = -3, ErrTooLarge = -4, ErrTruncated = -5, ErrEmpty = -6, ErrArgument = -7;

    private static readonly object Gate = new();
    private static IntPtr _handle;

    static ImageNative() => NativeLibrary.SetDllImportResolver(typeof(ImageNative).Assembly, Resolve);

    [DllImport(Lib)] private static extern IntPtr mlt_last_error();
    [DllImport(Lib)] internal static extern int mlt_image_info(byte* data, long len, int applyOrientation, long maxPixels, NativeImageInfo* info);
    [DllImport(Lib)] internal static extern int mlt_image_decode(byte* data, long len, int channels, int applyOrientation, long maxPixels, byte* output, long outputLength, NativeImageInfo* info);

    /// <summary>The calling thread's last native error message.</summary>
    internal static string LastError() => Marshal.PtrToStringUTF8(mlt_last_error()) ?? "";

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        lock (Gate)
        {
            if (_handle == IntPtr.Zero) _handle = Load();
            return _handle;
        }
    }

    /// <summary>The places MLNet.Attention.Torch searches, in its order: the environment variable, the application
    /// folder, runtimes/linux-x64/native under it, native/build of a source checkout above it.</summary>
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

    private static IntPtr Load()
    {
        var report = new StringBuilder();
        foreach (var c in Candidates())
        {
            if (!File.Exists(c))
            {
                report.Append("\n  - ").Append(c).Append(": no such file");
                continue;
            }
            try
            {
                var h = NativeLibrary.Load(c);
                if (NativeLibrary.TryGetExport(h, "mlt_image_decode", out _)) return h;
                report.Append("\n  - ").Append(c).Append(": loaded, but it was built without native/src/image.cpp (rebuild native/)");
            }
            catch (DllNotFoundException e)
            {
                report.Append("\n  - ").Append(c).Append(": found but could not be loaded: ").Append(e.Message);
            }
            catch (BadImageFormatException e)
            {
                report.Append("\n  - ").Append(c).Append(": not a loadable library for this process: ").Append(e.Message);
            }
        }
        throw new DllNotFoundException(
            $"MLNet.Attention could not load its native library {FileName} (image decoding and the C ABI over libtorch). Looked in:{report}\n" +
            $"Fix: run build/setup.sh (installs libtorch-dev and libstb-dev with apt, then builds native/ with CMake); or set {EnvVar} to the full path of a built {FileName}.");
    }
}
