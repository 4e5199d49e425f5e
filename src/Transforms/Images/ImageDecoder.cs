using MLNet.Attention.Transforms.Native;

namespace MLNet.Attention.Transforms;

/// <summary>Encoded image formats the decoder reads.</summary>
public enum ImageFormat
{
    /// <summary>Not known.</summary>
    Unknown = 0,
    /// <summary>JPEG (baseline and progressive; EXIF orientation applied).</summary>
    Jpeg = 1,
    /// <summary>PNG (1 to 16 bits, gray, gray+alpha, palette, RGB, RGBA).</summary>
    Png = 2,
    /// <summary>Windows bitmap (uncompressed).</summary>
    Bmp = 3,
    /// <summary>GIF (first frame).</summary>
    Gif = 4,
    /// <summary>Truevision TGA.</summary>
    Tga = 5,
    /// <summary>Binary PGM/PPM (P5, P6).</summary>
    Pnm = 6,
}

/// <summary>What <see cref="ImageDecoder.GetInfo(ReadOnlySpan{byte}, ImageDecodeOptions?, string?)"/> reads from a header.</summary>
/// <param name="Width">Width in pixels (after the EXIF orientation when it is applied).</param>
/// <param name="Height">Height in pixels (after the EXIF orientation when it is applied).</param>
/// <param name="Channels">Channels stored in the file: 1, 2, 3 or 4.</param>
/// <param name="Format">The encoded format.</param>
/// <param name="Orientation">JPEG EXIF orientation, 1 (none) to 8.</param>
/// <param name="BitsPerSample">8 or 16.</param>
public readonly record struct ImageInfo(int Width, int Height, int Channels, ImageFormat Format, int Orientation, int BitsPerSample);

/// <summary>Limits and switches of the decoder.</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>Pillow's DecompressionBombError threshold (2 × 89,478,485 pixels), the default pixel limit.</summary>
    public const long DefaultMaxPixels = 178_956_970;

    /// <summary>The default options.</summary>
    public static ImageDecodeOptions Default { get; } = new();

    /// <summary>Images whose header declares more pixels (width × height) are refused before any pixel is decoded.
    /// 0 or less: no limit.</summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Files larger than this many bytes are refused without being read (default 1 GiB).</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;

    /// <summary>Rotate/flip JPEGs as their EXIF orientation tag says (default true, like Pillow's exif_transpose).</summary>
    public bool ApplyExifOrientation { get; init; } = true;
}

