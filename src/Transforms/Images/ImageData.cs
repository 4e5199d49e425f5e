namespace MLNet.Attention.Transforms;

/// <summary>
/// A decoded image: 8-bit samples, row-major HWC (height, width, channels). Channels are 1 (gray), 2 (gray+alpha),
/// 3 (RGB) or 4 (RGBA). This is the value the image transforms take and return.
/// </summary>
public sealed class ImageData
{
    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Samples per pixel: 1, 2, 3 or 4.</summary>
    public int Channels { get; }
    /// <summary>The samples, <c>Height * Width * Channels</c> bytes, row-major HWC.</summary>
    public byte[] Pixels { get; }
    /// <summary>Where the image came from (a file path or a row name), for error messages; may be null.</summary>
    public string? Source { get; init; }

    /// <summary>Wraps <paramref name="pixels"/> (not copied) as an image of the given size.</summary>
    public ImageData(int width, int height, int channels, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be > 0");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, "must be > 0");
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 1, 2, 3 or 4");
        long need = (long)width * height * channels;
        if (pixels.LongLength != need)
            throw new ArgumentException($"a {width}x{height} image with {channels} channel(s) needs {need} bytes, got {pixels.LongLength}", nameof(pixels));
        Width = width; Height = height; Channels = channels; Pixels = pixels;
    }

    /// <summary>A new image of the given size with every sample set to <paramref name="fill"/>.</summary>
    public static ImageData Create(int width, int height, int channels, byte fill = 0)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"size {width}x{height} must be positive");
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 1, 2, 3 or 4");
        var px = GC.AllocateUninitializedArray<byte>(checked(width * height * channels));
        px.AsSpan().Fill(fill);
        return new ImageData(width, height, channels, px);
    }

    /// <summary>The sample at row <paramref name="y"/>, column <paramref name="x"/>, channel <paramref name="c"/>.</summary>
    public byte this[int y, int x, int c]
    {
        get => Pixels[((long)y * Width + x) * Channels + c];
        set => Pixels[((long)y * Width + x) * Channels + c] = value;
    }

    /// <summary>A copy with its own pixel array.</summary>
    public ImageData Clone() => new(Width, Height, Channels, (byte[])Pixels.Clone()) { Source = Source };

    /// <summary>
    /// This image with <paramref name="channels"/> channels, by the decoder's rules: gray is replicated into RGB,
    /// colour becomes gray with Pillow's <c>convert("L")</c> weights, alpha is dropped or added as 255. The same
    /// instance when nothing changes.
    /// </summary>
    public ImageData WithChannels(int channels)
    {
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 1, 2, 3 or 4");
        if (channels == Channels) return this;
        int n = Width * Height, c = Channels;
        bool srcColor = c >= 3, srcAlpha = c is 2 or 4, dstColor = channels >= 3, dstAlpha = channels is 2 or 4;
        var src = Pixels;
        var dst = PixelArena.Allocate(n * channels);
        for (int i = 0; i < n; i++)
        {
            int s = i * c, d = i * channels;
            if (dstColor)
            {
                if (srcColor) { dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]; }
                else { dst[d] = dst[d + 1] = dst[d + 2] = src[s]; }
            }
            else
            {
                dst[d] = srcColor ? (byte)((src[s] * 19595u + src[s + 1] * 38470u + src[s + 2] * 7471u + 0x8000u) >> 16) : src[s];
            }
            if (dstAlpha) dst[d + channels - 1] = srcAlpha ? src[s + c - 1] : (byte)255;
        }
        return new ImageData(Width, Height, channels, dst) { Source = Source };
    }

    /// <summary>The same pixels under another source name.</summary>
    internal ImageData WithSource(string? source) => new(Width, Height, Channels, Pixels) { Source = source };

    /// <inheritdoc/>
    public override string ToString() => $"ImageData({Width}x{Height}x{Channels}{(Source is null ? "" : ", " + Source)})";
}
