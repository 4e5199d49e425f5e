using System.Globalization;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>Ready-made figures of explanations: Grad-CAM next to its input, every spatial attention map over the input, channel weights.</summary>
public static class Figures
{
    /// <summary>
    /// The input, the Grad-CAM heatmap and the overlay side by side, captioned with the prediction, the class explained and
    /// the layer.
    /// </summary>
    /// <param name="image">The image as the network saw it (e.g. <see cref="ModelExplainer.Display(ImageData)"/>).</param>
    /// <param name="result">The Grad-CAM.</param>
    /// <param name="labels">Class names (null: indices).</param>
    /// <param name="size">Side of each panel in layout units.</param>
    /// <param name="colormap">The colormap (null: jet).</param>
    /// <param name="alpha">Weight of the heatmap in the overlay.</param>
    /// <param name="scale">Pixels per layout unit.</param>
    public static Picture GradCam(ImageData image, GradCamResult result, IReadOnlyList<string>? labels = null, int size = 168, Colormap? colormap = null,
        double alpha = 0.5, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(result);
        colormap ??= Colormap.Jet;
        int px = size * scale;
        var input = Overlay.Resize(image.WithChannels(3), px, px);
        var heat = Overlay.Colorize(result.Normalized, colormap, px, px);
        var blended = Overlay.Blend(image, result.Normalized, colormap, alpha, px, px);
        string Name(int k) => labels is not null && k < labels.Count ? labels[k] : k.ToString(CultureInfo.InvariantCulture);
        var l = result.Layer;
        var row = new GridPanel?[]
        {
            new(input, $"predicted {Name(result.Predicted)}\n{100 * result.Probabilities[result.Predicted]:F1}%".Replace(",", ".", StringComparison.Ordinal)),
            new(heat, $"layer {l.Module}\n{l.Channels}x{l.Height}x{l.Width}"),
            new(blended, $"class {Name(result.TargetClass)}\np = {result.Probabilities[result.TargetClass].ToString("F3", CultureInfo.InvariantCulture)}"),
        };
        return ImageGrid.Create(new[] { row }, size, "Grad-CAM", new[] { "input", "Grad-CAM", "overlay" }, colorbar: colormap, scale: scale);
    }

    /// <summary>
    /// Every spatial attention map of <paramref name="capture"/> (or those whose module name starts with
    /// <paramref name="layerPrefix"/>) over the input, one panel each, after the input itself.
    /// </summary>
    /// <exception cref="ArgumentException">There is no spatial map (to draw).</exception>
    public static Picture SpatialAttention(ImageData image, AttentionCapture capture, IReadOnlyList<string>? labels = null, string? layerPrefix = null,
        int size = 112, int columns = 6, Colormap? colormap = null, double alpha = 0.5, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(capture);
        if (columns < 1) throw new ArgumentOutOfRangeException(nameof(columns), columns, "must be >= 1");
        colormap ??= Colormap.Jet;
        var maps = capture.Spatial.Where(s => layerPrefix is null || s.Module.StartsWith(layerPrefix, StringComparison.Ordinal)).ToList();
        if (maps.Count == 0)
            throw new ArgumentException(layerPrefix is null ? "the model reported no spatial attention map" : $"no spatial attention map comes from a module starting with '{layerPrefix}'", nameof(capture));
        int px = size * scale;
        string Name(int k) => labels is not null && k < labels.Count ? labels[k] : k.ToString(CultureInfo.InvariantCulture);
        var panels = new List<GridPanel?>
        {
            new(Overlay.Resize(image.WithChannels(3), px, px),
                $"predicted\n{Name(capture.Predicted)} {(100 * capture.Probabilities[capture.Predicted]).ToString("F0", CultureInfo.InvariantCulture)}%"),
        };
        foreach (var s in maps)
            panels.Add(new(Overlay.Blend(image, s.Map, colormap, alpha, px, px), $"{ChartKit.Clip(s.Module, 22)}\n{s.Kind} {s.Map.Height}x{s.Map.Width}"));
        var rows = panels.Chunk(columns).Select(r => (IReadOnlyList<GridPanel?>)r).ToList();
        return ImageGrid.Create(rows, size, "Attention maps", colorbar: colormap, scale: scale);
    }

    /// <summary>The channel weights of one layer: SE and CBAM gates as bars, PSA's four branch shares stacked per channel.</summary>
    public static Picture ChannelAttention(ChannelAttention attention, string? subtitle = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(attention);
        string title = attention.Kind switch
        {
            "psa" => $"PSA branch weights: {attention.Module}",
            "se" => $"SE channel weights: {attention.Module}",
            "cbam-channel" => $"CBAM channel weights: {attention.Module}",
            _ => $"{attention.Kind} weights: {attention.Module}",
        };
        return ChannelWeightsChart.Create(attention.Series, title, stacked: attention.Series.Count > 1, subtitle, scale);
    }

    /// <summary>
    /// One channel-attention layer per stage — the last of each group of modules sharing their first name segment
    /// ("layer1", "layer2", …) — to draw without drawing every block.
    /// </summary>
    public static IReadOnlyList<ChannelAttention> OnePerStage(IEnumerable<ChannelAttention> channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        return channel.GroupBy(c => c.Module.Split('.')[0]).Select(g => g.Last()).ToList();
    }
}
