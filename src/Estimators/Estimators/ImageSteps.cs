using System.Text.Json.Serialization;
using MLNet.Attention.Data;
using MLNet.Attention.Transforms;
using T = MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>
/// One image operation of a pipeline, as data: what it does to one column (<see cref="OutputType"/> checks the input
/// column and says what comes out), how it runs on one value (<see cref="Apply"/>, evaluation mode), and how it is
/// written to a model's manifest (System.Text.Json, <c>"op"</c> names the kind). The trainers read a chain of steps
/// back into the <see cref="ImagePipeline"/> their batch loader runs.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(LoadImagesStep), "LoadImages")]
[JsonDerivedType(typeof(LoadRawImageBytesStep), "LoadRawImageBytes")]
[JsonDerivedType(typeof(ResizeImagesStep), "ResizeImages")]
[JsonDerivedType(typeof(ConvertToGrayscaleStep), "ConvertToGrayscale")]
[JsonDerivedType(typeof(CenterCropStep), "CenterCrop")]
[JsonDerivedType(typeof(RandomResizedCropStep), "RandomResizedCrop")]
[JsonDerivedType(typeof(RandomCropStep), "RandomCrop")]
[JsonDerivedType(typeof(RandomHorizontalFlipStep), "RandomHorizontalFlip")]
[JsonDerivedType(typeof(ColorJitterStep), "ColorJitter")]
[JsonDerivedType(typeof(ExtractPixelsStep), "ExtractPixels")]
[JsonDerivedType(typeof(NormalizeImageStep), "NormalizeImage")]
[JsonDerivedType(typeof(RandomErasingStep), "RandomErasing")]
internal abstract record ImageStep
{
    /// <summary>The catalog name of the operation (for messages).</summary>
    [JsonIgnore] public abstract string Name { get; }

    /// <summary>True for random augmentations: they change images only while training.</summary>
    [JsonIgnore] public virtual bool IsAugmentation => false;

    /// <summary>The output column's type for an input column of <paramref name="input"/>; a wrong input type is an
    /// error naming <paramref name="column"/> and what was expected.</summary>
    public abstract DataViewType OutputType(DataViewType input, string column);

    /// <summary>Runs on one value (evaluation mode: augmentations take their deterministic form).</summary>
    public abstract object Apply(object value, DataViewType inputType, string column);

    /// <summary>Throws when a parameter is out of range (by building the operation).</summary>
    public virtual void Validate() { }

    protected static ImageDataViewType RequireImage(DataViewType input, string column, string op) => input as ImageDataViewType
        ?? throw new ArgumentOutOfRangeException(nameof(column), $"{op}: column '{column}' must be an image (from LoadImages), but it is {input}");

    protected static ImageData AsImage(object value, string column, string op) => value as ImageData
        ?? throw new InvalidOperationException($"{op}: column '{column}' holds a {value?.GetType().Name ?? "null"}, not an image");
}

/// <summary>An operation on decoded images (resize, crops, flips, colour).</summary>
internal abstract record ImageTransformStep : ImageStep
{
    private IImageTransform? _transform;

    /// <summary>The transform (built once).</summary>
    public IImageTransform Transform() => _transform ??= Create();

    protected abstract IImageTransform Create();

    /// <summary>(width, height) of the output for an input of the given size (0: unknown).</summary>
    protected virtual (int W, int H) OutputSize(int w, int h) => (w, h);

    /// <summary>Channels of the output for an input of <paramref name="c"/> channels (0: unknown).</summary>
    protected virtual int ChannelsOut(int c) => c;

    public override void Validate() => Create();

    public override DataViewType OutputType(DataViewType input, string column)
    {
        var img = RequireImage(input, column, Name);
        var (w, h) = OutputSize(img.Width, img.Height);
        return new ImageDataViewType(h, w, ChannelsOut(img.Channels));
    }

    public override object Apply(object value, DataViewType inputType, string column) => Transform().Transform(AsImage(value, column, Name));
}

/// <summary>An operation on extracted pixels (normalisation, random erasing); needs the (C, H, W) of the vector.</summary>
internal abstract record PixelTransformStep : ImageStep
{
    private IPixelTransform? _transform;

    public IPixelTransform Transform() => _transform ??= Create();

    protected abstract IPixelTransform Create();

    public override void Validate() => Create();

    public override DataViewType OutputType(DataViewType input, string column)
    {
        if (input is not VectorDataViewType { ItemType: var it } v || it != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(column), $"{Name}: column '{column}' must be a vector of Single (from ExtractPixels), but it is {input}");
        if (v.Dimensions.Length != 3 || !v.IsKnownSize)
            throw new ArgumentOutOfRangeException(nameof(column),
                $"{Name}: column '{column}' is {v}, but the (channels, height, width) of the pixels must be known: give the images one size (ResizeImages) before ExtractPixels");
        return v;
    }

