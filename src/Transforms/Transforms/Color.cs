namespace MLNet.Attention.Transforms;

/// <summary>
/// Converts to gray (ML.NET's <c>ConvertToGrayscale</c>) with torchvision's tensor formula
/// <c>(0.2989 R + 0.587 G + 0.114 B)</c> truncated to uint8; alpha is kept. Gray images pass through.
/// </summary>
public sealed class ConvertToGrayscale : IImageTransform
{
    /// <summary>1 (gray) or 3 (gray replicated into RGB, torchvision's <c>num_output_channels=3</c>).</summary>
    public int OutputChannels { get; }

    /// <summary>Converts to <paramref name="outputChannels"/> gray channels (plus alpha when the input has one).</summary>
    public ConvertToGrayscale(int outputChannels = 1)
    {
        if (outputChannels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(outputChannels), outputChannels, "must be 1 or 3");
        OutputChannels = outputChannels;
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        bool alpha = image.Channels is 2 or 4;
        int outC = OutputChannels + (alpha ? 1 : 0);
        if (image.Channels <= 2 && OutputChannels == 1) return image;
        int n = image.Width * image.Height, c = image.Channels;
        var src = image.Pixels;
        var dst = PixelArena.Allocate(n * outC);
        for (int i = 0; i < n; i++)
        {
            byte g = c >= 3 ? Gray(src[i * c], src[i * c + 1], src[i * c + 2]) : src[i * c];
            for (int k = 0; k < OutputChannels; k++) dst[i * outC + k] = g;
            if (alpha) dst[i * outC + outC - 1] = src[i * c + c - 1];
        }
        return new ImageData(image.Width, image.Height, outC, dst) { Source = image.Source };
    }

    /// <summary>torchvision's <c>rgb_to_grayscale</c> of one uint8 pixel (float32 arithmetic, truncated).</summary>
    internal static byte Gray(byte r, byte g, byte b) => (byte)(0.2989f * r + 0.587f * g + 0.114f * b);

    /// <inheritdoc/>
    public override string ToString() => $"ConvertToGrayscale({OutputChannels})";
}

/// <summary>
/// torchvision's <c>ColorJitter</c>: brightness, contrast, saturation and hue changed by factors drawn uniformly from
/// their ranges, applied in a random order, each computed as torchvision's tensor functions on uint8 images
/// (<c>adjust_brightness</c>, ...). Alpha is kept; saturation and hue leave gray images alone. Never applied without
/// a random source.
/// </summary>
public sealed class ColorJitter : IImageTransform
{
    /// <summary>Brightness factor range, or null.</summary>
    public (double Min, double Max)? Brightness { get; }
    /// <summary>Contrast factor range, or null.</summary>
    public (double Min, double Max)? Contrast { get; }
    /// <summary>Saturation factor range, or null.</summary>
    public (double Min, double Max)? Saturation { get; }
    /// <summary>Hue shift range (within [-0.5, 0.5]), or null.</summary>
    public (double Min, double Max)? Hue { get; }

    /// <summary>As torchvision: brightness/contrast/saturation <c>v</c> means factors in [max(0, 1 - v), 1 + v], hue
    /// <c>h</c> shifts in [-h, h] (h ≤ 0.5); 0 disables a component.</summary>
    public ColorJitter(double brightness = 0, double contrast = 0, double saturation = 0, double hue = 0)
        : this(Range(brightness, nameof(brightness)), Range(contrast, nameof(contrast)), Range(saturation, nameof(saturation)), HueRange(hue)) { }

    /// <summary>Explicit factor ranges (null disables a component).</summary>
    public ColorJitter((double Min, double Max)? brightness, (double Min, double Max)? contrast, (double Min, double Max)? saturation, (double Min, double Max)? hue)
    {
        Check(brightness, nameof(brightness)); Check(contrast, nameof(contrast)); Check(saturation, nameof(saturation));
        if (hue is { } h && (h.Min < -0.5 || h.Max > 0.5 || h.Min > h.Max))
            throw new ArgumentOutOfRangeException(nameof(hue), hue, "need -0.5 <= min <= max <= 0.5");
        Brightness = brightness; Contrast = contrast; Saturation = saturation; Hue = hue;
    }

    private static (double, double)? Range(double v, string name)
    {
        if (v < 0 || double.IsNaN(v)) throw new ArgumentOutOfRangeException(name, v, "must be >= 0");
        return v == 0 ? null : (Math.Max(0, 1 - v), 1 + v);
    }

    private static (double, double)? HueRange(double h)
    {
        if (h is < 0 or > 0.5 || double.IsNaN(h)) throw new ArgumentOutOfRangeException("hue", h, "must be in [0, 0.5]");
        return h == 0 ? null : (-h, h);
    }

