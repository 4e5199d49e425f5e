namespace MLNet.Attention.Transforms;

/// <summary>Where one image of a data set comes from: a file, encoded bytes, pixels in memory, an IDX record.</summary>
public abstract class ImageSource
{
    /// <summary>A file path or a row name, used in errors and reports.</summary>
    public abstract string Name { get; }

    /// <summary>Decodes the image to <paramref name="channels"/> channels; failures are <see cref="ImageDataException"/>s naming <see cref="Name"/>.</summary>
    public abstract ImageData Load(int channels, ImageDecodeOptions? options = null);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>An image file, read and decoded when it is loaded (missing and unreadable files are found then).</summary>
public sealed class FileImageSource : ImageSource
{
    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <summary>The file at <paramref name="path"/>.</summary>
    public FileImageSource(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
    }

    /// <inheritdoc/>
    public override string Name => Path;

    /// <inheritdoc/>
    public override ImageData Load(int channels, ImageDecodeOptions? options = null) => ImageDecoder.Load(Path, channels, options);
}

/// <summary>An encoded image (JPEG, PNG, ...) held in memory.</summary>
public sealed class EncodedImageSource : ImageSource
{
    private readonly string _name;

    /// <summary>The encoded bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Encoded bytes named <paramref name="name"/> (for errors).</summary>
    public EncodedImageSource(ReadOnlyMemory<byte> data, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Data = data; _name = name;
    }

    /// <inheritdoc/>
    public override string Name => _name;

    /// <inheritdoc/>
    public override ImageData Load(int channels, ImageDecodeOptions? options = null)
    {
        var opts = options ?? ImageDecodeOptions.Default;
        if (Data.Length == 0) throw new ImageDataException(_name, BadInputKind.Empty, "zero bytes");
        if (Data.Length > opts.MaxFileBytes) throw new ImageDataException(_name, BadInputKind.TooLarge, $"{Data.Length} bytes, above the limit of {opts.MaxFileBytes}");
        return ImageDecoder.Decode(Data.Span, channels, opts, _name);
    }
}

/// <summary>Decoded pixels held in memory.</summary>
public sealed class PixelImageSource : ImageSource
{
    private readonly string _name;

    /// <summary>The image.</summary>
    public ImageData Image { get; }

    /// <summary>The image <paramref name="image"/>, named <paramref name="name"/> (default: its source or "&lt;memory&gt;").</summary>
    public PixelImageSource(ImageData image, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        Image = image; _name = name ?? image.Source ?? "<memory>";
    }

    /// <inheritdoc/>
    public override string Name => _name;

    /// <inheritdoc/>
    public override ImageData Load(int channels, ImageDecodeOptions? options = null)
    {
        var max = (options ?? ImageDecodeOptions.Default).MaxPixels;
        if (max > 0 && (long)Image.Width * Image.Height > max)
            throw new ImageDataException(_name, BadInputKind.TooLarge, $"{Image.Width}x{Image.Height} pixels, above the limit of {max}");
        return Image.WithChannels(channels).WithSource(_name);
    }
}

/// <summary>One image of an <see cref="IdxDataset"/> (a view: the pixels are copied when loaded).</summary>
public sealed class IdxImageSource : ImageSource
{
    /// <summary>The data set.</summary>
    public IdxDataset Dataset { get; }
    /// <summary>The image index.</summary>
    public int Index { get; }

    /// <summary>Image <paramref name="index"/> of <paramref name="dataset"/>.</summary>
    public IdxImageSource(IdxDataset dataset, int index)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if ((uint)index >= (uint)dataset.Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"the data set has {dataset.Count} images");
        Dataset = dataset; Index = index;
    }

    /// <inheritdoc/>
    public override string Name => $"idx[{Index}]";

    /// <inheritdoc/>
    public override ImageData Load(int channels, ImageDecodeOptions? options = null)
    {
        int px = Dataset.Height * Dataset.Width;
        var gray = new ImageData(Dataset.Width, Dataset.Height, 1, Dataset.Images.AsSpan(Index * px, px).ToArray()) { Source = Name };
        return gray.WithChannels(channels);
    }
}

/// <summary>An image and its label index.</summary>
/// <param name="Source">Where the image comes from.</param>
/// <param name="Label">Index into the data set's class names.</param>
public readonly record struct ImageSample(ImageSource Source, int Label);
