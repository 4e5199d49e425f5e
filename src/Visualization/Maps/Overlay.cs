using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>
/// Heatmaps over images: the map is resampled bilinearly to the picture's size, coloured by a colormap and blended
/// over the image (alpha × colour + (1 − alpha) × image, as Grad-CAM's <c>show_cam_on_image</c>).
/// </summary>
public static class Overlay
{
    /// <summary>
    /// An 8-bit image of network input pixels (planar C×H×W floats, e.g. normalised): each image is stretched to
    /// 0–255 by its own minimum and maximum, so it shows what the network saw. One channel gives gray, three RGB.
    /// </summary>
    /// <exception cref="ArgumentException">The sizes do not match the pixel count, or there are not 1 or 3 channels.</exception>
    public static ImageData FromPixels(ReadOnlySpan<float> chw, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"pixels with {channels} channels: expected 1 (gray) or 3 (RGB)", nameof(channels));
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"size {height}x{width} must be positive");
        int n = height * width;
        if (chw.Length != channels * n) throw new ArgumentException($"{channels}x{height}x{width} pixels need {channels * n} values, got {chw.Length}", nameof(chw));
        float lo = float.MaxValue, hi = float.MinValue;
        foreach (var v in chw) if (float.IsFinite(v)) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        float k = hi > lo ? 255f / (hi - lo) : 0f;
        var px = new byte[n * channels];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < n; i++)
            {
                float v = chw[c * n + i];
                px[i * channels + c] = float.IsFinite(v) && k > 0 ? (byte)Math.Clamp((int)MathF.Round((v - lo) * k), 0, 255) : (byte)0;
            }
        return new ImageData(width, height, channels, px);
    }

    /// <summary>
    /// <paramref name="image"/> with <paramref name="map"/> blended over it, as an RGB image of
    /// <paramref name="width"/> × <paramref name="height"/> (default: the image's size). The image is resampled
    /// bilinearly (gray becomes RGB); the map is resampled bilinearly and, with <paramref name="normalize"/>, scaled to
    /// [0, 1] by its minimum and maximum first (otherwise its values are taken as already in [0, 1]).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">alpha is outside [0, 1] or a size is not positive.</exception>
    public static ImageData Blend(ImageData image, Heatmap map, Colormap? colormap = null, double alpha = 0.5, int? width = null, int? height = null,
        bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(map);
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "must be in [0, 1]");
        int w = width ?? image.Width, h = height ?? image.Height;
        if (w <= 0 || h <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"size {w}x{h} must be positive");
        colormap ??= Colormap.Jet;
        var baseRgb = Resize(image.WithChannels(3), w, h);
        var m = (normalize ? map.Normalized() : map).Resize(w, h).Values;
        var px = new byte[w * h * 3];
        var bp = baseRgb.Pixels;
        for (int i = 0; i < w * h; i++)
        {
            var (r, g, b) = colormap.Evaluate(m[i]);
            px[i * 3] = Mix(bp[i * 3], r, alpha);
            px[i * 3 + 1] = Mix(bp[i * 3 + 1], g, alpha);
            px[i * 3 + 2] = Mix(bp[i * 3 + 2], b, alpha);
        }
        return new ImageData(w, h, 3, px);
    }

    /// <summary>The map alone coloured by <paramref name="colormap"/>, resampled bilinearly to <paramref name="width"/> × <paramref name="height"/>.</summary>
    public static ImageData Colorize(Heatmap map, Colormap? colormap = null, int? width = null, int? height = null, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(map);
        colormap ??= Colormap.Jet;
        int w = width ?? map.Width, h = height ?? map.Height;
        var m = (normalize ? map.Normalized() : map).Resize(w, h).Values;
        var px = new byte[w * h * 3];
        for (int i = 0; i < w * h; i++)
        {
            var c = colormap.Map(m[i]);
            px[i * 3] = c.R; px[i * 3 + 1] = c.G; px[i * 3 + 2] = c.B;
        }
        return new ImageData(w, h, 3, px);
    }

    /// <summary>
    /// A picture of the overlay at <paramref name="size"/> pixels on its longer side, with <paramref name="caption"/>
    /// under it and a colour bar.
    /// </summary>
    public static Picture Create(ImageData image, Heatmap map, string? caption = null, Colormap? colormap = null, double alpha = 0.5, int size = 224)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), size, "must be >= 8");
        double aspect = (double)image.Width / image.Height;
        int w = aspect >= 1 ? size : Math.Max(1, (int)Math.Round(size * aspect)), h = aspect >= 1 ? Math.Max(1, (int)Math.Round(size / aspect)) : size;
        var blended = Blend(image, map, colormap, alpha, w, h);
        return ImageGrid.Create(new[] { new GridPanel?[] { new(blended, caption) } }, Math.Max(w, h), colorbar: colormap ?? Colormap.Jet);
    }

    /// <summary>Bilinear resampling of an 8-bit image (half-pixel centres), each channel on its own.</summary>
    public static ImageData Resize(ImageData image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width == width && image.Height == height) return image;
        int c = image.Channels, n = image.Width * image.Height;
        var result = new byte[width * height * c];
        var plane = new float[n];
        for (int ch = 0; ch < c; ch++)
        {
            for (int i = 0; i < n; i++) plane[i] = image.Pixels[i * c + ch];
            var r = new Heatmap(image.Width, image.Height, plane).Resize(width, height).Values;
            for (int i = 0; i < width * height; i++) result[i * c + ch] = (byte)Math.Clamp((int)MathF.Round(r[i]), 0, 255);
        }
        return new ImageData(width, height, c, result);
    }

    private static byte Mix(byte image, double color, double alpha) =>
        (byte)Math.Clamp((int)Math.Round(alpha * color * 255 + (1 - alpha) * image), 0, 255);
}
