namespace MLNet.Attention.Transforms;

/// <summary>What is wrong with one input of a data set.</summary>
public enum BadInputKind
{
    /// <summary>The file does not exist.</summary>
    Missing,
    /// <summary>The file exists but cannot be read (permissions, I/O error, a folder where a file was expected).</summary>
    Unreadable,
    /// <summary>The file has zero bytes.</summary>
    Empty,
    /// <summary>The data ends before the image does.</summary>
    Truncated,
    /// <summary>A known image format whose data is inconsistent (bad CRC, bad Huffman code, impossible size).</summary>
    Corrupt,
    /// <summary>No image signature at all (a text file, an archive...).</summary>
    NotAnImage,
    /// <summary>An image format (or variant) that is recognised but not decoded: TIFF, WebP, HEIC, ASCII PNM...</summary>
    UnsupportedFormat,
    /// <summary>More pixels than the configured limit (a decompression bomb guard), read from the header.</summary>
    TooLarge,
    /// <summary>A label that is not one of the training classes.</summary>
    UnknownLabel,
    /// <summary>A folder (data set root or class folder) without any image.</summary>
    EmptyFolder,
    /// <summary>The image decoded but does not fit the batch (a different size or channel count after the transforms).</summary>
    ShapeMismatch,
}

/// <summary>What to do with a bad input: stop with an exception, or skip it and count it in a <see cref="BadInputReport"/>.</summary>
public enum BadInputPolicy
{
    /// <summary>Throw an <see cref="ImageDataException"/> naming the input and the reason (the default).</summary>
    Throw,
    /// <summary>Leave the input out and record it in the report.</summary>
    Skip,
}

/// <summary>A bad input of an image data set: names the file (or row) and the reason.</summary>
public sealed class ImageDataException : Exception
{
    /// <summary>The file path or row name of the bad input.</summary>
    public string Input { get; }
    /// <summary>The category of problem.</summary>
    public BadInputKind Kind { get; }
    /// <summary>The reason, without the file name.</summary>
    public string Reason { get; }

    /// <summary>Creates the exception; the message is "'source': reason".</summary>
    public ImageDataException(string source, BadInputKind kind, string reason, Exception? inner = null)
        : base($"{Describe(kind)} '{source}': {reason}", inner)
    {
        Input = source; Kind = kind; Reason = reason;
    }

    private static string Describe(BadInputKind kind) => kind switch
    {
        BadInputKind.Missing => "missing image file",
        BadInputKind.Unreadable => "unreadable image file",
        BadInputKind.Empty => "empty image file",
        BadInputKind.Truncated => "truncated image",
        BadInputKind.Corrupt => "corrupt image",
        BadInputKind.NotAnImage => "not an image",
        BadInputKind.UnsupportedFormat => "unsupported image format",
        BadInputKind.TooLarge => "image too large",
        BadInputKind.UnknownLabel => "unknown label",
        BadInputKind.EmptyFolder => "empty folder",
        BadInputKind.ShapeMismatch => "image does not fit the batch",
        _ => "bad input",
    };
}
