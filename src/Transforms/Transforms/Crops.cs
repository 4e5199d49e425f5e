namespace MLNet.Attention.Transforms;

/// <summary>Crops the centre (torchvision's <c>CenterCrop</c>): images smaller than the crop are padded with zeros first.</summary>
public sealed class CenterCrop : IImageTransform
{
    /// <summary>Crop width.</summary>
    public int Width { get; }
    /// <summary>Crop height.</summary>
    public int Height { get; }

    /// <summary>A <paramref name="width"/> × <paramref name="height"/> centre crop.</summary>
    public CenterCrop(int width, int height)
    {
        ImageOps.CheckSize(width, height);
        Width = width; Height = height;
    }

    /// <summary>A square centre crop.</summary>
    public CenterCrop(int size) : this(size, size) { }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Apply(image, Width, Height);
    }

    internal static ImageData Apply(ImageData image, int width, int height)
    {
        // torchvision pads (left/top get the smaller half), then takes int(round((size - crop) / 2)).
        int padL = width > image.Width ? (width - image.Width) / 2 : 0, padT = height > image.Height ? (height - image.Height) / 2 : 0;
        int w = Math.Max(image.Width, width), h = Math.Max(image.Height, height);
        int left = (int)Math.Round((w - width) / 2.0), top = (int)Math.Round((h - height) / 2.0);
        return ImageOps.Crop(image, left - padL, top - padT, width, height);
    }

    /// <inheritdoc/>
    public override string ToString() => $"CenterCrop({Width}x{Height})";
}

/// <summary>
/// torchvision's <c>RandomResizedCrop</c>: a box of random area (<see cref="Scale"/> of the image) and aspect ratio
/// (<see cref="Ratio"/>, log-uniform), resized to the output size with antialiasing. Without a random source
/// (evaluation) it takes the box torchvision falls back to — the whole image with its aspect ratio clamped to
/// <see cref="Ratio"/>, centred — and resizes it.
/// </summary>
public sealed class RandomResizedCrop : IImageTransform
{
    /// <summary>Output width.</summary>
    public int Width { get; }
    /// <summary>Output height.</summary>
    public int Height { get; }
    /// <summary>Range of the box area as a fraction of the image area.</summary>
    public (double Min, double Max) Scale { get; }
    /// <summary>Range of the box aspect ratio (width / height).</summary>
    public (double Min, double Max) Ratio { get; }

    /// <summary>Crops and resizes to <paramref name="width"/> × <paramref name="height"/> (defaults as torchvision:
    /// scale 0.08–1, ratio 3/4–4/3).</summary>
    public RandomResizedCrop(int width, int height, (double Min, double Max)? scale = null, (double Min, double Max)? ratio = null)
    {
        ImageOps.CheckSize(width, height);
        Scale = scale ?? (0.08, 1.0);
        Ratio = ratio ?? (3.0 / 4.0, 4.0 / 3.0);
        if (Scale.Min <= 0 || Scale.Min > Scale.Max) throw new ArgumentOutOfRangeException(nameof(scale), Scale, "need 0 < min <= max");
        if (Ratio.Min <= 0 || Ratio.Min > Ratio.Max) throw new ArgumentOutOfRangeException(nameof(ratio), Ratio, "need 0 < min <= max");
        Width = width; Height = height;
    }

    /// <summary>A square output.</summary>
    public RandomResizedCrop(int size) : this(size, size) { }

    /// <summary>torchvision's <c>get_params</c>: (top, left, height, width) of the box, drawn from <paramref name="random"/>
    /// (null: the fallback box).</summary>
    public (int Top, int Left, int Height, int Width) GetParams(int imageWidth, int imageHeight, Random? random)
    {
        double area = (double)imageHeight * imageWidth;
        if (random is not null)
        {
            double logMin = Math.Log(Ratio.Min), logMax = Math.Log(Ratio.Max);
            for (int attempt = 0; attempt < 10; attempt++)
            {
                double target = area * ImageOps.Uniform(random, Scale.Min, Scale.Max);
                double aspect = Math.Exp(ImageOps.Uniform(random, logMin, logMax));
                int w = (int)Math.Round(Math.Sqrt(target * aspect));
                int h = (int)Math.Round(Math.Sqrt(target / aspect));
                if (w > 0 && w <= imageWidth && h > 0 && h <= imageHeight)
                {
                    int i = random.Next(0, imageHeight - h + 1);
                    int j = random.Next(0, imageWidth - w + 1);
                    return (i, j, h, w);
                }
            }
        }
        double inRatio = (double)imageWidth / imageHeight;
        int fw, fh;
        if (inRatio < Ratio.Min) { fw = imageWidth; fh = (int)Math.Round(fw / Ratio.Min); }
        else if (inRatio > Ratio.Max) { fh = imageHeight; fw = (int)Math.Round(fh * Ratio.Max); }
        else { fw = imageWidth; fh = imageHeight; }
        fw = Math.Clamp(fw, 1, imageWidth); fh = Math.Clamp(fh, 1, imageHeight);
        return ((imageHeight - fh) / 2, (imageWidth - fw) / 2, fh, fw);
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (top, left, h, w) = GetParams(image.Width, image.Height, random);
        return Resampler.Resize(image, left, top, w, h, Width, Height);
    }

