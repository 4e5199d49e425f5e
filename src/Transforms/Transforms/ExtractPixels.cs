namespace MLNet.Attention.Transforms;

/// <summary>Which colour channels <see cref="ExtractPixels"/> extracts (ML.NET's <c>ColorBits</c>).</summary>
[Flags]
public enum ColorBits
{
    /// <summary>Alpha.</summary>
    Alpha = 0x01,
    /// <summary>Red.</summary>
    Red = 0x02,
    /// <summary>Green.</summary>
    Green = 0x04,
    /// <summary>Blue.</summary>
    Blue = 0x08,
    /// <summary>Red, green and blue.</summary>
    Rgb = Red | Green | Blue,
    /// <summary>All four.</summary>
    All = Alpha | Red | Green | Blue,
}

/// <summary>The order of the extracted channels (ML.NET's <c>ColorsOrder</c>; channels not extracted are skipped).</summary>
public enum ColorsOrder
{
    /// <summary>Alpha, red, green, blue.</summary>
    ARGB = 1,
    /// <summary>Alpha, red, blue, green.</summary>
    ARBG = 2,
    /// <summary>Alpha, blue, red, green.</summary>
    ABRG = 3,
    /// <summary>Alpha, blue, green, red (BGR: OpenCV/Caffe models).</summary>
    ABGR = 4,
    /// <summary>Alpha, green, red, blue.</summary>
    AGRB = 5,
    /// <summary>Alpha, green, blue, red.</summary>
    AGBR = 6,
}

/// <summary>A float image: planar CHW (the tensor layout) or interleaved HWC, over memory it may share with a batch.</summary>
public sealed class FloatImage
{
    /// <summary>Number of channels.</summary>
    public int Channels { get; }
    /// <summary>Height.</summary>
    public int Height { get; }
    /// <summary>Width.</summary>
    public int Width { get; }
    /// <summary>True for HWC (channels interleaved per pixel), false for CHW planes.</summary>
    public bool Interleaved { get; }
    /// <summary>The values, <c>Channels × Height × Width</c>.</summary>
    public Memory<float> Data { get; }
    /// <summary>Where the image came from, for error messages; may be null.</summary>
    public string? Source { get; init; }

    /// <summary>Wraps <paramref name="data"/> (new zeroed memory when null).</summary>
    public FloatImage(int channels, int height, int width, bool interleaved = false, Memory<float>? data = null)
    {
        if (channels <= 0 || height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(channels), $"shape {channels}x{height}x{width} must be positive");
        int n = checked(channels * height * width);
        var d = data ?? new float[n];
        if (d.Length != n) throw new ArgumentException($"a {channels}x{height}x{width} image needs {n} floats, got {d.Length}", nameof(data));
        Channels = channels; Height = height; Width = width; Interleaved = interleaved; Data = d;
    }

    /// <summary>The values as a span.</summary>
    public Span<float> Span => Data.Span;

    /// <summary>Index of (channel, y, x) in <see cref="Data"/>.</summary>
    public int IndexOf(int c, int y, int x) => Interleaved ? (y * Width + x) * Channels + c : (c * Height + y) * Width + x;

    /// <summary>The value at channel <paramref name="c"/>, row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    public float this[int c, int y, int x]
    {
        get => Data.Span[IndexOf(c, y, x)];
        set => Data.Span[IndexOf(c, y, x)] = value;
    }

    /// <summary>A copy of the values.</summary>
    public float[] ToArray() => Data.ToArray();
}

/// <summary>
/// Turns an <see cref="ImageData"/> into floats (ML.NET's <c>ExtractPixels</c>): the chosen channels in the chosen
/// order, planar (CHW, the default and the tensor layout) or interleaved, each value <c>(x − offset) × scale</c>.
/// Gray images give one plane (the gray value stands for red, green and blue), plus alpha when asked for; images
/// without alpha give 255 for it. <see cref="ToTensor"/> is torchvision's <c>ToTensor</c> (values / 255, RGB, CHW).
/// </summary>
public sealed class ExtractPixels
{
    /// <summary>Channels extracted.</summary>
    public ColorBits ColorsToExtract { get; }
    /// <summary>Their order.</summary>
    public ColorsOrder OrderOfExtraction { get; }
    /// <summary>HWC when true, CHW when false.</summary>
    public bool InterleavePixelColors { get; }
    /// <summary>Subtracted from every value first.</summary>
    public float OffsetImage { get; }
    /// <summary>Multiplies every value second.</summary>
    public float ScaleImage { get; }

    private readonly float[] _lut = new float[256];