    private static void Check((double Min, double Max)? r, string name)
    {
        if (r is { } v && (v.Min < 0 || v.Min > v.Max)) throw new ArgumentOutOfRangeException(name, r, "need 0 <= min <= max");
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (random is null) return image;
        // torchvision's get_params: a permutation of the four, then the factors in a fixed order.
        Span<int> order = stackalloc int[] { 0, 1, 2, 3 };
        for (int i = 3; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        double? b = Brightness is { } rb ? ImageOps.Uniform(random, rb.Min, rb.Max) : null;
        double? c = Contrast is { } rc ? ImageOps.Uniform(random, rc.Min, rc.Max) : null;
        double? s = Saturation is { } rs ? ImageOps.Uniform(random, rs.Min, rs.Max) : null;
        double? h = Hue is { } rh ? ImageOps.Uniform(random, rh.Min, rh.Max) : null;
        foreach (int fn in order)
        {
            image = fn switch
            {
                0 when b is { } f => AdjustBrightness(image, f),
                1 when c is { } f => AdjustContrast(image, f),
                2 when s is { } f => AdjustSaturation(image, f),
                3 when h is { } f => AdjustHue(image, f),
                _ => image,
            };
        }
        return image;
    }

    private static int ColorChannels(ImageData img) => img.Channels >= 3 ? 3 : 1;

    /// <summary>Blends each colour sample with <paramref name="other"/>(pixel) as torchvision's <c>_blend</c>:
    /// <c>(f·x + (1 − f)·o)</c> in float32, clamped to [0, 255] and truncated.</summary>
    private static ImageData Blend(ImageData img, double factor, Func<int, int, float> other)
    {
        int c = img.Channels, cc = ColorChannels(img), n = img.Width * img.Height;
        float a = (float)factor, b = (float)(1.0 - factor);   // torch casts ratio and 1 - ratio (computed in double)
        var src = img.Pixels;
        var dst = PixelArena.Copy(src);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < cc; k++)
            {
                float v = a * src[i * c + k] + b * other(i, k);
                dst[i * c + k] = v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)v;
            }
        return new ImageData(img.Width, img.Height, c, dst) { Source = img.Source };
    }

    /// <summary>torchvision's <c>adjust_brightness</c>: blend with black.</summary>
    public static ImageData AdjustBrightness(ImageData image, double factor)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (factor < 0) throw new ArgumentOutOfRangeException(nameof(factor), factor, "must be >= 0");
        return Blend(image, factor, static (_, _) => 0f);
    }

    /// <summary>torchvision's <c>adjust_contrast</c>: blend with the mean of the grayscale image.</summary>
    public static ImageData AdjustContrast(ImageData image, double factor)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (factor < 0) throw new ArgumentOutOfRangeException(nameof(factor), factor, "must be >= 0");
        int c = image.Channels, n = image.Width * image.Height;
        var px = image.Pixels;
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += c >= 3 ? ConvertToGrayscale.Gray(px[i * c], px[i * c + 1], px[i * c + 2]) : px[i * c];
        float mean = (float)(sum / n);
        return Blend(image, factor, (_, _) => mean);
    }

    /// <summary>torchvision's <c>adjust_saturation</c>: blend with the grayscale image (gray images unchanged).</summary>
    public static ImageData AdjustSaturation(ImageData image, double factor)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (factor < 0) throw new ArgumentOutOfRangeException(nameof(factor), factor, "must be >= 0");
        if (image.Channels < 3) return image;
        int c = image.Channels;
        var px = image.Pixels;
        return Blend(image, factor, (i, _) => ConvertToGrayscale.Gray(px[i * c], px[i * c + 1], px[i * c + 2]));
    }

    /// <summary>torchvision's <c>adjust_hue</c>: rotate the hue in HSV space by <paramref name="factor"/> of a turn
    /// (float32, truncated back to uint8; gray images unchanged).</summary>
    public static ImageData AdjustHue(ImageData image, double factor)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (factor is < -0.5 or > 0.5) throw new ArgumentOutOfRangeException(nameof(factor), factor, "must be in [-0.5, 0.5]");
        if (image.Channels < 3) return image;
        int c = image.Channels, n = image.Width * image.Height;
        float hf = (float)factor;
        var src = image.Pixels;
        var dst = PixelArena.Copy(src);
        for (int i = 0; i < n; i++)
        {
            float r = src[i * c] / 255f, g = src[i * c + 1] / 255f, b = src[i * c + 2] / 255f;
            // _rgb2hsv
            float maxc = MathF.Max(r, MathF.Max(g, b)), minc = MathF.Min(r, MathF.Min(g, b));
            bool eqc = maxc == minc;
            float cr = maxc - minc;
            float s = cr / (eqc ? 1f : maxc);
            float crd = eqc ? 1f : cr;
            float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
            float h;
            if (maxc == r) h = bc - gc;
            else if (maxc == g) h = 2f + rc - bc;
            else h = 4f + gc - rc;
            h = (h / 6f + 1f) % 1f;
            float v = maxc;
            // hue shift: torch's remainder (the sign of the divisor)
            h += hf;
            h -= MathF.Floor(h);
            // _hsv2rgb
            float h6 = h * 6f;
            float fi = MathF.Floor(h6);
            float f = h6 - fi;
            int sector = ((int)fi % 6 + 6) % 6;
            float p = Math.Clamp(v * (1f - s), 0f, 1f);
            float q = Math.Clamp(v * (1f - s * f), 0f, 1f);
            float t = Math.Clamp(v * (1f - s * (1f - f)), 0f, 1f);
            (float R, float G, float B) o = sector switch
            {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            dst[i * c] = (byte)(o.R * 255f);
            dst[i * c + 1] = (byte)(o.G * 255f);
            dst[i * c + 2] = (byte)(o.B * 255f);
        }
        return new ImageData(image.Width, image.Height, c, dst) { Source = image.Source };
    }

    /// <inheritdoc/>
    public override string ToString() => $"ColorJitter(brightness={Brightness}, contrast={Contrast}, saturation={Saturation}, hue={Hue})";
}
