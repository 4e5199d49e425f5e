using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Visualization;

/// <summary>A module output that Grad-CAM can use: a 4-D feature map seen during a forward pass.</summary>
/// <param name="Module">The module's dotted name.</param>
/// <param name="Call">Which call of the module (0 for the first; modules shared within a forward pass run more than once).</param>
/// <param name="Channels">Feature channels.</param>
/// <param name="Height">Feature map height.</param>
/// <param name="Width">Feature map width.</param>
public sealed record FeatureLayer(string Module, int Call, int Channels, int Height, int Width);

/// <summary>What <see cref="GradCam.Compute"/> found.</summary>
public sealed class GradCamResult
{
    internal GradCamResult(FeatureLayer layer, int target, float[] logits, float[] weights, Heatmap cam, int imageHeight, int imageWidth)
    {
        Layer = layer; TargetClass = target; Logits = logits; ChannelWeights = weights; Cam = cam;
        float max = logits.Max();
        var e = logits.Select(v => MathF.Exp(v - max)).ToArray();
        float sum = e.Sum();
        Probabilities = e.Select(v => v / sum).ToArray();
        Normalized = cam.Normalized();
        Upsampled = Normalized.Resize(imageWidth, imageHeight);
    }

    /// <summary>The feature map used.</summary>
    public FeatureLayer Layer { get; }
    /// <summary>The class explained.</summary>
    public int TargetClass { get; }
    /// <summary>The model's logits for the image.</summary>
    public IReadOnlyList<float> Logits { get; }
    /// <summary>Softmax of the logits.</summary>
    public IReadOnlyList<float> Probabilities { get; }
    /// <summary>The class the model predicts (highest logit).</summary>
    public int Predicted => Array.IndexOf(Logits.ToArray(), Logits.Max());
    /// <summary>α_k: the target score's gradient with respect to each feature channel, averaged over the map.</summary>
    public IReadOnlyList<float> ChannelWeights { get; }
    /// <summary>ReLU(Σ_k α_k A_k) at the feature map's resolution, not normalised.</summary>
    public Heatmap Cam { get; }
    /// <summary><see cref="Cam"/> scaled to [0, 1] by its minimum and maximum (all zeros when it is constant).</summary>
    public Heatmap Normalized { get; }
    /// <summary><see cref="Normalized"/> resampled bilinearly to the input image's size.</summary>
    public Heatmap Upsampled { get; }
}

