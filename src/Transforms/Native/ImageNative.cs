using MLNet.Attention.Torch;
using System.Runtime.InteropServices;

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
/// MLNet.Attention.Torch loads; <see cref="TorchRuntime.RegisterNativeLibraryResolver"/> makes these declarations
/// resolve to that same library.
/// </summary>
internal static unsafe class ImageNative
{
    internal const string Lib = "mlnet_torch";

    internal const int Ok = 0, ErrCorrupt = -1, ErrNotImage = -2, ErrUnsupported = -3, ErrTooLarge = -4, ErrTruncated = -5, ErrEmpty = -6, ErrArgument = -7;

    static ImageNative() => TorchRuntime.RegisterNativeLibraryResolver(typeof(ImageNative).Assembly);

    [DllImport(Lib)] private static extern IntPtr mlt_last_error();
    [DllImport(Lib)] internal static extern int mlt_image_info(byte* data, long len, int applyOrientation, long maxPixels, NativeImageInfo* info);
    [DllImport(Lib)] internal static extern int mlt_image_decode(byte* data, long len, int channels, int applyOrientation, long maxPixels, byte* output, long outputLength, NativeImageInfo* info);

    [DllImport(Lib)] private static extern int mlt_file_kind([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    internal const int FileRegular = 1, FileDirectory = 2, FileFifo = 3, FileCharDevice = 4, FileBlockDevice = 5, FileSocket = 6;

    /// <summary>What <paramref name="path"/> is when it is neither a regular file, a folder nor missing/unreadable
    /// (those are left to the file APIs' own errors): "a FIFO (named pipe)", "a character device", ...; else null.</summary>
    internal static string? SpecialFileKind(string path) => mlt_file_kind(path) switch
    {
        FileFifo => "a FIFO (named pipe)",
        FileCharDevice => "a character device",
        FileBlockDevice => "a block device",
        FileSocket => "a socket",
        > FileSocket => "not a regular file",
        _ => null,
    };

    /// <summary>The calling thread's last native error message.</summary>
    internal static string LastError() => Marshal.PtrToStringUTF8(mlt_last_error()) ?? "";
}
