using MLNet.Attention.Data;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>What the first column of an image chain holds.</summary>
internal enum ImageBaseKind
{
    /// <summary>Image file paths (text).</summary>
    Path,
    /// <summary>Encoded image bytes (a byte vector).</summary>
    Bytes,
    /// <summary>Decoded images.</summary>
    Image,
}

/// <summary>
/// How a column of a view was computed by the image transforms of a chain: from which column it started (a path,
/// bytes or image column that is still readable in the view, by index) and which steps ran, in order. Trainers turn
/// it into the <see cref="ImagePipeline"/> their batch loader runs on worker threads (with augmentation while
/// training), and scoring runs it on a whole batch of rows in parallel, instead of one row at a time.
/// </summary>
internal sealed class ImagePlan
{
    private ImagePlan(DataViewSchema.Column baseColumn, ImageBaseKind kind, IReadOnlyList<ImageStep> steps, IDataView root)
    {
        Base = baseColumn; BaseKind = kind; Steps = steps; Root = root;
        int i = 0;
        if (i < steps.Count && steps[i] is LoadRawImageBytesStep raw) { RawBytes = raw; i++; }
        if (i < steps.Count && steps[i] is LoadImagesStep load) { Load = load; i++; }
        var image = new List<ImageTransformStep>();
        while (i < steps.Count && steps[i] is ImageTransformStep t) { image.Add(t); i++; }
        if (i < steps.Count && steps[i] is ExtractPixelsStep e) { Extract = e; i++; }
        var pixels = new List<PixelTransformStep>();
        while (i < steps.Count && steps[i] is PixelTransformStep p) { pixels.Add(p); i++; }
        if (i < steps.Count)
            throw new InvalidOperationException($"the image steps {string.Join(" → ", steps.Select(s => s.Name))} are in an order no image pipeline runs (at {steps[i].Name})");
        ImageSteps = image; PixelSteps = pixels;
        if (Extract is { InterleavePixelColors: true })
            throw new InvalidOperationException("ExtractPixels(interleavePixelColors: true) makes HWC vectors; the backbones take planar (C, H, W) pixels: leave interleavePixelColors false");
    }

    /// <summary>The first column (same index in the resolved view and in <see cref="Root"/>).</summary>
    public DataViewSchema.Column Base { get; }
    /// <summary>What it holds.</summary>
    public ImageBaseKind BaseKind { get; }
    /// <summary>Every step, in order.</summary>
    public IReadOnlyList<ImageStep> Steps { get; }
    /// <summary>The view the first column comes from (an image-source provider, perhaps).</summary>
    public IDataView Root { get; }
    /// <summary>LoadRawImageBytes, if first.</summary>
    public LoadRawImageBytesStep? RawBytes { get; }
    /// <summary>LoadImages (decoding), if present.</summary>
    public LoadImagesStep? Load { get; }
    /// <summary>Transforms of the decoded image.</summary>
    public IReadOnlyList<ImageTransformStep> ImageSteps { get; }
    /// <summary>ExtractPixels, if present (else the trainers use torchvision's ToTensor).</summary>
    public ExtractPixelsStep? Extract { get; }
    /// <summary>Transforms of the extracted pixels.</summary>
    public IReadOnlyList<PixelTransformStep> PixelSteps { get; }

    /// <summary>The plan of <paramref name="column"/> in <paramref name="view"/>, or null when it does not come from an
    /// image (e.g. float vectors given directly) or its first column is hidden behind a transform that is not an image step.</summary>
    public static ImagePlan? Resolve(IDataView view, DataViewSchema.Column column)
    {
        var steps = new List<ImageStep>();
        var v = view;
        int idx = column.Index;
        while (true)
        {
            if (v is MappedDataView m)
            {
                int n = m.Input.Schema.Count;
                if (idx >= n)
                {
                    if (m.Mapper is not ImageTransformer.Mapper im) return null;
                    steps.Insert(0, im.Transformer.Step);
                    idx = im.Input.Index;
                }
                v = m.Input;
                continue;
            }
            if (v is RowSubsetDataView r)
            {
                v = r.Input;
                continue;
            }
            if (v is ScoringDataView sv && idx < sv.Input.Schema.Count)
            {
                v = sv.Input;
                continue;
            }
            break;
        }
        var type = v.Schema[idx].Type;
        ImageBaseKind kind;
        if (type is TextDataViewType) kind = ImageBaseKind.Path;
        else if (type is VectorDataViewType { ItemType: var it } && it == NumberDataViewType.Byte) kind = ImageBaseKind.Bytes;
        else if (type is ImageDataViewType) kind = ImageBaseKind.Image;
        else return null;
        return new ImagePlan(view.Schema[idx], kind, steps, v);
    }

