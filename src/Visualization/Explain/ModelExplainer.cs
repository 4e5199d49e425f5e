using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>
/// Explanations of a trained model (a fitted pipeline or a model .zip): its own evaluation-mode preprocessing turns an
/// image into the network's input, then <see cref="GradCam"/> and <see cref="AttentionMaps"/> run on its network, and
/// <see cref="Figures"/> draws the results over the image as the network saw it.
/// </summary>
public sealed class ModelExplainer
{
    /// <summary>Explains <paramref name="model"/>, a pipeline that ends with a trained attention backbone.</summary>
    /// <exception cref="ArgumentException">The model has no trained backbone.</exception>
    public ModelExplainer(ITransformer model)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Backbone = model.GetBackbone();
    }

    /// <summary>Loads a model .zip (see <see cref="ModelOperationsCatalog.Load(string, out Data.DataViewSchema)"/>) and explains it.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid model (the message names it and the reason).</exception>
    public static ModelExplainer Load(string path, MLContext? context = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        context ??= new MLContext(seed: 1);
        return new ModelExplainer(context.Model.Load(path, out _));
    }

    /// <summary>The whole pipeline.</summary>
    public ITransformer Model { get; }
    /// <summary>The trained backbone at its end.</summary>
    public AttentionBackboneTransformer Backbone { get; }
    /// <summary>The network (owned by the model).</summary>
    public Module<Tensor, Tensor> Network => Backbone.GetNetwork();
    /// <summary>The class names, in output order.</summary>
    public IReadOnlyList<string> Labels => Backbone.Labels;

    /// <summary>Decodes an image file with the model's channel count (gray or RGB).</summary>
    public ImageData LoadImage(string path) => ImageDecoder.Load(path, Backbone.InputShape.Channels);

    /// <summary>The network's input for <paramref name="image"/> (C×H×W floats): the pipeline's image steps in evaluation mode.</summary>
    public float[] Prepare(ImageData image) => Model.PrepareImage(image);

    /// <summary>The network's input as a (1, C, H, W) tensor (dispose it).</summary>
    public Tensor ToTensor(float[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var (c, h, w) = Backbone.InputShape;
        return Tensor.FromArray<float>(pixels, new long[] { 1, c, h, w });
    }

    /// <summary>The image as the network sees it: the model's resizing and cropping, without the conversion to numbers.</summary>
    public ImageData Display(ImageData image) => Model.PrepareDisplayImage(image);

    /// <summary>Network input pixels as an image (normalisation undone by a min–max stretch over all channels).</summary>
    public ImageData Display(float[] pixels)
    {
        var (c, h, w) = Backbone.InputShape;
        return Overlay.FromPixels(pixels, c, h, w);
    }

    /// <summary>The class index of <paramref name="label"/>: a class name, or else an index in range.</summary>
    /// <exception cref="ArgumentException">Neither; the message lists the classes.</exception>
    public int ClassIndex(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        for (int i = 0; i < Labels.Count; i++) if (string.Equals(Labels[i], label, StringComparison.Ordinal)) return i;
        for (int i = 0; i < Labels.Count; i++) if (string.Equals(Labels[i], label, StringComparison.OrdinalIgnoreCase)) return i;
        if (int.TryParse(label, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int k) && k >= 0 && k < Labels.Count) return k;
        throw new ArgumentException($"'{label}' is not one of the model's classes ({string.Join(", ", Labels)}) nor an index 0..{Labels.Count - 1}", nameof(label));
    }

    /// <summary>Grad-CAM of <paramref name="image"/> (see <see cref="GradCam.Compute"/>).</summary>
    public GradCamResult GradCam(ImageData image, int? targetClass = null, string? layer = null)
    {
        using var x = ToTensor(Prepare(image));
        return Visualization.GradCam.Compute(Network, x, targetClass, layer);
    }

    /// <summary>The attention maps of <paramref name="image"/> (see <see cref="AttentionMaps.Capture"/>).</summary>
    public AttentionCapture Attention(ImageData image)
    {
        using var x = ToTensor(Prepare(image));
        return AttentionMaps.Capture(Network, x);
    }
}
