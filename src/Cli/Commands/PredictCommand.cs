using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;
using MLNet.Attention.Torch;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention predict</c>: class probabilities of image files with a saved model, as text or one JSON object per
/// line. An image that cannot be read is an error line naming it; the others are still predicted, and the exit code is 1.
/// </summary>
internal static class PredictCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The model (.zip).", HelpName = "FILE", Required = true };
        var images = new Argument<string[]>("images") { Description = "Image files, or folders (searched recursively for .png/.jpg/.jpeg/.bmp/.gif/.tga/.pnm/.ppm/.pgm).", Arity = ArgumentArity.OneOrMore };
        var topK = Opt.Maybe<int?>("--top-k", "Show only the K most probable classes, most probable first (default: every class, in the model's order).", "K").AtLeast(1);
        var json = new Option<bool>("--json") { Description = "One JSON object per line and image: {\"path\", \"predictedLabel\", \"scores\": {label: probability}}." };
        var batch = Opt.Of("--batch-size", "Images per forward pass.", 32).AtLeast(1);
        var device = Opt.Of("--device", "auto (the first GPU when there is one), cpu, cuda or cuda:N.", "auto", "DEVICE").Check(d => DeviceChoice.TryParse(d, out _), "auto, cpu, cuda or cuda:N");
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var cmd = new Command("predict", "Predict the class of image files with a saved model (text, or JSON lines with --json).")
        {
            model, images, topK, json, batch, device, threads,
        };
        cmd.SetAction(r =>
        {
            var (o, e) = r.Writers();
            string file = ModelFile.Existing(r.GetValue(model)!, "--model");
            var files = Expand(r.GetValue(images)!);
            if (r.GetValue(threads) is int n) TorchRuntime.NumThreads = n;
            DeviceChoice.TryParse(r.GetValue(device)!, out var dev);
            var ml = new MLContext(1);
            dev!.Apply(ml);
            var input = ModelFile.Load(ml, file);
            var labels = input.Backbone.Labels;
            int? k = r.GetValue(topK);
            if (k > labels.Count) k = labels.Count;
            bool asJson = r.GetValue(json);
            int failed = 0;
            foreach (var chunk in files.Chunk(r.GetValue(batch)))
            {
                foreach (var (path, scores, problem) in Score(ml, input, chunk))
                {
                    if (scores is null)
                    {
                        failed++;
                        e.WriteLine($"error: cannot predict '{path}': {problem}");
                        continue;
                    }
                    o.WriteLine(asJson ? JsonLine(path, labels, scores, k) : TextLine(path, labels, scores, k));
                }
            }
            if (failed > 0)
            {
                e.WriteLine($"{failed} of {files.Count} image(s) could not be predicted");
                return ExitCodes.Failure;
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The image files named by <paramref name="args"/>: files as given, folders searched recursively (sorted); a path that does not exist is a usage error.</summary>
    internal static List<string> Expand(IEnumerable<string> args)
    {
        var files = new List<string>();
        foreach (var a in args)
        {
            if (File.Exists(a)) files.Add(a);
            else if (Directory.Exists(a))
            {
                var found = Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories)
                    .Where(f => ModelInput.ImageExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new UsageException($"folder '{a}' holds no image files ({string.Join(", ", ModelInput.ImageExtensions)})");
                files.AddRange(found);
            }
            else throw new UsageException($"image '{a}' does not exist");
        }
        return files;
    }

    /// <summary>Probabilities of a batch of files; when the batch fails (an unreadable image), each file alone, so that only the bad ones fail.</summary>
    private static IEnumerable<(string Path, float[]? Scores, string? Problem)> Score(MLContext ml, ModelInput input, string[] files)
    {
        List<float[]>? batch = null;
        try
        {
            batch = ScoreAll(ml, input, files);
        }
        catch (Exception) when (files.Length > 1)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return [(files[0], null, ex.Message)];
        }
        if (batch is not null) return files.Select((f, i) => (f, (float[]?)batch[i], (string?)null));
        return files.SelectMany(f => Score(ml, input, [f])).ToList();
    }

    private static List<float[]> ScoreAll(MLContext ml, ModelInput input, IReadOnlyList<string> files)
    {
        var scored = input.Model.Transform(input.Paths(ml, files));
        var col = scored.Schema[input.Backbone.ScoreColumnName];
        var result = new List<float[]>(files.Count);
        using var cursor = scored.GetRowCursor([col]);
        var get = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> v = default;
        while (cursor.MoveNext())
        {
            get(ref v);
            result.Add(v.ToArray());
        }
        return result;
    }

    private static IEnumerable<int> Order(float[] scores, int? k) =>
        k is { } n ? Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(n) : Enumerable.Range(0, scores.Length);

    private static int ArgMax(float[] s)
    {
        int best = 0;
        for (int i = 1; i < s.Length; i++) if (s[i] > s[best]) best = i;
        return best;
    }

    internal static string JsonLine(string path, IReadOnlyList<string> labels, float[] scores, int? k)
    {
        var map = new JsonObject();
        foreach (int i in Order(scores, k)) map[labels[i]] = scores[i];
        return new JsonObject { ["path"] = path, ["predictedLabel"] = labels[ArgMax(scores)], ["scores"] = map }.ToJsonString(Json);
    }

    internal static string TextLine(string path, IReadOnlyList<string> labels, float[] scores, int? k)
    {
        int best = ArgMax(scores);
        string head = $"{path}: {labels[best]} ({Render.Pct(scores[best])})";
        return k is null ? head : head + " | " + string.Join(", ", Order(scores, k).Select(i => $"{labels[i]} {Render.Pct(scores[i])}"));
    }
}
