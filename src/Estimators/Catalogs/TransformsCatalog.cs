using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Transforms;

namespace MLNet.Attention;

/// <summary>The transforms (ML.NET's <c>TransformsCatalog</c>); the image transforms are its extension methods in <see cref="ImageTransformsCatalog"/>.</summary>
public sealed class TransformsCatalog
{
    internal TransformsCatalog(MLContext env)
    {
        Environment = env;
        Conversion = new ConversionTransforms(env);
    }

    internal MLContext Environment { get; }

    /// <summary>Type conversions: <c>MapValueToKey</c> and <c>MapKeyToValue</c> (extension methods in <see cref="ConversionsExtensionsCatalog"/>).</summary>
    public ConversionTransforms Conversion { get; }

    /// <summary>The conversion transforms (ML.NET's <c>TransformsCatalog.ConversionTransforms</c>).</summary>
    public sealed class ConversionTransforms
    {
        internal ConversionTransforms(MLContext env) => Environment = env;

        internal MLContext Environment { get; }
    }
}

/// <summary>
/// Key conversions of <see cref="TransformsCatalog.Conversion"/> (ML.NET's <c>ConversionsExtensionsCatalog</c>): values to
/// keys (a dictionary learned from the data) and keys back to values. The canonical image-classification pipeline maps
/// the label to a key, trains on it, and maps the predicted key back:
/// <code>
/// ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label")
///     .Append(ml.Transforms.LoadImages("Image", folder, "ImagePath"))
///     .Append(ml.Transforms.ResizeImages("Image", 28, 28))
///     .Append(ml.Transforms.ExtractPixels("Features", "Image"))
///     .Append(ml.MulticlassClassification.Trainers.SeResNet(labelColumnName: "LabelAsKey", featureColumnName: "Features"))
///     .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
/// </code>
/// </summary>
public static class ConversionsExtensionsCatalog
{
    /// <summary>
    /// Maps a scalar text, boolean or number column to keys (<see cref="Data.KeyDataViewType"/>: 1..Count, 0 for a value not
    /// in the dictionary or missing). <c>Fit</c> learns the dictionary: the distinct values of the column, or of
    /// <paramref name="keyData"/> (a one-column view of the same type, or of text to parse) when given.
    /// </summary>
    /// <param name="catalog">The catalog.</param>
    /// <param name="outputColumnName">The key column written.</param>
    /// <param name="inputColumnName">The value column read (null: <paramref name="outputColumnName"/>).</param>
    /// <param name="maximumNumberOfKeys">The most distinct values accepted; more is an error naming the column.</param>
    /// <param name="keyOrdinality">Keys in order of first occurrence (default) or sorted by value.</param>
    /// <param name="addKeyValueAnnotationsAsText">True: the key values are text whatever the input type, so <c>MapKeyToValue</c> gives text.</param>
    /// <param name="keyData">The dictionary's values instead of the data's (a view of one column).</param>
    public static ValueToKeyMappingEstimator MapValueToKey(this TransformsCatalog.ConversionTransforms catalog, string outputColumnName, string? inputColumnName = null,
        int maximumNumberOfKeys = 1000000, ValueToKeyMappingEstimator.KeyOrdinality keyOrdinality = ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence,
        bool addKeyValueAnnotationsAsText = false, IDataView? keyData = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new(outputColumnName, inputColumnName, maximumNumberOfKeys, keyOrdinality, addKeyValueAnnotationsAsText, keyData);
    }

    /// <summary>Maps a key column back to its original values (its <c>KeyValues</c>), e.g. a trainer's key <c>PredictedLabel</c> to the label.</summary>
    /// <param name="catalog">The catalog.</param>
    /// <param name="outputColumnName">The value column written.</param>
    /// <param name="inputColumnName">The key column read (null: <paramref name="outputColumnName"/>).</param>
    public static KeyToValueMappingEstimator MapKeyToValue(this TransformsCatalog.ConversionTransforms catalog, string outputColumnName, string? inputColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new(outputColumnName, inputColumnName);
    }
}

/// <summary>
/// The image transforms of <see cref="TransformsCatalog"/> (ML.NET's <c>ImageEstimatorsCatalog</c>, plus torchvision's
/// crops, normalisation and training augmentations). Each reads one column and writes one; <c>inputColumnName</c>
/// null means the output column's name. Augmentations change images only while a trainer fits.
/// </summary>
public static class ImageTransformsCatalog
{
    /// <summary>Decodes images from paths (text, resolved against <paramref name="imageFolder"/>) or encoded bytes into
    /// <paramref name="channels"/> channels (3 RGB, default; 1 gray). Every failure names the file.</summary>
    public static ImageEstimator LoadImages(this TransformsCatalog catalog, string outputColumnName, string? imageFolder, string? inputColumnName = null, int channels = 3) =>
        new(outputColumnName, inputColumnName, new LoadImagesStep(imageFolder, channels, ImageDecodeOptions.DefaultMaxPixels, ImageDecodeOptions.Default.MaxFileBytes, true));

    /// <summary>Reads image files as bytes without decoding them (a byte vector column).</summary>
    public static ImageEstimator LoadRawImageBytes(this TransformsCatalog catalog, string outputColumnName, string? imageFolder, string? inputColumnName = null) =>
        new(outputColumnName, inputColumnName, new LoadRawImageBytesStep(imageFolder, ImageDecodeOptions.Default.MaxFileBytes));