    /// <summary>ML.NET's defaults: RGB, ARGB order, planar, offset 0, scale 1 (values 0..255).</summary>
    public ExtractPixels(ColorBits colorsToExtract = ColorBits.Rgb, ColorsOrder orderOfExtraction = ColorsOrder.ARGB,
                         bool interleavePixelColors = false, float offsetImage = 0f, float scaleImage = 1f)
    {
        if ((colorsToExtract & ColorBits.All) == 0) throw new ArgumentOutOfRangeException(nameof(colorsToExtract), colorsToExtract, "extract at least one channel");
        if (!Enum.IsDefined(orderOfExtraction)) throw new ArgumentOutOfRangeException(nameof(orderOfExtraction), orderOfExtraction, "unknown order");
        if (!float.IsFinite(offsetImage) || !float.IsFinite(scaleImage)) throw new ArgumentException("offset and scale must be finite");
        ColorsToExtract = colorsToExtract; OrderOfExtraction = orderOfExtraction; InterleavePixelColors = interleavePixelColors;
        OffsetImage = offsetImage; ScaleImage = scaleImage;
        // torchvision's ToTensor divides by 255; x * (1/255f) can differ from x / 255f in the last bit.
        bool divide255 = scaleImage == 1f / 255f;
        for (int v = 0; v < 256; v++) _lut[v] = divide255 ? (v - offsetImage) / 255f : (v - offsetImage) * scaleImage;
    }

    /// <summary>torchvision's <c>ToTensor</c>: RGB planes, values / 255.</summary>
    public static ExtractPixels ToTensor() => new(ColorBits.Rgb, ColorsOrder.ARGB, false, 0f, 1f / 255f);

    /// <summary>The channel index in <see cref="ImageData"/> of each extracted plane, in order (-1: alpha absent, 255).</summary>
    private int[] SourceChannels(int imageChannels)
    {
        bool gray = imageChannels <= 2, hasAlpha = imageChannels is 2 or 4;
        var list = new List<int>(4);
        bool grayDone = false;
        foreach (char ch in OrderOfExtraction.ToString())
        {
            switch (ch)
            {
                case 'A' when (ColorsToExtract & ColorBits.Alpha) != 0:
                    list.Add(hasAlpha ? imageChannels - 1 : -1);
                    break;
                case 'R' when (ColorsToExtract & ColorBits.Red) != 0:
                case 'G' when (ColorsToExtract & ColorBits.Green) != 0:
                case 'B' when (ColorsToExtract & ColorBits.Blue) != 0:
                    if (gray)
                    {
                        if (!grayDone) list.Add(0);
                        grayDone = true;
                    }
                    else list.Add(ch == 'R' ? 0 : ch == 'G' ? 1 : 2);
                    break;
            }
        }
        return list.ToArray();
    }

    /// <summary>The number of planes extracted from an image with <paramref name="imageChannels"/> channels.</summary>
    public int OutputChannels(int imageChannels) => SourceChannels(imageChannels).Length;

    /// <summary>Extracts into new memory.</summary>
    public FloatImage Extract(ImageData image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var f = new FloatImage(OutputChannels(image.Channels), image.Height, image.Width, InterleavePixelColors) { Source = image.Source };
        ExtractInto(image, f.Span);
        return f;
    }

    /// <summary>Extracts into <paramref name="destination"/> (exactly <c>OutputChannels × Height × Width</c> floats).</summary>
    public void ExtractInto(ImageData image, Span<float> destination) => ExtractInto(image, destination, null);

    /// <summary>Extracts, and when <paramref name="normalize"/> is given applies it in the same pass through one
    /// lookup table per channel (the same float operations, so the same values as normalising afterwards).</summary>
    internal void ExtractInto(ImageData image, Span<float> destination, NormalizeImage? normalize)
    {
        ArgumentNullException.ThrowIfNull(image);
        var map = SourceChannels(image.Channels);
        int oc = map.Length, c = image.Channels, n = image.Width * image.Height;
        if (destination.Length != oc * n) throw new ArgumentException($"destination holds {destination.Length} floats, the image needs {oc * n}", nameof(destination));
        if (normalize is not null && normalize.Mean.Count != 1 && normalize.Mean.Count != oc)
            throw new ArgumentException($"NormalizeImage has {normalize.Mean.Count} channel statistics, the image has {oc} channels{(image.Source is null ? "" : " (" + image.Source + ")")}");
        var px = image.Pixels;
        float[] lut = _lut;
        for (int p = 0; p < oc; p++)
        {
            int sc = map[p];
            if (normalize is not null)
            {
                float m = normalize.Mean[normalize.Mean.Count == 1 ? 0 : p], sd = normalize.Std[normalize.Std.Count == 1 ? 0 : p];
                lut = new float[256];
                for (int v = 0; v < 256; v++) lut[v] = (_lut[v] - m) / sd;
            }
            float alpha = lut[255];
            if (InterleavePixelColors)
            {
                for (int i = 0; i < n; i++) destination[i * oc + p] = sc < 0 ? alpha : lut[px[i * c + sc]];
            }
            else
            {
                var plane = destination.Slice(p * n, n);
                if (sc < 0) { plane.Fill(alpha); continue; }
                if (c == 1) { for (int i = 0; i < n; i++) plane[i] = lut[px[i]]; }
                else if (c == 3) { for (int i = 0, j = sc; i < n; i++, j += 3) plane[i] = lut[px[j]]; }
                else { for (int i = 0, j = sc; i < n; i++, j += c) plane[i] = lut[px[j]]; }
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"ExtractPixels({ColorsToExtract}, {OrderOfExtraction}, interleave={InterleavePixelColors}, offset={OffsetImage}, scale={ScaleImage})";
}
