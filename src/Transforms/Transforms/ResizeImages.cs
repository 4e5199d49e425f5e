namespace MLNet.Attention.Transforms;

/// <summary>How <see cref="ResizeImages"/> fits an image into the requested size (ML.NET's <c>ResizingKind</c>).</summary>
public enum ResizingKind
{
    /// <summary>Keep the aspect ratio, scale to fit inside, pad the rest.</summary>
    IsoPad = 0,
    /// <summary>Keep the aspect ratio, scale to cover, crop the overflow (ML.NET's default).</summary>
    IsoCrop = 1,
    /// <summary>Stretch to exactly the requested size.</summary>
    Fill = 2,
}

/// <summary>Which part of the image <see cref="ResizingKind.IsoCrop"/> keeps, or where <see cref="ResizingKind.IsoPad"/>
/// places it (ML.NET's <c>Anchor</c>).</summary>
public enum Anchor
{
    /// <summary>The right edge.</summary>
    Right = 0,
    /// <summary>The left edge.</summary>
    Left = 1,
    /// <summary>The top edge.</summary>
    Top = 2,
    /// <summary>The bottom edge.</summary>
    Bottom = 3,
    /// <summary>The centre.</summary>
    Center = 4,
}

/// <summary>
/// Resizes images (ML.NET's <c>ResizeImages</c>) with bilinear interpolation and antialiasing on downscale, equal to
/// torchvision's <c>F.resize(tensor, size, antialias=True)</c>. <see cref="ResizingKind.Fill"/> stretches;
/// <see cref="ResizingKind.IsoCrop"/> crops the source box of the target's aspect ratio at the anchor and resizes it
/// (torchvision's <c>resized_crop</c>); <see cref="ResizingKind.IsoPad"/> resizes to fit and pads with
/// <see cref="PadValue"/>. <see cref="ShorterSide"/> is torchvision's <c>Resize(int)</c>.
/// </summary>
public sealed class ResizeImages : IImageTransform
{
    /// <summary>Output width (0 with <see cref="ShorterSide"/>).</summary>
    public int Width { get; }
    /// <summary>Output height (0 with <see cref="ShorterSide"/>).</summary>
    public int Height { get; }
    /// <summary>How the aspect ratio is handled.</summary>
    public ResizingKind Resizing { get; }
    /// <summary>Where the crop or the padded image sits.</summary>
    public Anchor CropAnchor { get; }
    /// <summary>The sample value of the padding of <see cref="ResizingKind.IsoPad"/>.</summary>
    public byte PadValue { get; }
    /// <summary>When positive, the shorter side is resized to this and the longer side keeps the aspect ratio.</summary>
    public int ShorterSideSize { get; }

    /// <summary>Resizes to <paramref name="width"/> × <paramref name="height"/> (defaults as ML.NET: IsoCrop, centre).</summary>
    public ResizeImages(int width, int height, ResizingKind resizing = ResizingKind.IsoCrop, Anchor cropAnchor = Anchor.Center, byte padValue = 0)
    {
        ImageOps.CheckSize(width, height);
        if (!Enum.IsDefined(resizing)) throw new ArgumentOutOfRangeException(nameof(resizing), resizing, "unknown resizing kind");
        if (!Enum.IsDefined(cropAnchor)) throw new ArgumentOutOfRangeException(nameof(cropAnchor), cropAnchor, "unknown anchor");
        Width = width; Height = height; Resizing = resizing; CropAnchor = cropAnchor; PadValue = padValue;
    }

    private ResizeImages(int shorter)
    {
        if (shorter <= 0) throw new ArgumentOutOfRangeException(nameof(shorter), shorter, "must be > 0");
        ShorterSideSize = shorter; Resizing = ResizingKind.Fill; CropAnchor = Anchor.Center;
    }

    /// <summary>torchvision's <c>Resize(size)</c>: the shorter side becomes <paramref name="size"/>, the longer side
    /// <c>int(size * long / short)</c>.</summary>
    public static ResizeImages ShorterSide(int size) => new(size);

    /// <summary>The output size for an input of the given size.</summary>
    public (int Width, int Height) OutputSize(int width, int height)
    {
        if (ShorterSideSize <= 0) return (Width, Height);
        if (width <= height) return (ShorterSideSize, (int)((long)ShorterSideSize * height / width));
        return ((int)((long)ShorterSideSize * width / height), ShorterSideSize);
    }

    /// <inheritdoc/>
    public ImageData Transform(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (ow, oh) = OutputSize(image.Width, image.Height);
        switch (Resizing)
        {
            case ResizingKind.Fill:
                return Resampler.Resize(image, 0, 0, image.Width, image.Height, ow, oh);
            case ResizingKind.IsoCrop:
            {
                // The largest box of the target's aspect ratio, anchored, then resized.
                int cw = image.Width, ch = image.Height;
                if ((long)image.Width * oh > (long)image.Height * ow)
                    cw = Math.Clamp((int)Math.Round((double)image.Height * ow / oh), 1, image.Width);
                else
                    ch = Math.Clamp((int)Math.Round((double)image.Width * oh / ow), 1, image.Height);
                var (x0, y0) = Place(image.Width - cw, image.Height - ch);
                return Resampler.Resize(image, x0, y0, cw, ch, ow, oh);
            }
            default:
            {
                double s = Math.Min((double)ow / image.Width, (double)oh / image.Height);
                int rw = Math.Clamp((int)Math.Round(image.Width * s), 1, ow), rh = Math.Clamp((int)Math.Round(image.Height * s), 1, oh);
                var resized = Resampler.Resize(image, 0, 0, image.Width, image.Height, rw, rh);
                var (x0, y0) = Place(ow - rw, oh - rh);
                return ImageOps.Crop(resized, -x0, -y0, ow, oh, PadValue);
            }
        }
    }

    /// <summary>Offsets of the anchored box given the free space on each axis.</summary>
    private (int X, int Y) Place(int freeX, int freeY) => CropAnchor switch
    {
        Anchor.Left => (0, freeY / 2),
        Anchor.Right => (freeX, freeY / 2),
        Anchor.Top => (freeX / 2, 0),
        Anchor.Bottom => (freeX / 2, freeY),
        _ => (freeX / 2, freeY / 2),
    };

    /// <inheritdoc/>
    public override string ToString() => ShorterSideSize > 0 ? $"ResizeImages(shorter side {ShorterSideSize})" : $"ResizeImages({Width}x{Height}, {Resizing}, {CropAnchor})";
}