    /// <summary>Resizes to <paramref name="imageWidth"/> × <paramref name="imageHeight"/> (bilinear, antialiased; IsoCrop keeps the aspect ratio and crops at <paramref name="cropAnchor"/>).</summary>
    public static ImageEstimator ResizeImages(this TransformsCatalog catalog, string outputColumnName, int imageWidth, int imageHeight, string? inputColumnName = null,
        ResizingKind resizing = ResizingKind.IsoCrop, Anchor cropAnchor = Anchor.Center) =>
        new(outputColumnName, inputColumnName, new ResizeImagesStep(imageWidth, imageHeight, resizing, cropAnchor, 0, 0));

    /// <summary>Resizes the shorter side to <paramref name="size"/>, keeping the aspect ratio (torchvision's <c>Resize(int)</c>).</summary>
    public static ImageEstimator ResizeShorterSide(this TransformsCatalog catalog, string outputColumnName, int size, string? inputColumnName = null) =>
        new(outputColumnName, inputColumnName, new ResizeImagesStep(0, 0, ResizingKind.IsoCrop, Anchor.Center, 0, size));

    /// <summary>Converts to gray (torchvision's formula); <paramref name="outputChannels"/> 3 replicates it into RGB.</summary>
    public static ImageEstimator ConvertToGrayscale(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null, int outputChannels = 1) =>
        new(outputColumnName, inputColumnName, new ConvertToGrayscaleStep(outputChannels));

    /// <summary>Crops the central <paramref name="width"/> × <paramref name="height"/> box (padding with black when the image is smaller).</summary>
    public static ImageEstimator CenterCrop(this TransformsCatalog catalog, string outputColumnName, int width, int height, string? inputColumnName = null) =>
        new(outputColumnName, inputColumnName, new CenterCropStep(width, height));

    /// <summary>
    /// Converts images to floats (C, H, W): the chosen channels, <c>(value − <paramref name="offsetImage"/>) ×
    /// <paramref name="scaleImage"/></c>. ML.NET's defaults give 0..255; <c>scaleImage: 1f / 255</c> gives torchvision's
    /// <c>ToTensor</c> (what <see cref="NormalizeImage"/> expects).
    /// </summary>
    public static ImageEstimator ExtractPixels(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null,
        ColorBits colorsToExtract = ColorBits.Rgb, ColorsOrder orderOfExtraction = ColorsOrder.ARGB, bool interleavePixelColors = false,
        float offsetImage = 0f, float scaleImage = 1f) =>
        new(outputColumnName, inputColumnName, new ExtractPixelsStep(colorsToExtract, orderOfExtraction, interleavePixelColors, offsetImage, scaleImage));

    /// <summary>Per-channel <c>(x − mean) / std</c> of extracted pixels (one value: every channel), e.g. ImageNet's statistics.</summary>
    public static ImageEstimator NormalizeImage(this TransformsCatalog catalog, string outputColumnName, float[] mean, float[] std, string? inputColumnName = null) =>
        new(outputColumnName, inputColumnName, new NormalizeImageStep(mean, std));

    /// <summary>Training augmentation: a random crop of <paramref name="scaleMin"/>–<paramref name="scaleMax"/> of the area and
    /// <paramref name="ratioMin"/>–<paramref name="ratioMax"/> aspect ratio, resized to <paramref name="width"/> × <paramref name="height"/>
    /// (outside training: the central crop, resized).</summary>
    public static ImageEstimator RandomResizedCrop(this TransformsCatalog catalog, string outputColumnName, int width, int height, string? inputColumnName = null,
        double scaleMin = 0.08, double scaleMax = 1.0, double ratioMin = 3.0 / 4.0, double ratioMax = 4.0 / 3.0) =>
        new(outputColumnName, inputColumnName, new RandomResizedCropStep(width, height, scaleMin, scaleMax, ratioMin, ratioMax));

    /// <summary>Training augmentation: a random <paramref name="width"/> × <paramref name="height"/> crop after padding every side by
    /// <paramref name="padding"/> (outside training: the central crop).</summary>
    public static ImageEstimator RandomCrop(this TransformsCatalog catalog, string outputColumnName, int width, int height, string? inputColumnName = null,
        int padding = 0, bool padIfNeeded = false, byte fill = 0) =>
        new(outputColumnName, inputColumnName, new RandomCropStep(width, height, padding, padding, padding, padding, padIfNeeded, fill));

    /// <summary>Training augmentation: mirrors with probability <paramref name="probability"/> (outside training: unchanged).</summary>
    public static ImageEstimator RandomHorizontalFlip(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null, double probability = 0.5) =>
        new(outputColumnName, inputColumnName, new RandomHorizontalFlipStep(probability));

    /// <summary>Training augmentation: brightness, contrast, saturation factors in [1 − v, 1 + v] and a hue shift in [−h, h] (torchvision's <c>ColorJitter</c>; 0 disables).</summary>
    public static ImageEstimator ColorJitter(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null,
        double brightness = 0, double contrast = 0, double saturation = 0, double hue = 0)
    {
        var j = new Transforms.ColorJitter(brightness, contrast, saturation, hue);
        static double[]? R((double Min, double Max)? r) => r is { } v ? new[] { v.Min, v.Max } : null;
        return new(outputColumnName, inputColumnName, new ColorJitterStep(R(j.Brightness), R(j.Contrast), R(j.Saturation), R(j.Hue)));
    }

    /// <summary>Training augmentation on extracted pixels: with probability <paramref name="probability"/>, a random box is set to
    /// <paramref name="value"/> (torchvision's <c>RandomErasing</c>; outside training: unchanged).</summary>
    public static ImageEstimator RandomErasing(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null, double probability = 0.5,
        double scaleMin = 0.02, double scaleMax = 0.33, double ratioMin = 0.3, double ratioMax = 3.3, float value = 0f) =>
        new(outputColumnName, inputColumnName, new RandomErasingStep(probability, scaleMin, scaleMax, ratioMin, ratioMax, new[] { value }, false));
}