    /// <summary>Runs on one planar (C, H, W) vector, into a copy.</summary>
    public override object Apply(object value, DataViewType inputType, string column)
    {
        var dims = ((VectorDataViewType)inputType).Dimensions;
        var values = value as float[] ?? throw new InvalidOperationException($"{Name}: column '{column}' holds a {value?.GetType().Name ?? "null"}, not a float vector");
        var copy = (float[])values.Clone();
        Transform().Transform(new FloatImage(dims[0], dims[1], dims[2], false, copy));
        return copy;
    }
}

/// <summary>ML.NET's <c>LoadImages</c>: a path (text) or the encoded bytes of a file (a byte vector) to a decoded image.</summary>
internal sealed record LoadImagesStep(string? ImageFolder, int Channels, long MaxPixels, long MaxFileBytes, bool ApplyExifOrientation) : ImageStep
{
    private T.LoadImages? _loader;

    public override string Name => "LoadImages";

    [JsonIgnore] public T.LoadImages Loader => _loader ??= new T.LoadImages(ImageFolder, Channels, DecodeOptions);

    [JsonIgnore] public ImageDecodeOptions DecodeOptions => new() { MaxPixels = MaxPixels, MaxFileBytes = MaxFileBytes, ApplyExifOrientation = ApplyExifOrientation };

    public override void Validate() => _ = Loader;

    public override DataViewType OutputType(DataViewType input, string column)
    {
        if (input is not TextDataViewType && !(input is VectorDataViewType { ItemType: var it } && it == NumberDataViewType.Byte))
            throw new ArgumentOutOfRangeException(nameof(column), $"LoadImages: column '{column}' must hold image paths (String) or encoded image bytes (Vector<Byte>), but it is {input}");
        return new ImageDataViewType(0, 0, Channels);
    }

    public override object Apply(object value, DataViewType inputType, string column) => value switch
    {
        string path => Loader.Load(path),
        byte[] bytes => ImageDecoder.Decode(bytes, Channels, DecodeOptions, $"<bytes of column '{column}'>"),
        _ => throw new InvalidOperationException($"LoadImages: column '{column}' holds a {value?.GetType().Name ?? "null"}, not a path or bytes"),
    };
}

/// <summary>ML.NET's <c>LoadRawImageBytes</c>: a path to the file's bytes, undecoded.</summary>
internal sealed record LoadRawImageBytesStep(string? ImageFolder, long MaxFileBytes) : ImageStep
{
    public override string Name => "LoadRawImageBytes";

    private T.LoadRawImageBytes Loader => new(ImageFolder, new ImageDecodeOptions { MaxFileBytes = MaxFileBytes });

    public override DataViewType OutputType(DataViewType input, string column) => input is TextDataViewType
        ? new VectorDataViewType(NumberDataViewType.Byte)
        : throw new ArgumentOutOfRangeException(nameof(column), $"LoadRawImageBytes: column '{column}' must hold image paths (String), but it is {input}");

    public override object Apply(object value, DataViewType inputType, string column) => value is string path
        ? Loader.Load(path)
        : throw new InvalidOperationException($"LoadRawImageBytes: column '{column}' holds a {value?.GetType().Name ?? "null"}, not a path");

    /// <summary>The full path of <paramref name="path"/>.</summary>
    public string Resolve(string path) => ImageFolder is null || Path.IsPathRooted(path) ? path : Path.Combine(ImageFolder, path);
}

/// <summary>ML.NET's <c>ResizeImages</c> (or torchvision's <c>Resize(int)</c> with <see cref="ShorterSide"/>).</summary>
internal sealed record ResizeImagesStep(int Width, int Height, ResizingKind Resizing, Anchor CropAnchor, byte PadValue, int ShorterSide) : ImageTransformStep
{
    public override string Name => "ResizeImages";

    protected override IImageTransform Create() => ShorterSide > 0 ? T.ResizeImages.ShorterSide(ShorterSide) : new T.ResizeImages(Width, Height, Resizing, CropAnchor, PadValue);

    protected override (int W, int H) OutputSize(int w, int h) =>
        ShorterSide > 0 ? (w > 0 && h > 0 ? ((T.ResizeImages)Transform()).OutputSize(w, h) : (0, 0)) : (Width, Height);
}

/// <summary>ML.NET's <c>ConvertToGrayscale</c>.</summary>
internal sealed record ConvertToGrayscaleStep(int OutputChannels) : ImageTransformStep
{
    public override string Name => "ConvertToGrayscale";

    protected override IImageTransform Create() => new T.ConvertToGrayscale(OutputChannels);

    protected override int ChannelsOut(int c) => c is 2 or 4 ? OutputChannels + 1 : c == 0 ? 0 : OutputChannels;
}

/// <summary>torchvision's <c>CenterCrop</c>.</summary>
internal sealed record CenterCropStep(int Width, int Height) : ImageTransformStep
{
    public override string Name => "CenterCrop";

    protected override IImageTransform Create() => new T.CenterCrop(Width, Height);

    protected override (int W, int H) OutputSize(int w, int h) => (Width, Height);
}

