namespace MLNet.Attention.Transforms;

/// <summary>
/// A transform of a <see cref="FloatImage"/> (after <see cref="ExtractPixels"/>), applied in place. As with
/// <see cref="IImageTransform"/>, augmentations do nothing without a random source.
/// </summary>
public interface IPixelTransform
{
    /// <summary>Transforms <paramref name="image"/> in place and returns it.</summary>
    FloatImage Transform(FloatImage image, Random? random = null);
}

/// <summary>Runs pixel transforms one after another.</summary>
public sealed class ComposePixels : IPixelTransform
{
    /// <summary>The transforms, in order.</summary>
    public IReadOnlyList<IPixelTransform> Transforms { get; }

    /// <summary>Runs <paramref name="transforms"/> in order.</summary>
    public ComposePixels(params IPixelTransform[] transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        foreach (var t in transforms) ArgumentNullException.ThrowIfNull(t, nameof(transforms));
        Transforms = transforms.ToArray();
    }

    /// <inheritdoc/>
    public FloatImage Transform(FloatImage image, Random? random = null)
    {
        foreach (var t in Transforms) image = t.Transform(image, random);
        return image;
    }
}

/// <summary>Per-channel <c>(x − mean[c]) / std[c]</c> (torchvision's <c>Normalize</c>), on values in [0, 1]
/// (<see cref="ExtractPixels.ToTensor"/>).</summary>
public sealed class NormalizeImage : IPixelTransform
{
    /// <summary>Per-channel means.</summary>
    public IReadOnlyList<float> Mean { get; }
    /// <summary>Per-channel standard deviations.</summary>
    public IReadOnlyList<float> Std { get; }

    /// <summary>ImageNet's statistics (RGB): mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).</summary>
    public static NormalizeImage ImageNet => new(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });

    /// <summary>Fashion-MNIST's training-set statistics (gray): mean 0.2860, std 0.3530.</summary>
    public static NormalizeImage FashionMnist => new(new[] { 0.2860f }, new[] { 0.3530f });

    /// <summary>Normalizes with one mean and std per channel (a single value applies to every channel).</summary>
    public NormalizeImage(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length) throw new ArgumentException($"mean ({mean.Length}) and std ({std.Length}) need the same, non-zero length");
        foreach (var s in std)
            if (!(s > 0) || !float.IsFinite(s)) throw new ArgumentOutOfRangeException(nameof(std), s, "every std must be > 0");
        Mean = mean.ToArray(); Std = std.ToArray();
    }

    /// <inheritdoc/>
    public FloatImage Transform(FloatImage image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (Mean.Count != 1 && Mean.Count != image.Channels)
            throw new ArgumentException($"NormalizeImage has {Mean.Count} channel statistics, the image has {image.Channels} channels{(image.Source is null ? "" : " (" + image.Source + ")")}");
        var d = image.Span;
        int n = image.Height * image.Width, c = image.Channels;
        for (int k = 0; k < c; k++)
        {
            float m = Mean[Mean.Count == 1 ? 0 : k], s = Std[Std.Count == 1 ? 0 : k];
            if (image.Interleaved)
                for (int i = k; i < d.Length; i += c) d[i] = (d[i] - m) / s;
            else
            {
                var plane = d.Slice(k * n, n);
                for (int i = 0; i < plane.Length; i++) plane[i] = (plane[i] - m) / s;
            }
        }
        return image;
    }

    /// <inheritdoc/>
    public override string ToString() => $"NormalizeImage(mean=[{string.Join(", ", Mean)}], std=[{string.Join(", ", Std)}])";
}

/// <summary>
/// torchvision's <c>RandomErasing</c> (after normalisation): with probability <see cref="P"/>, a box of random area
/// (<see cref="Scale"/> of the image) and aspect ratio (<see cref="Ratio"/>, log-uniform) is set to
/// <see cref="Value"/> per channel, or to standard normal noise when <see cref="Value"/> is null. Never without a
/// random source.
/// </summary>
public sealed class RandomErasing : IPixelTransform
{
    /// <summary>Probability of erasing.</summary>
    public double P { get; }
    /// <summary>Range of the erased area as a fraction of the image.</summary>
    public (double Min, double Max) Scale { get; }
    /// <summary>Range of the erased box's aspect ratio.</summary>
    public (double Min, double Max) Ratio { get; }
    /// <summary>The fill value per channel (one value for all), or null for random normal values.</summary>
    public IReadOnlyList<float>? Value { get; }

    /// <summary>torchvision's defaults: p 0.5, scale 0.02–0.33, ratio 0.3–3.3, value 0.</summary>
    public RandomErasing(double p = 0.5, (double Min, double Max)? scale = null, (double Min, double Max)? ratio = null, float[]? value = null, bool randomValue = false)
    {
        if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "must be in [0, 1]");
        Scale = scale ?? (0.02, 0.33);
        Ratio = ratio ?? (0.3, 3.3);
        if (Scale.Min < 0 || Scale.Min > Scale.Max || Scale.Max > 1) throw new ArgumentOutOfRangeException(nameof(scale), Scale, "need 0 <= min <= max <= 1");
        if (Ratio.Min <= 0 || Ratio.Min > Ratio.Max) throw new ArgumentOutOfRangeException(nameof(ratio), Ratio, "need 0 < min <= max");
        P = p;
        Value = randomValue ? null : (value ?? new[] { 0f }).ToArray();
    }

    /// <summary>torchvision's <c>get_params</c>: the box (top, left, height, width), or null after 10 failed attempts.</summary>
    public (int Top, int Left, int Height, int Width)? GetParams(int height, int width, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double area = (double)height * width;
        double logMin = Math.Log(Ratio.Min), logMax = Math.Log(Ratio.Max);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double erase = area * ImageOps.Uniform(random, Scale.Min, Scale.Max);
            double aspect = Math.Exp(ImageOps.Uniform(random, logMin, logMax));
            int h = (int)Math.Round(Math.Sqrt(erase * aspect));
            int w = (int)Math.Round(Math.Sqrt(erase / aspect));
            if (!(h < height && w < width)) continue;
            int i = random.Next(0, height - h + 1);
            int j = random.Next(0, width - w + 1);
            return (i, j, h, w);
        }
        return null;
    }

    /// <inheritdoc/>
    public FloatImage Transform(FloatImage image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (random is null || !(random.NextDouble() < P)) return image;
        if (Value is not null && Value.Count != 1 && Value.Count != image.Channels)
            throw new ArgumentException($"RandomErasing has {Value.Count} values, the image has {image.Channels} channels");
        if (GetParams(image.Height, image.Width, random) is not { } box) return image;
        var d = image.Span;
        for (int c = 0; c < image.Channels; c++)
            for (int y = box.Top; y < box.Top + box.Height; y++)
                for (int x = box.Left; x < box.Left + box.Width; x++)
                    d[image.IndexOf(c, y, x)] = Value is null ? Normal(random) : Value[Value.Count == 1 ? 0 : c];
        return image;
    }

    private static float Normal(Random r)
    {
        double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    /// <inheritdoc/>
    public override string ToString() => $"RandomErasing(p={P}, scale={Scale}, ratio={Ratio})";
}
