using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNet.Attention.Transforms;

/// <summary>
/// Reads IDX files (the MNIST / Fashion-MNIST format, optionally gzip-compressed): a big-endian header with a
/// type code and dimension sizes, then the raw elements. Only unsigned-byte data (type 0x08) is accepted, which is
/// what image and label files use.
/// </summary>
public static class IdxReader
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DebianFashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>Reads an IDX file: its dimension sizes and bytes. Files ending in .gz are decompressed.</summary>
    public static (int[] Shape, byte[] Data) Read(string path, long maxElements = 1L << 31)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file '{path}' does not exist", path);
        using var file = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            return Read(s, path, maxElements);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("IDX file", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"IDX file '{path}': {e.Message}", e);
        }
    }

    private static (int[] Shape, byte[] Data) Read(Stream s, string path, long maxElements)
    {
        Span<byte> magic = stackalloc byte[4];
        ReadExactly(s, magic, path, "the 4-byte magic number");
        if (magic[0] != 0 || magic[1] != 0)
            throw new InvalidDataException($"IDX file '{path}': bad magic number {Convert.ToHexString(magic)} (expected 0000TTDD)");
        if (magic[2] != 0x08)
            throw new InvalidDataException($"IDX file '{path}': element type 0x{magic[2]:X2} is not supported (expected 0x08, unsigned byte)");
        int rank = magic[3];
        if (rank is < 1 or > 4) throw new InvalidDataException($"IDX file '{path}': {rank} dimensions (expected 1 to 4)");
        var shape = new int[rank];
        Span<byte> dim = stackalloc byte[4];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            ReadExactly(s, dim, path, $"dimension {i}");
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(dim);
            if (shape[i] < 0) throw new InvalidDataException($"IDX file '{path}': negative size {shape[i]} of dimension {i}");
            count *= shape[i];
            if (count > maxElements) throw new InvalidDataException($"IDX file '{path}': {count} elements exceed the limit of {maxElements}");
        }
        var data = new byte[count];
        ReadExactly(s, data, path, $"{count} data bytes ({string.Join("x", shape)})");
        return (shape, data);
    }

    private static void ReadExactly(Stream s, Span<byte> buffer, string path, string what)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = s.Read(buffer[read..]);
            if (n == 0) throw new InvalidDataException($"IDX file '{path}' is truncated: expected {what}, got {read} of {buffer.Length} bytes");
            read += n;
        }
    }
}

/// <summary>An image classification set held in memory as uint8 images (N×H×W, one channel) and int64 labels.</summary>
public sealed class IdxDataset
{
    /// <summary>The Fashion-MNIST class names, in label order.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClasses = new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };

    /// <summary>Pixels, row-major N×H×W.</summary>
    public byte[] Images { get; }
    /// <summary>Label of each image.</summary>
    public byte[] Labels { get; }
    /// <summary>Number of images.</summary>
    public int Count { get; }
    /// <summary>Image height.</summary>
    public int Height { get; }
    /// <summary>Image width.</summary>
    public int Width { get; }
    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    private IdxDataset(byte[] images, byte[] labels, int count, int height, int width, IReadOnlyList<string> classNames)
    {
        Images = images; Labels = labels; Count = count; Height = height; Width = width; ClassNames = classNames;
    }

    /// <summary>Loads an images file (N×H×W) and a labels file (N) and checks that they belong together.</summary>
    public static IdxDataset Load(string imagesPath, string labelsPath, IReadOnlyList<string>? classNames = null)
    {
        var (ishape, images) = IdxReader.Read(imagesPath);
        var (lshape, labels) = IdxReader.Read(labelsPath);
        if (ishape.Length != 3) throw new InvalidDataException($"IDX images file '{imagesPath}' has {ishape.Length} dimensions, expected 3 (N x H x W)");
        if (lshape.Length != 1) throw new InvalidDataException($"IDX labels file '{labelsPath}' has {lshape.Length} dimensions, expected 1");
        if (ishape[0] != lshape[0])
            throw new InvalidDataException($"'{imagesPath}' holds {ishape[0]} images but '{labelsPath}' holds {lshape[0]} labels");
        int classes = labels.Length == 0 ? 0 : labels.Max() + 1;
        if (classNames is not null && classes > classNames.Count)
            throw new InvalidDataException($"'{labelsPath}' has label {classes - 1}, but only {classNames.Count} class names were given");
        return new IdxDataset(images, labels, ishape[0], ishape[1], ishape[2],
            classNames ?? Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }

    /// <summary>
    /// Fashion-MNIST's training (60,000) or test (10,000) split from <paramref name="folder"/> (default: Debian's
    /// dataset-fashion-mnist). A missing folder gives an error with the apt command that installs it.
    /// </summary>
    public static IdxDataset FashionMnist(bool train, string? folder = null)
    {
        folder ??= IdxReader.DebianFashionMnistFolder;
        string prefix = train ? "train" : "t10k";
        string images = Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"), labels = Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz");
        if (!File.Exists(images) || !File.Exists(labels))
            throw new FileNotFoundException($"Fashion-MNIST not found: expected {images} and {labels}. Install it with 'apt-get install dataset-fashion-mnist' (build/setup.sh does) or pass the folder holding the IDX .gz files.", images);
        return Load(images, labels, FashionMnistClasses);
    }

    /// <summary>The first <paramref name="count"/> images (or all).</summary>
    public IdxDataset Take(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must be >= 0");
        count = Math.Min(count, Count);
        int px = Height * Width;
        return new IdxDataset(Images.AsSpan(0, count * px).ToArray(), Labels.AsSpan(0, count).ToArray(), count, Height, Width, ClassNames);
    }
}