    /// <summary>The evaluation/training pipeline of the steps after decoding.</summary>
    public ImagePipeline ToPipeline() => new(
        ImageSteps.Count == 0 ? null : new Compose(ImageSteps.Select(s => s.Transform()).ToArray()),
        Extract?.Extract ?? ExtractPixels.ToTensor(),
        PixelSteps.Count == 0 ? null : PixelSteps.Count == 1 ? PixelSteps[0].Transform() : new ComposePixels(PixelSteps.Select(s => s.Transform()).ToArray()));

    /// <summary>Channels decoded (0: an image's own).</summary>
    public int Channels => Load?.Channels ?? (BaseKind == ImageBaseKind.Image ? ((ImageDataViewType)Base.Type).Channels : 3);

    /// <summary>Decoder limits.</summary>
    public ImageDecodeOptions DecodeOptions => Load?.DecodeOptions ?? ImageDecodeOptions.Default;

    /// <summary>The image source of one value of the first column.</summary>
    public ImageSource Source(object? value, long row)
    {
        ImageSource inner = value switch
        {
            string path => new FileImageSource(RawBytes?.Resolve(path) ?? Load?.Loader.Resolve(path) ?? path),
            byte[] bytes => new EncodedImageSource(bytes, $"row {row} of column '{Base.Name}'"),
            ImageData image => new PixelImageSource(image, image.Source ?? $"row {row} of column '{Base.Name}'"),
            null => throw new InvalidOperationException($"column '{Base.Name}' is empty (null) in row {row}"),
            _ => throw new InvalidOperationException($"column '{Base.Name}' holds a {value.GetType().Name} in row {row}, not a path, bytes or an image"),
        };
        return Wrap(inner);
    }

    /// <summary><paramref name="inner"/>, decoded with this plan's channels and limits whatever the loader asks for.</summary>
    public ImageSource Wrap(ImageSource inner) => new PlannedSource(inner, Channels, DecodeOptions);

    /// <summary>Loads <paramref name="source"/> and runs the evaluation pipeline into <paramref name="destination"/>.</summary>
    public static void RunInto(ImageSource source, ImagePipeline pipeline, Memory<float> destination, (int C, int H, int W) shape)
    {
        var img = source.Load(3);
        try
        {
            pipeline.RunInto(img, null, destination, shape.C, shape.H, shape.W);
        }
        catch (Exception e) when (e is not ImageDataException)
        {
            throw new InvalidOperationException($"'{source.Name}': the image pipeline failed: {e.Message}", e);
        }
    }

    /// <summary>An image source decoded with fixed channels and limits (the loader otherwise asks for its own).</summary>
    private sealed class PlannedSource : ImageSource
    {
        private readonly ImageSource _inner;
        private readonly int _channels;
        private readonly ImageDecodeOptions _decode;

        public PlannedSource(ImageSource inner, int channels, ImageDecodeOptions decode)
        {
            _inner = inner is PlannedSource p ? p._inner : inner;
            _channels = channels; _decode = decode;
        }

        public override string Name => _inner.Name;

        public override ImageData Load(int channels, ImageDecodeOptions? options = null) =>
            _inner.Load(_channels > 0 ? _channels : _inner switch { IdxImageSource => 1, PixelImageSource p => p.Image.Channels, _ => 3 }, _decode);
    }
}