/// <summary>
/// Decodes JPEG, PNG, BMP, GIF, TGA and PNM images (stb_image inside libmlnet_torch.so) to <see cref="ImageData"/>.
/// Every failure is an <see cref="ImageDataException"/> naming the source and the reason: empty, truncated, corrupt,
/// not an image, an unsupported format, or more pixels than <see cref="ImageDecodeOptions.MaxPixels"/>.
/// Decoding is thread-safe.
/// </summary>
public static unsafe class ImageDecoder
{
    /// <summary>File extensions of the formats the decoder reads (lower case, with the dot).</summary>
    public static IReadOnlySet<string> Extensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm",
    };

    /// <summary>Reads size, channels and format from the header, without decoding pixels.</summary>
    public static ImageInfo GetInfo(ReadOnlySpan<byte> data, ImageDecodeOptions? options = null, string? source = null)
    {
        options ??= ImageDecodeOptions.Default;
        NativeImageInfo info;
        int rc;
        fixed (byte* p = data)
            rc = ImageNative.mlt_image_info(p, data.Length, options.ApplyExifOrientation ? 1 : 0, options.MaxPixels, &info);
        if (rc != ImageNative.Ok) throw Error(rc, source ?? "<memory>");
        return ToInfo(info);
    }

    /// <summary>Reads size, channels and format from the header of a file.</summary>
    public static ImageInfo GetInfo(string path, ImageDecodeOptions? options = null) =>
        GetInfo(ReadFile(path, options), options, path);

    /// <summary>Decodes an encoded image to <paramref name="channels"/> channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    /// Gray becomes RGB by replication; alpha is dropped without compositing (Pillow's convert("RGB")) or added as
    /// 255; colour becomes gray with Pillow's convert("L") weights (0.299 R + 0.587 G + 0.114 B, rounded).</summary>
    public static ImageData Decode(ReadOnlySpan<byte> data, int channels = 3, ImageDecodeOptions? options = null, string? source = null)
    {
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 1, 2, 3 or 4");
        options ??= ImageDecodeOptions.Default;
        source ??= "<memory>";
        int orient = options.ApplyExifOrientation ? 1 : 0;
        NativeImageInfo info;
        fixed (byte* p = data)
        {
            int rc = ImageNative.mlt_image_info(p, data.Length, orient, options.MaxPixels, &info);
            if (rc != ImageNative.Ok) throw Error(rc, source);
            var pixels = PixelArena.Allocate(checked(info.Width * info.Height * channels));
            fixed (byte* o = pixels)
                rc = ImageNative.mlt_image_decode(p, data.Length, channels, orient, options.MaxPixels, o, pixels.Length, &info);
            if (rc != ImageNative.Ok) throw Error(rc, source);
            return new ImageData(info.Width, info.Height, channels, pixels) { Source = source };
        }
    }

    /// <summary>Reads and decodes an image file (see <see cref="Decode"/>).</summary>
    public static ImageData Load(string path, int channels = 3, ImageDecodeOptions? options = null)
    {
        if (PixelArena.Current is { } arena)
        {
            // Inside a loader worker: the file goes into the worker's scratch buffer.
            byte[]? buf = null;
            int n = ReadCore(path, options ?? ImageDecodeOptions.Default, len => buf = arena.FileBuffer(len));
            return Decode(buf.AsSpan(0, n), channels, options, path);
        }
        return Decode(ReadFile(path, options), channels, options, path);
    }

    /// <summary>
    /// The bytes of a file, or an <see cref="ImageDataException"/>: missing, unreadable (permissions, I/O error, a
    /// folder), empty, or larger than <see cref="ImageDecodeOptions.MaxFileBytes"/>.
    /// </summary>
    public static byte[] ReadFile(string path, ImageDecodeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[]? data = null;
        ReadCore(path, options ?? ImageDecodeOptions.Default, len => data = GC.AllocateUninitializedArray<byte>(len));
        return data!;
    }

    /// <summary>Reads a whole file into the buffer <paramref name="buffer"/> returns for its length; returns the length.</summary>
    private static int ReadCore(string path, ImageDecodeOptions options, Func<int, byte[]> buffer)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Opening a FIFO blocks until a writer comes (forever, in an image folder); a device may never end.
        if (ImageNative.SpecialFileKind(path) is { } special)
            throw new ImageDataException(path, BadInputKind.Unreadable, $"{special}, not a regular file: not read");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            long len = fs.Length;
            if (len == 0) throw new ImageDataException(path, BadInputKind.Empty, "the file has zero bytes");
            if (len > options.MaxFileBytes || len > Array.MaxLength)
                throw new ImageDataException(path, BadInputKind.TooLarge, $"the file has {len} bytes, above the limit of {Math.Min(options.MaxFileBytes, Array.MaxLength)}");
            var data = buffer((int)len);
            fs.ReadExactly(data, 0, (int)len);
            return (int)len;
        }
        catch (FileNotFoundException e)
        {
            throw new ImageDataException(path, BadInputKind.Missing, "no such file", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new ImageDataException(path, BadInputKind.Missing, "no such file (its folder does not exist)", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ImageDataException(path, BadInputKind.Unreadable,
                Directory.Exists(path) ? "it is a folder, not a file" : $"permission denied ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new ImageDataException(path, BadInputKind.Truncated, "the file shrank while it was read", e);
        }
        catch (IOException e)
        {
            throw new ImageDataException(path, BadInputKind.Unreadable, e.Message, e);
        }
    }

    private static ImageInfo ToInfo(in NativeImageInfo i) =>
        new(i.Width, i.Height, i.Channels, (ImageFormat)i.Format, i.Orientation, i.Bits);

    private static Exception Error(int rc, string source)
    {
        string msg = ImageNative.LastError();
        var kind = rc switch
        {
            ImageNative.ErrEmpty => BadInputKind.Empty,
            ImageNative.ErrTruncated => BadInputKind.Truncated,
            ImageNative.ErrNotImage => BadInputKind.NotAnImage,
            ImageNative.ErrUnsupported => BadInputKind.UnsupportedFormat,
            ImageNative.ErrTooLarge => BadInputKind.TooLarge,
            ImageNative.ErrArgument => (BadInputKind?)null,
            _ => BadInputKind.Corrupt,
        };
        if (kind is null) return new ArgumentException($"'{source}': {msg}");
        return new ImageDataException(source, kind.Value, msg);
    }
}
