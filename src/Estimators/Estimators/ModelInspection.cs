using MLNet.Attention.Data;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>
/// Access to the parts of a trained model for inspection — attention maps and Grad-CAM (MLNet.Attention.Visualization):
/// the network that scores, and the pixels the pipeline makes of an image.
/// </summary>
public static class ModelInspection
{
    /// <summary>
    /// The network of a trained backbone, in evaluation mode on the model's device. It belongs to the transformer:
    /// do not dispose or train it; hooks registered on it must be removed before it scores again from other threads.
    /// </summary>
    public static Module<Tensor, Tensor> GetNetwork(this AttentionBackboneTransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Model;
    }

    /// <summary>The backbone of a fitted or loaded pipeline: the transformer itself, or the last one of a chain.</summary>
    /// <exception cref="ArgumentException">The model holds no <see cref="AttentionBackboneTransformer"/>.</exception>
    public static AttentionBackboneTransformer GetBackbone(this ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model switch
        {
            AttentionBackboneTransformer b => b,
            IEnumerable<ITransformer> chain => chain.OfType<AttentionBackboneTransformer>().LastOrDefault()
                ?? throw new ArgumentException($"the model ({string.Join(" → ", chain.Select(t => t.GetType().Name))}) has no trained backbone", nameof(model)),
            _ => throw new ArgumentException($"the model is a {model.GetType().Name}, not a pipeline with a trained backbone", nameof(model)),
        };
    }

    /// <summary>
    /// The backbone's input for <paramref name="image"/>: the image steps of <paramref name="model"/> that make the
    /// backbone's feature column (decoding channels, resizing, cropping, ExtractPixels, NormalizeImage), run in
    /// evaluation mode (augmentations take their deterministic form), as planar C×H×W floats.
    /// </summary>
    /// <exception cref="ArgumentException">The model has no backbone, or its feature column does not come from image steps.</exception>
    /// <exception cref="InvalidOperationException">The steps make pixels of another shape than the backbone takes.</exception>
    public static float[] PrepareImage(this ITransformer model, ImageData image)
    {
        var (backbone, value) = Run(model, image, pixels: true);
        var (c, h, w) = backbone.InputShape;
        if (value is ImageData img)   // no ExtractPixels: the trainer's ToTensor
            value = ExtractPixels.ToTensor().Extract(img.Channels == c ? img : img.WithChannels(c)).Data.ToArray();
        var pixels = value as float[] ?? throw new ArgumentException($"the backbone's feature column '{backbone.FeatureColumnName}' does not come from image steps", nameof(model));
        if (pixels.Length != c * h * w)
            throw new InvalidOperationException(
                $"the model's image steps made {pixels.Length} values of '{image.Source ?? "the image"}', but {backbone.Architecture} takes {c}x{h}x{w} = {c * h * w}");
        return pixels;
    }

    /// <summary>
    /// <paramref name="image"/> as the backbone sees it before it becomes numbers: the model's image steps up to (not
    /// including) ExtractPixels — decoding channels, resizing, cropping — in evaluation mode. For pictures of what the
    /// network looked at.
    /// </summary>
    /// <exception cref="ArgumentException">The model has no backbone.</exception>
    public static ImageData PrepareDisplayImage(this ITransformer model, ImageData image) => (ImageData)Run(model, image, pixels: false).Value;

    private static (AttentionBackboneTransformer Backbone, object Value) Run(ITransformer model, ImageData image, bool pixels)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        var backbone = model.GetBackbone();
        var transformers = model is IEnumerable<ITransformer> chain ? chain.TakeWhile(t => !ReferenceEquals(t, backbone)).ToList() : new List<ITransformer>();
        // Follow the feature column back through the image steps that made it.
        var steps = new List<ImageTransformer>();
        string column = backbone.FeatureColumnName;
        for (int i = transformers.Count - 1; i >= 0; i--)
            if (transformers[i] is ImageTransformer it && it.OutputColumnName == column)
            {
                steps.Insert(0, it);
                column = it.InputColumnName;
            }
        object value = image;
        DataViewType type = new ImageDataViewType(image.Height, image.Width, image.Channels);
        foreach (var t in steps)
        {
            var step = t.Step;
            if (step is LoadRawImageBytesStep) continue;   // the image is decoded already
            if (step is LoadImagesStep load)
            {
                var decoded = load.Channels > 0 ? image.WithChannels(load.Channels) : image;
                value = decoded;
                type = new ImageDataViewType(decoded.Height, decoded.Width, decoded.Channels);
                continue;
            }
            if (!pixels && step is ExtractPixelsStep) break;
            var next = step.OutputType(type, t.InputColumnName);
            value = step.Apply(value, type, t.InputColumnName);
            type = next;
        }
        return (backbone, value);
    }
}
