namespace MLNet.Attention.Transforms;

/// <summary>
/// A transform of a decoded image. Deterministic transforms ignore <c>random</c>. Training-time augmentations draw
/// their parameters from it; given <c>null</c> (evaluation) they do not augment: flips and colour jitter return the
/// image unchanged, random crops take their deterministic central counterpart so the output size stays the same.
/// The same image and the same <see cref="Random"/> state always give the same result. Transforms run on the
/// loader's worker threads at the same time, so they must be thread-safe (hold no mutable state), and must not keep
/// the images they are given or return after returning: inside <see cref="ImageBatchLoader"/> their pixel arrays are
/// reused for the next image (keep a <see cref="ImageData.Clone"/> if you need one).
/// </summary>
public interface IImageTransform
{
    /// <summary>Transforms <paramref name="image"/> (never modified in place; the result may be the same instance).</summary>
    ImageData Transform(ImageData image, Random? random = null);
}

/// <summary>Runs transforms one after another (torchvision's <c>Compose</c>).</summary>
public sealed class Compose : IImageTransform
{
    /// <summary>The transforms, in order.</summary>
    public IReadOnlyList<IImageTransform> Transforms { get; }

    /// <summary>Runs <paramref name="transforms"/> in order.</summary>
    public Compose(params IImageTransform[] transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        foreach (var t in transforms) ArgumentNullException.ThrowIfNull(t, nameof(transforms));
        Transforms = transforms.ToArray();
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        foreach (var t in Transforms) image = t.Transform(image, random);
        return image;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Compose({string.Join(", ", Transforms)})";
}

/// <summary>Helpers shared by the transforms.</summary>
internal static class ImageOps
{
    /// <summary>Uniform in [low, high), as torch's <c>uniform_</c>.</summary>
    internal static double Uniform(Random r, double low, double high) => low + (high - low) * r.NextDouble();

    /// <summary>Copies the box (x0, y0, w, h) out of <paramref name="src"/>; parts outside the image are <paramref name="fill"/>.</summary>
    internal static ImageData Crop(ImageData src, int x0, int y0, int w, int h, byte fill = 0)
    {
        int c = src.Channels;
        if (x0 == 0 && y0 == 0 && w == src.Width && h == src.Height) return src;
        var dst = PixelArena.Allocate(checked(w * h * c));
        bool inside = x0 >= 0 && y0 >= 0 && x0 + w <= src.Width && y0 + h <= src.Height;
        if (!inside) dst.AsSpan().Fill(fill);
        int sx0 = Math.Max(x0, 0), sx1 = Math.Min(x0 + w, src.Width);
        if (sx1 > sx0)
        {
            for (int y = 0; y < h; y++)
            {
                int sy = y0 + y;
                if (sy < 0 || sy >= src.Height) continue;
                src.Pixels.AsSpan((sy * src.Width + sx0) * c, (sx1 - sx0) * c).CopyTo(dst.AsSpan((y * w + (sx0 - x0)) * c));
            }
        }
        return new ImageData(w, h, c, dst) { Source = src.Source };
    }

    internal static void CheckSize(int width, int height)
    {
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be > 0");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, "must be > 0");
    }
}
