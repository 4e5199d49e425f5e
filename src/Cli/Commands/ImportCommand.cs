using System.CommandLine;
using System.Globalization;
using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention import</c>: a PyTorch checkpoint (or safetensors file) of a registry architecture as a ready model
/// .zip — the image transforms (LoadImages, resize, ExtractPixels, NormalizeImage) followed by the backbone with those
/// weights, no training. The result predicts, evaluates and inspects like a trained model.
/// </summary>
internal static class ImportCommand
{
    internal static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "The architecture: a registry name (see 'mlnet-attention models').", HelpName = "NAME", Required = true };
        arch.Validators.Add(r =>
        {
            string? v = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (v is not null && !ModelRegistry.All.Any(m => m.Name == v))
                r.AddError($"--arch must be a registry model: {string.Join(", ", ModelRegistry.All.Select(m => m.Name))} (got {v})");
        });
        var weights = new Option<string>("--weights") { Description = "The weights: a torch.save state dict (.pth/.pt; a 'module.' prefix is stripped) or a .safetensors file.", HelpName = "FILE", Required = true };
        var classes = new Option<int>("--classes") { Description = "Outputs of the checkpoint's classifier head.", HelpName = "N", Required = true };
        classes.Validators.Add(r =>
        {
            try
            {
                if (r.GetValueOrDefault<int>() < 2) r.AddError($"--classes must be >= 2 (got {r.GetValueOrDefault<int>()})");
            }
            catch (InvalidOperationException) { }
        });
        var labels = Opt.Maybe<string>("--labels", "Class names in the order of the head's outputs, comma-separated (default: 0, 1, ..., N-1).", "A,B,C");
        var labelsFile = Opt.Maybe<string>("--labels-file", "A text file with one class name per line, in the order of the head's outputs.", "FILE");
        var size = Opt.Of("--image-size", "Side in pixels of the model's input (images are resized and center-cropped to it).", 224, "PIXELS").AtLeast(8);
        var resize = Opt.Maybe<int?>("--resize", "Resize the shorter side to this many pixels, then center-crop --image-size (torchvision's Resize(256) + CenterCrop(224)); default: resize straight to --image-size, cropping the longer side.", "PIXELS").AtLeast(8);
        var channels = Opt.Of("--channels", "1 (gray) or 3 (RGB): the input channels the weights take.", 3).Check(c => c is 1 or 3, "1 or 3");
        var mean = Opt.Maybe<string>("--mean", "Per-channel mean of NormalizeImage, comma-separated (default ImageNet's: 0.485,0.456,0.406; gray: 0.449).", "M[,M,M]");
        var std = Opt.Maybe<string>("--std", "Per-channel std of NormalizeImage, comma-separated (default ImageNet's: 0.229,0.224,0.225; gray: 0.226).", "S[,S,S]");
        var small = new Option<bool>("--small-image") { Description = "The weights are of the small-image form (3x3 stride-1 stem, no max-pool)." };
        var width = Opt.Number("--width", "The width multiplier the weights were trained at.", 1.0).Check(w => w > 0 && w <= 8, "in (0, 8]");
        var attention = Opt.Maybe<string>("--attention", "The attention layer the weights were trained with, for families that take one: " + string.Join(", ", AttentionFactory.Names) + ".", "NAME")
            .Check(a => a is null || AttentionFactory.Names.Contains(a), "one of " + string.Join(", ", AttentionFactory.Names));
        var output = Opt.Of("--out", "Where to save the model (.zip).", "model.zip", "FILE");
        var cmd = new Command("import", "Turn a PyTorch checkpoint (.pth/.pt) or safetensors file of a registry architecture into a ready model .zip, without training.")
        {
            arch, weights, classes, labels, labelsFile, size, resize, channels, mean, std, small, width, attention, output,
        };
        cmd.SetAction(r =>
        {
            var (o, _) = r.Writers();
            string weightsPath = r.GetValue(weights)!;
            if (Directory.Exists(weightsPath) || !File.Exists(weightsPath)) throw new UsageException($"--weights '{weightsPath}' does not exist or is not a file");
            int n = r.GetValue(classes);
            var names = Labels(r.GetValue(labels), r.GetValue(labelsFile), n);
            int c = r.GetValue(channels);
            var (m, s) = TrainCommand.Normalization(r.GetValue(mean), r.GetValue(std), c, fashion: false);
            int side = r.GetValue(size);
            if (r.GetValue(resize) is int rs && rs < side) throw new UsageException($"--resize {rs} must be >= --image-size {side} (it is the shorter side before the center crop)");
            string outPath = TrainCommand.CheckOutput(r.GetValue(output)!, "--out");

            var ml = new MLContext(1);
            const string img = DataSpec.ImageColumn;
            var transforms = ml.Transforms.LoadImages(img, imageFolder: null, inputColumnName: DataSpec.PathColumn, channels: c);
            var chain = r.GetValue(resize) is int shorter
                ? transforms.Append(ml.Transforms.ResizeShorterSide(img, shorter)).Append(ml.Transforms.CenterCrop(img, side, side))
                : transforms.Append(ml.Transforms.ResizeImages(img, side, side));
            var pipeline = chain
                .Append(ml.Transforms.ExtractPixels(DefaultColumnNames.Features, img, scaleImage: 1f / 255))
                .Append(ml.Transforms.NormalizeImage(DefaultColumnNames.Features, m, s))
                .Append(ml.MulticlassClassification.Trainers.ImportBackbone(new BackboneImportEstimator.Options
                {
                    Arch = r.GetValue(arch)!, WeightsPath = weightsPath, Labels = names, ImageChannels = c, ImageHeight = side, ImageWidth = side,
                    SmallImage = r.GetValue(small), WidthMultiplier = r.GetValue(width), Attention = r.GetValue(attention),
                }));
            // No rows are needed: fitting image transforms checks columns, and the import loads the weights.
            var empty = ml.Data.LoadFromEnumerable(new List<PathRow>());
            var model = pipeline.Fit(empty);
            ml.Model.Save(model, empty.Schema, outPath);
            var backbone = model.LastTransformer;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"imported {backbone.Architecture} ({backbone.ParameterCount:N0} parameters, {names.Count} classes, input {c}x{side}x{side}) from {weightsPath}; saved {outPath} ({Render.Size(new FileInfo(outPath).Length)})"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The class names: from --labels or --labels-file (not both), else "0".."N-1"; their count must be N.</summary>
    internal static IReadOnlyList<string> Labels(string? list, string? file, int classes)
    {
        if (list is not null && file is not null) throw new UsageException("give --labels or --labels-file, not both");
        List<string> names;
        string from;
        if (list is not null)
        {
            names = list.Split(',', StringSplitOptions.TrimEntries).ToList();
            from = "--labels";
        }
        else if (file is not null)
        {
            if (!File.Exists(file)) throw new UsageException($"--labels-file '{file}' does not exist");
            names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
            from = $"--labels-file '{file}'";
        }
        else return Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
        if (names.Count != classes) throw new UsageException($"{from} gives {names.Count} class name(s); --classes is {classes}");
        if (names.Any(n => n.Length == 0)) throw new UsageException($"{from} has an empty class name");
        var dup = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new UsageException($"{from} names class '{dup.Key}' more than once");
        return names;
    }

    /// <summary>The input row of an imported model: an image path and its label (for evaluation).</summary>
    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }
}