/// <summary>
/// Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
/// ICCV 2017) for any backbone: the activations A of a feature layer (by default the last module output with a spatial
/// map, i.e. the last convolutional stage before global pooling) weighted by α_k, the gradient of the target class's
/// logit with respect to A_k averaged over the map; CAM = ReLU(Σ_k α_k A_k), min–max normalised and resampled
/// bilinearly to the image.
/// </summary>
/// <remarks>
/// The feature layer is found with forward hooks (<see cref="Module.RegisterForwardHook(ForwardHook)"/>). The gradient is
/// taken by replacing the layer's output, in the forward pass that computes the score, with a copy that is a leaf of
/// the autograd graph (same values, so the same logits); the weights' own gradients are not computed (parameters are
/// frozen for the pass and restored after) and the model's modes are restored. BatchNorm runs on running statistics.
/// </remarks>
public static class GradCam
{
    /// <summary>
    /// Every module output with a 4-D map (N, C, H, W) and H, W &gt; 1 in one evaluation-mode forward pass of
    /// <paramref name="image"/>, in the order the modules finished; the last one is Grad-CAM's default layer.
    /// </summary>
    public static IReadOnlyList<FeatureLayer> FeatureLayers(Module<Tensor, Tensor> model, Tensor image)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        using var state = new ModelScope(model);
        var seen = new List<FeatureLayer>();
        var calls = new Dictionary<string, int>();
        var handles = new List<IDisposable>();
        try
        {
            foreach (var (name, m) in model.NamedModules())
            {
                if (name.Length == 0) continue;
                handles.Add(m.RegisterForwardHook((module, input, output) =>
                {
                    int call = calls.TryGetValue(name, out var n) ? n : 0;
                    calls[name] = call + 1;
                    var s = output.Shape;
                    if (s.Length == 4 && s[2] > 1 && s[3] > 1) seen.Add(new FeatureLayer(name, call, (int)s[1], (int)s[2], (int)s[3]));
                }));
            }
            using var scope = Tensor.NewDisposeScope();
            using var noGrad = TorchRuntime.NoGrad();
            model.Forward(state.Input(image));
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
        }
        return seen;
    }

    /// <summary>The Grad-CAM of <paramref name="model"/> for <paramref name="image"/>.</summary>
    /// <param name="model">Any classifier whose output is (1, classes) logits.</param>
    /// <param name="image">One image, (C, H, W) or (1, C, H, W), as the model takes it (normalised).</param>
    /// <param name="targetClass">The class to explain; null: the predicted one.</param>
    /// <param name="layer">The dotted name of the module whose output to use (its last call); null: the last module
    /// output with a spatial map (<see cref="FeatureLayers"/>).</param>
    /// <exception cref="ArgumentException">The image is not one image, the layer does not exist or never produced a
    /// 4-D map, or the model has no such layer at all.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The target class is outside the model's outputs.</exception>
    public static GradCamResult Compute(Module<Tensor, Tensor> model, Tensor image, int? targetClass = null, string? layer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        var layers = FeatureLayers(model, image);
        FeatureLayer target;
        if (layer is null)
        {
            target = layers.Count > 0 ? layers[^1]
                : throw new ArgumentException($"{model.GetType().Name} produced no 4-D feature map larger than 1x1 on this image: Grad-CAM needs a convolutional layer", nameof(model));
        }
        else
        {
            if (!model.NamedModules().Any(p => p.Key == layer))
                throw new ArgumentException($"{model.GetType().Name} has no module named '{layer}'; layers with a feature map: {Describe(layers)}", nameof(layer));
            target = layers.LastOrDefault(l => l.Module == layer)
                ?? throw new ArgumentException($"module '{layer}' produced no 4-D feature map larger than 1x1 that hooks can see (or runs inside a composite module that does not fire hooks); layers with a feature map: {Describe(layers)}", nameof(layer));
        }
        var module = model.NamedModules().First(p => p.Key == target.Module).Value;
        var (ih, iw) = ImageSize(image);

        using var state = new ModelScope(model);
        var frozen = model.NamedParameters().Select(p => p.Value).Where(p => p.RequiresGrad).ToList();
        Tensor? leaf = null;
        int calls = 0;
        using var handle = module.RegisterForwardHook((m, input, output) =>
        {
            if (calls++ != target.Call) return null;
            using var d = output.Detach();
            leaf = d.Clone().DetachFromDisposeScope();
            leaf.RequiresGrad = true;
            return leaf.Clone();   // a non-leaf with the same values: in-place layers after it stay legal
        });
        try
        {
            foreach (var p in frozen) p.RequiresGrad = false;
            using var scope = Tensor.NewDisposeScope();
            using var grad = TorchRuntime.EnableGrad();
            var x = state.Input(image);
            var logits = model.Forward(x);
            var ls = logits.Shape;
            if (ls.Length != 2 || ls[0] != 1)
                throw new ArgumentException($"{model.GetType().Name} returned [{string.Join(", ", ls)}]; Grad-CAM needs (1, classes) logits", nameof(model));
            var logitValues = AttentionMaps.Copy(logits);
            int cls = targetClass ?? Array.IndexOf(logitValues, logitValues.Max());
            if ((uint)cls >= (uint)logitValues.Length)
                throw new ArgumentOutOfRangeException(nameof(targetClass), targetClass, $"the model has {logitValues.Length} classes (0..{logitValues.Length - 1})");
            if (leaf is null) throw new InvalidOperationException($"module '{target.Module}' did not run its call {target.Call} in the second forward pass");
            logits.Select(0, 0).Select(0, cls).Backward();
            using var g = leaf.Grad ?? throw new InvalidOperationException($"the score of class {cls} does not depend on module '{target.Module}'");
            var a = AttentionMaps.Copy(leaf);
            var gr = AttentionMaps.Copy(g);
            var (weights, cam) = Combine(a, gr, target.Channels, target.Height, target.Width);
            return new GradCamResult(target, cls, logitValues, weights, cam, ih, iw);
        }
        finally
        {
            foreach (var p in frozen) p.RequiresGrad = true;
            leaf?.Dispose();
        }
    }

    /// <summary>α_k = mean of the gradient over the map; CAM = ReLU(Σ_k α_k A_k).</summary>
    internal static (float[] Weights, Heatmap Cam) Combine(float[] activations, float[] gradients, int c, int h, int w)
    {
        int n = h * w;
        var alpha = new float[c];
        var cam = new double[n];
        for (int k = 0; k < c; k++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += gradients[k * n + i];
            alpha[k] = (float)(s / n);
            for (int i = 0; i < n; i++) cam[i] += alpha[k] * (double)activations[k * n + i];
        }
        var relu = cam.Select(v => (float)Math.Max(0, v)).ToArray();
        return (alpha, new Heatmap(w, h, relu));
    }

    private static (int H, int W) ImageSize(Tensor image)
    {
        var s = image.Shape;
        return s.Length >= 2 ? ((int)s[^2], (int)s[^1]) : (1, 1);
    }

    private static string Describe(IReadOnlyList<FeatureLayer> layers) =>
        layers.Count == 0 ? "none" : string.Join(", ", layers.Select(l => l.Module).Distinct().TakeLast(12)) + (layers.Select(l => l.Module).Distinct().Count() > 12 ? " (last 12)" : "");
}
