namespace MLNet.Attention.Transforms;

/// <summary>
/// The per-image work of a data loader: image transforms (resize, crops, flips, jitter) on the decoded
/// <see cref="ImageData"/>, then <see cref="ExtractPixels"/> to floats, then pixel transforms (normalisation,
/// random erasing). With a <see cref="Random"/> it is the training pipeline; without one, the evaluation pipeline.
/// </summary>
public sealed class ImagePipeline
{
    /// <summary>Transforms of the decoded image, or null.</summary>
    public IImageTransform? ImageTransforms { get; }
    /// <summary>The conversion to floats.</summary>
    public ExtractPixels Extract { get; }
    /// <summary>Transforms of the float image, or null.</summary>
    public IPixelTransform? PixelTransforms { get; }

    /// <summary>A pipeline; <paramref name="extract"/> defaults to <see cref="ExtractPixels.ToTensor"/>.</summary>
    public ImagePipeline(IImageTransform? imageTransforms = null, ExtractPixels? extract = null, IPixelTransform? pixelTransforms = null)
    {
        ImageTransforms = imageTransforms; Extract = extract ?? ExtractPixels.ToTensor(); PixelTransforms = pixelTransforms;
    }

    /// <summary>The usual ImageNet training recipe: RandomResizedCrop(size), RandomHorizontalFlip, ToTensor, ImageNet normalisation.</summary>
    public static ImagePipeline ImageNetTraining(int size = 224) =>
        new(new Compose(new RandomResizedCrop(size), new RandomHorizontalFlip()), ExtractPixels.ToTensor(), NormalizeImage.ImageNet);

    /// <summary>The usual ImageNet evaluation recipe: shorter side to <paramref name="resize"/>, CenterCrop(size), ToTensor, ImageNet normalisation.</summary>
    public static ImagePipeline ImageNetEvaluation(int size = 224, int resize = 256) =>
        new(new Compose(ResizeImages.ShorterSide(resize), new CenterCrop(size)), ExtractPixels.ToTensor(), NormalizeImage.ImageNet);

    /// <summary>Fashion-MNIST: ToTensor and Fashion-MNIST normalisation (one channel: load with
    /// <c>ImageLoaderOptions.Channels = 1</c>), with <paramref name="augmentations"/> (e.g. RandomCrop(28, 28, padding: 2)
    /// and RandomHorizontalFlip) before them.</summary>
    public static ImagePipeline FashionMnist(params IImageTransform[] augmentations) =>
        new(augmentations.Length == 0 ? null : new Compose(augmentations), ExtractPixels.ToTensor(), NormalizeImage.FashionMnist);

    /// <summary>Runs the pipeline into new memory.</summary>
    public FloatImage Run(ImageData image, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var img = ImageTransforms?.Transform(image, random) ?? image;
        var f = Extract.Extract(img);
        return PixelTransforms?.Transform(f, random) ?? f;
    }

    /// <summary>Runs the pipeline into <paramref name="destination"/>, which must hold exactly the output
    /// (<paramref name="channels"/> × <paramref name="height"/> × <paramref name="width"/>); a different output shape is
    /// an <see cref="ImageDataException"/> of kind <see cref="BadInputKind.ShapeMismatch"/>.</summary>
    public void RunInto(ImageData image, Random? random, Memory<float> destination, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(image);
        var img = ImageTransforms?.Transform(image, random) ?? image;
        int oc = Extract.OutputChannels(img.Channels);
        if (oc != channels || img.Height != height || img.Width != width)
            throw new ImageDataException(image.Source ?? "<memory>", BadInputKind.ShapeMismatch,
                $"the pipeline made it {oc}x{img.Height}x{img.Width} (CxHxW) but the batch holds {channels}x{height}x{width}; " +
                "give every image the same size with ResizeImages/CenterCrop/RandomResizedCrop and decode with a fixed channel count");
        // A NormalizeImage right after the extraction is folded into it (one pass, identical values).
        IReadOnlyList<IPixelTransform> rest = PixelTransforms switch
        {
            null => Array.Empty<IPixelTransform>(),
            ComposePixels cp => cp.Transforms,
            var t => new[] { t },
        };
        var fused = rest.Count > 0 ? rest[0] as NormalizeImage : null;
        Extract.ExtractInto(img, destination.Span, fused);
        if (rest.Count > (fused is null ? 0 : 1))
        {
            var f = new FloatImage(channels, height, width, Extract.InterleavePixelColors, destination) { Source = image.Source };
            for (int i = fused is null ? 0 : 1; i < rest.Count; i++) f = rest[i].Transform(f, random);
        }
    }

    /// <summary>The output shape (C, H, W) for an input of the given size and channels, in evaluation mode.</summary>
    public (int Channels, int Height, int Width) OutputShape(int width, int height, int channels)
    {
        var probe = ImageData.Create(width, height, channels, 128);
        var img = ImageTransforms?.Transform(probe) ?? probe;
        return (Extract.OutputChannels(img.Channels), img.Height, img.Width);
    }
}

/// <summary>Reads and decodes image files (ML.NET's <c>LoadImages</c>): relative paths are resolved against
/// <see cref="ImageFolder"/>; every failure is an <see cref="ImageDataException"/> naming the file.</summary>
public sealed class LoadImages
{
    /// <summary>The folder relative paths are taken from, or null (the current folder).</summary>
    public string? ImageFolder { get; }
    /// <summary>Channels decoded: 1, 2, 3 (default) or 4.</summary>
    public int Channels { get; }
    /// <summary>Decoder limits.</summary>
    public ImageDecodeOptions DecodeOptions { get; }

    /// <summary>Loads images from <paramref name="imageFolder"/> as <paramref name="channels"/> channels.</summary>
    public LoadImages(string? imageFolder = null, int channels = 3, ImageDecodeOptions? decodeOptions = null)
    {
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 1, 2, 3 or 4");
        ImageFolder = imageFolder; Channels = channels; DecodeOptions = decodeOptions ?? ImageDecodeOptions.Default;
    }

    /// <summary>The full path of <paramref name="path"/>.</summary>
    public string Resolve(string path) => ImageFolder is null || Path.IsPathRooted(path) ? path : Path.Combine(ImageFolder, path);

    /// <summary>Reads and decodes one image.</summary>
    public ImageData Load(string path) => ImageDecoder.Load(Resolve(path), Channels, DecodeOptions);
}

/// <summary>Reads image files as bytes without decoding them (ML.NET's <c>LoadRawImageBytes</c>), with the same
/// errors as <see cref="LoadImages"/> for missing, unreadable and empty files.</summary>
public sealed class LoadRawImageBytes
{
    /// <summary>The folder relative paths are taken from, or null.</summary>
    public string? ImageFolder { get; }
    /// <summary>Limits (the file size limit applies).</summary>
    public ImageDecodeOptions DecodeOptions { get; }

    /// <summary>Reads files from <paramref name="imageFolder"/>.</summary>
    public LoadRawImageBytes(string? imageFolder = null, ImageDecodeOptions? decodeOptions = null)
    {
        ImageFolder = imageFolder; DecodeOptions = decodeOptions ?? ImageDecodeOptions.Default;
    }

    /// <summary>The bytes of one file.</summary>
    public byte[] Load(string path) =>
        ImageDecoder.ReadFile(ImageFolder is null || Path.IsPathRooted(path) ? path : Path.Combine(ImageFolder, path), DecodeOptions);
}