/// <summary>torchvision's <c>RandomResizedCrop</c> (evaluation: the central crop, resized).</summary>
internal sealed record RandomResizedCropStep(int Width, int Height, double ScaleMin, double ScaleMax, double RatioMin, double RatioMax) : ImageTransformStep
{
    public override string Name => "RandomResizedCrop";

    public override bool IsAugmentation => true;

    protected override IImageTransform Create() => new T.RandomResizedCrop(Width, Height, (ScaleMin, ScaleMax), (RatioMin, RatioMax));

    protected override (int W, int H) OutputSize(int w, int h) => (Width, Height);
}

/// <summary>torchvision's <c>RandomCrop</c> (evaluation: the central crop).</summary>
internal sealed record RandomCropStep(int Width, int Height, int PadLeft, int PadTop, int PadRight, int PadBottom, bool PadIfNeeded, byte Fill) : ImageTransformStep
{
    public override string Name => "RandomCrop";

    public override bool IsAugmentation => true;

    protected override IImageTransform Create() => new T.RandomCrop(Width, Height, (PadLeft, PadTop, PadRight, PadBottom), PadIfNeeded, Fill);

    protected override (int W, int H) OutputSize(int w, int h) => (Width, Height);
}

/// <summary>torchvision's <c>RandomHorizontalFlip</c> (evaluation: unchanged).</summary>
internal sealed record RandomHorizontalFlipStep(double P) : ImageTransformStep
{
    public override string Name => "RandomHorizontalFlip";

    public override bool IsAugmentation => true;

    protected override IImageTransform Create() => new T.RandomHorizontalFlip(P);
}

/// <summary>torchvision's <c>ColorJitter</c> (evaluation: unchanged); null ranges are disabled.</summary>
internal sealed record ColorJitterStep(double[]? Brightness, double[]? Contrast, double[]? Saturation, double[]? Hue) : ImageTransformStep
{
    public override string Name => "ColorJitter";

    public override bool IsAugmentation => true;

    private static (double, double)? Range(double[]? r) => r is null ? null : r.Length == 2 ? (r[0], r[1]) : throw new ArgumentException("a range has two values (min, max)");

    protected override IImageTransform Create() => new T.ColorJitter(Range(Brightness), Range(Contrast), Range(Saturation), Range(Hue));
}

/// <summary>ML.NET's <c>ExtractPixels</c>: an image to a float vector (C, H, W), planar unless interleaved.</summary>
internal sealed record ExtractPixelsStep(ColorBits ColorsToExtract, ColorsOrder OrderOfExtraction, bool InterleavePixelColors, float OffsetImage, float ScaleImage) : ImageStep
{
    private T.ExtractPixels? _extract;

    public override string Name => "ExtractPixels";

    [JsonIgnore] public T.ExtractPixels Extract => _extract ??= new T.ExtractPixels(ColorsToExtract, OrderOfExtraction, InterleavePixelColors, OffsetImage, ScaleImage);

    public override void Validate() => _ = Extract;

    public override DataViewType OutputType(DataViewType input, string column)
    {
        var img = RequireImage(input, column, Name);
        if (img.Height == 0 || img.Width == 0 || img.Channels == 0) return new VectorDataViewType(NumberDataViewType.Single);
        int c = Extract.OutputChannels(img.Channels);
        return InterleavePixelColors
            ? new VectorDataViewType(NumberDataViewType.Single, img.Height, img.Width, c)
            : new VectorDataViewType(NumberDataViewType.Single, c, img.Height, img.Width);
    }

    public override object Apply(object value, DataViewType inputType, string column) => Extract.Extract(AsImage(value, column, Name)).ToArray();
}

/// <summary>Per-channel <c>(x − mean) / std</c> (torchvision's <c>Normalize</c>).</summary>
internal sealed record NormalizeImageStep(float[] Mean, float[] Std) : PixelTransformStep
{
    public override string Name => "NormalizeImage";

    protected override IPixelTransform Create() => new T.NormalizeImage(Mean, Std);

    public override DataViewType OutputType(DataViewType input, string column)
    {
        var v = (VectorDataViewType)base.OutputType(input, column);
        if (Mean.Length != 1 && Mean.Length != v.Dimensions[0])
            throw new ArgumentOutOfRangeException(nameof(column), $"NormalizeImage: {Mean.Length} channel means for column '{column}', which has {v.Dimensions[0]} channels ({v})");
        return v;
    }

    public bool Equals(NormalizeImageStep? other) => other is not null && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    public override int GetHashCode() => HashCode.Combine(Mean.Length, Std.Length);
}

/// <summary>torchvision's <c>RandomErasing</c> (evaluation: unchanged).</summary>
internal sealed record RandomErasingStep(double P, double ScaleMin, double ScaleMax, double RatioMin, double RatioMax, float[]? Value, bool RandomValue) : PixelTransformStep
{
    public override string Name => "RandomErasing";

    public override bool IsAugmentation => true;

    protected override IPixelTransform Create() => new T.RandomErasing(P, (ScaleMin, ScaleMax), (RatioMin, RatioMax), Value, RandomValue);
}