    /// <inheritdoc/>
    public override string ToString() => $"RandomResizedCrop({Width}x{Height}, scale={Scale}, ratio={Ratio})";
}

/// <summary>
/// torchvision's <c>RandomCrop</c>: pads by <see cref="Padding"/> (constant <see cref="Fill"/>), optionally pads an
/// image smaller than the crop, and crops a box at a random position. Without a random source (evaluation) it is a
/// <see cref="CenterCrop"/> of the unpadded image.
/// </summary>
public sealed class RandomCrop : IImageTransform
{
    /// <summary>Crop width.</summary>
    public int Width { get; }
    /// <summary>Crop height.</summary>
    public int Height { get; }
    /// <summary>Padding added on each side before cropping (left, top, right, bottom).</summary>
    public (int Left, int Top, int Right, int Bottom) Padding { get; }
    /// <summary>Pad images smaller than the crop (torchvision's <c>pad_if_needed</c>).</summary>
    public bool PadIfNeeded { get; }
    /// <summary>The value of padded samples.</summary>
    public byte Fill { get; }

    /// <summary>A random <paramref name="width"/> × <paramref name="height"/> crop after <paramref name="padding"/> pixels
    /// of padding on every side (CIFAR's <c>RandomCrop(32, padding=4)</c>).</summary>
    public RandomCrop(int width, int height, int padding = 0, bool padIfNeeded = false, byte fill = 0)
        : this(width, height, (padding, padding, padding, padding), padIfNeeded, fill) { }

    /// <summary>A random crop after padding each side by its own amount.</summary>
    public RandomCrop(int width, int height, (int Left, int Top, int Right, int Bottom) padding, bool padIfNeeded = false, byte fill = 0)
    {
        ImageOps.CheckSize(width, height);
        if (padding.Left < 0 || padding.Top < 0 || padding.Right < 0 || padding.Bottom < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, "must be >= 0");
        Width = width; Height = height; Padding = padding; PadIfNeeded = padIfNeeded; Fill = fill;
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (random is null) return CenterCrop.Apply(image, Width, Height);
        // The padded image's frame: x in [-padL, W + padR), y likewise; pad_if_needed adds (size - W) on both sides.
        int padL = Padding.Left, padT = Padding.Top, w = image.Width + Padding.Left + Padding.Right, h = image.Height + Padding.Top + Padding.Bottom;
        if (PadIfNeeded && w < Width) { int extra = Width - w; padL += extra; w += 2 * extra; }
        if (PadIfNeeded && h < Height) { int extra = Height - h; padT += extra; h += 2 * extra; }
        if (w < Width || h < Height)
            throw new ArgumentException($"RandomCrop: crop {Width}x{Height} is larger than the (padded) image {w}x{h}{(image.Source is null ? "" : " of " + image.Source)}; use padIfNeeded");
        int top = h == Height ? 0 : random.Next(0, h - Height + 1);
        int left = w == Width ? 0 : random.Next(0, w - Width + 1);
        return ImageOps.Crop(image, left - padL, top - padT, Width, Height, Fill);
    }

    /// <inheritdoc/>
    public override string ToString() => $"RandomCrop({Width}x{Height}, padding={Padding})";
}

/// <summary>Mirrors left-right with probability <see cref="P"/> (torchvision's <c>RandomHorizontalFlip</c>); never
/// without a random source.</summary>
public sealed class RandomHorizontalFlip : IImageTransform
{
    /// <summary>Flip probability.</summary>
    public double P { get; }

    /// <summary>Flips with probability <paramref name="p"/>.</summary>
    public RandomHorizontalFlip(double p = 0.5)
    {
        if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "must be in [0, 1]");
        P = p;
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (random is null || !(random.NextDouble() < P)) return image;
        return Flip(image);
    }

    /// <summary>The mirror image (left-right).</summary>
    public static ImageData Flip(ImageData image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, c = image.Channels;
        var dst = PixelArena.Allocate(image.Pixels.Length);
        var src = image.Pixels;
        for (int y = 0; y < image.Height; y++)
        {
            int row = y * w * c;
            for (int x = 0; x < w; x++)
            {
                int s = row + x * c, d = row + (w - 1 - x) * c;
                for (int k = 0; k < c; k++) dst[d + k] = src[s + k];
            }
        }
        return new ImageData(w, image.Height, c, dst) { Source = image.Source };
    }

    /// <inheritdoc/>
    public override string ToString() => $"RandomHorizontalFlip(p={P})";
}
