using System.CommandLine;
using System.Globalization;
using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;
using MLNet.Attention.Visualization;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention explain</c>: pictures of why a saved model predicts what it does — Grad-CAM over the image, the
/// attention layers' spatial maps over the image (PNG) and their channel weights (PNG and SVG charts). An image that
/// cannot be read or explained is an error line naming it; the others are still explained, and the exit code is 1.
/// </summary>
internal static class ExplainCommand
{
    internal static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The model (.zip).", HelpName = "FILE", Required = true };
        var images = new Argument<string[]>("images") { Description = "Image files, or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var method = Opt.Of("--method", "gradcam: Grad-CAM of the last feature stage (or --layer); attention: the attention layers' maps and channel weights; all: both.", "gradcam").OneOf("gradcam", "attention", "all");
        var layer = Opt.Maybe<string>("--layer", "Grad-CAM: the module whose output to use (e.g. layer3); attention: draw only modules whose name starts with this.", "NAME");
        var cls = Opt.Maybe<string>("--class", "The class Grad-CAM explains, by label or index (default: the predicted class).", "LABEL");
        var output = new Option<string>("--out") { Description = "Folder for the pictures (created).", HelpName = "DIR", Required = true };
        var colormap = Opt.Of("--colormap", "Heatmap colours.", "jet").OneOf("jet", "viridis");
        var alpha = Opt.Number("--alpha", "Weight of the heatmap over the image, in [0, 1].", 0.5).Check(a => a >= 0 && a <= 1, "in [0, 1]");
        var size = Opt.Of("--size", "Side of each image panel in pixels (before --scale).", 168, "PIXELS").Check(s => s is >= 16 and <= 1024, "in [16, 1024]");
        var scale = Opt.Of("--scale", "Pixel density of the pictures (2 for high-density screens).", 1).Check(s => s is >= 1 and <= 4, "1, 2, 3 or 4");
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var cmd = new Command("explain", "Explain a saved model's predictions as pictures: Grad-CAM and attention maps over the image (PNG), channel weights (PNG + SVG).")
        {
            model, images, method, layer, cls, output, colormap, alpha, size, scale, threads,
        };
        cmd.SetAction(r =>
        {
            var (o, e) = r.Writers();
            string file = ModelFile.Existing(r.GetValue(model)!, "--model");
            var files = PredictCommand.Expand(r.GetValue(images)!);
            string outDir = r.GetValue(output)!;
            if (string.IsNullOrWhiteSpace(outDir)) throw new UsageException("--out is empty");
            if (File.Exists(outDir)) throw new UsageException($"--out '{outDir}' is a file, not a folder");
            if (r.GetValue(threads) is int n) TorchRuntime.NumThreads = n;
            var ml = new MLContext(1);
            var input = ModelFile.Load(ml, file);
            var explainer = new ModelExplainer(input.Model);
            int? target = null;
            if (r.GetValue(cls) is string label)
            {
                try { target = explainer.ClassIndex(label); }
                catch (ArgumentException ex) { throw new UsageException($"--class {ex.Message}"); }
            }
            var settings = new Settings(r.GetValue(method)!, r.GetValue(layer), target, Colormap.FromName(r.GetValue(colormap)!), r.GetValue(alpha),
                r.GetValue(size), r.GetValue(scale));
            Directory.CreateDirectory(outDir);
            var used = new HashSet<string>(StringComparer.Ordinal);
            int failed = 0;
            foreach (var path in files)
            {
                string stem = Unique(Path.GetFileNameWithoutExtension(path), used);
                try
                {
                    foreach (var line in Explain(explainer, path, Path.Combine(outDir, stem), settings)) o.WriteLine(line);
                }
                catch (Exception ex) when (ex is ImageDataException or ArgumentException or InvalidOperationException or IOException or TorchException)
                {
                    failed++;
                    e.WriteLine($"error: cannot explain '{path}': {ex.Message}");
                }
            }
            if (failed > 0)
            {
                e.WriteLine($"{failed} of {files.Count} image(s) could not be explained");
                return ExitCodes.Failure;
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private sealed record Settings(string Method, string? Layer, int? Target, Colormap Colormap, double Alpha, int Size, int Scale);

    private static string Unique(string stem, HashSet<string> used)
    {
        string s = stem;
        for (int i = 2; !used.Add(s); i++) s = $"{stem}-{i.ToString(CultureInfo.InvariantCulture)}";
        return s;
    }

    /// <summary>Writes the pictures of one image next to <paramref name="prefix"/> and returns the lines to print.</summary>
    private static List<string> Explain(ModelExplainer explainer, string path, string prefix, Settings s)
    {
        var lines = new List<string>();
        var image = explainer.LoadImage(path);
        var pixels = explainer.Prepare(image);
        var display = explainer.Display(image);
        var labels = explainer.Labels;
        using var x = explainer.ToTensor(pixels);
        var written = new List<string>();
        if (s.Method is "gradcam" or "all")
        {
            var cam = GradCam.Compute(explainer.Network, x, s.Target, s.Layer);
            string png = prefix + ".gradcam.png";
            Figures.GradCam(display, cam, labels, s.Size, s.Colormap, s.Alpha, s.Scale).SavePng(png);
            written.Add(png);
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{path}: predicted {labels[cam.Predicted]} ({100 * cam.Probabilities[cam.Predicted]:F1}%); Grad-CAM of {labels[cam.TargetClass]} at {cam.Layer.Module} ({cam.Layer.Channels}x{cam.Layer.Height}x{cam.Layer.Width})"));
        }
        if (s.Method is "attention" or "all")
        {
            var capture = AttentionMaps.Capture(explainer.Network, x);
            if (capture.Spatial.Count == 0 && capture.Channel.Count == 0)
                throw new InvalidOperationException($"{explainer.Backbone.Architecture} has no attention layer that reports maps (SE, PSA, CBAM, BAM, coordinate attention, residual attention); use --method gradcam");
            var spatial = capture.Spatial.Where(m => s.Layer is null || m.Module.StartsWith(s.Layer, StringComparison.Ordinal)).ToList();
            var channel = capture.Channel.Where(m => s.Layer is null || m.Module.StartsWith(s.Layer, StringComparison.Ordinal)).ToList();
            if (spatial.Count == 0 && channel.Count == 0)
                throw new ArgumentException($"no attention layer's name starts with '{s.Layer}' (layers: {string.Join(", ", capture.Spatial.Select(m => m.Module).Concat(capture.Channel.Select(m => m.Module)).Distinct().Take(12))})");
            if (spatial.Count > 0)
            {
                string png = prefix + ".attention.png";
                Figures.SpatialAttention(display, capture, labels, s.Layer, s.Size * 2 / 3, 6, s.Colormap, s.Alpha, s.Scale).SavePng(png);
                written.Add(png);
            }
            foreach (var c in s.Layer is null ? Figures.OnePerStage(channel) : channel)
            {
                var chart = Figures.ChannelAttention(c, $"{Path.GetFileName(path)}: predicted {labels[capture.Predicted]}", s.Scale);
                string basePath = $"{prefix}.{c.Module}.channels";
                chart.SavePng(basePath + ".png");
                chart.SaveSvg(basePath + ".svg");
                written.Add(basePath + ".png");
                written.Add(basePath + ".svg");
            }
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {spatial.Count} spatial attention map(s), {channel.Count} channel-attention layer(s)"));
        }
        lines.AddRange(written.Select(w => "  wrote " + w));
        return lines;
    }
}
