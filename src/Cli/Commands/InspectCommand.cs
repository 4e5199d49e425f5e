using System.CommandLine;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention inspect</c>: what a model file holds — architecture, options, labels, the preprocessing pipeline,
/// the input schema, parameters and the entries with their checksums, after loading it (which verifies every checksum).
/// </summary>
internal static class InspectCommand
{
    internal static Command Create()
    {
        var file = new Argument<string>("model") { Description = "The model file (.zip).", HelpName = "FILE" };
        var json = new Option<bool>("--json") { Description = "Print the verified manifest (JSON) instead of the summary." };
        var cmd = new Command("inspect", "Show what a model file holds (architecture, labels, preprocessing, input schema, parameters) and verify its checksums.")
        {
            file, json,
        };
        cmd.SetAction(r =>
        {
            var (o, _) = r.Writers();
            string path = ModelFile.Existing(r.GetValue(file)!, "model file");
            var ml = new MLContext(1);
            var input = ModelFile.Load(ml, path);            // verifies the archive, every checksum and that the weights fit
            var manifest = ReadManifest(path);
            if (r.GetValue(json))
            {
                o.WriteLine(manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Ok;
            }
            Write(Render.For(o), path, manifest, input);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The manifest of a model file that <see cref="ModelFile.Load"/> has verified.</summary>
    internal static JsonObject ReadManifest(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var entry = zip.GetEntry("manifest.json") ?? throw new InvalidDataException($"model file '{path}': no manifest.json entry");
        using var s = entry.Open();
        return JsonNode.Parse(s)?.AsObject() ?? throw new InvalidDataException($"model file '{path}': manifest.json is empty");
    }

    private static void Write(IAnsiConsole console, string path, JsonObject manifest, ModelInput input)
    {
        var b = input.Backbone;
        var ic = CultureInfo.InvariantCulture;
        var info = manifest["pipeline"]?["transformers"]?.AsArray().LastOrDefault()?["model"]?.AsObject();
        var summary = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Path.GetFileName(path))).HideHeaders();
        summary.AddColumn("key");
        summary.AddColumn("value");
        void Row(string k, string v) => summary.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("file", $"{Path.GetFullPath(path)} ({Render.Size(new FileInfo(path).Length)})");
        Row("format", $"{manifest["format"]} v{manifest["formatVersion"]}, written by MLNet.Attention {manifest["packageVersion"]}");
        Row("architecture", $"{b.Architecture}: {manifest["models"]?[0]?["description"]}");
        Row("options", string.Create(ic,
            $"width {info?["widthMultiplier"]}, small-image {info?["smallImage"]}, attention {info?["attention"] ?? "(the model's own)"}, stem stride {info?["stemStride"] ?? 0}, memory format {info?["memoryFormat"] ?? "Contiguous"}"));
        Row("parameters", b.ParameterCount.ToString("N0", ic));
        Row("input", $"{b.InputShape.Channels}x{b.InputShape.Height}x{b.InputShape.Width} pixels in column '{b.FeatureColumnName}'; outputs '{b.ScoreColumnName}' and '{b.PredictedLabelColumnName}'");
        Row("labels", $"{b.Labels.Count} ({b.LabelType}): {string.Join(", ", b.Labels)}");
        if (info?["training"] is JsonObject training)
            Row("training", string.Join(", ", training.Where(p => p.Value is not null && p.Key != "final").Select(p => $"{p.Key} {p.Value!.ToJsonString()}")));
        if (info?["training"]?["final"] is JsonNode final) Row("last epoch", final.GetValue<string>());
        console.Write(summary);

        var pipeline = new Table().Border(TableBorder.Rounded).Title("preprocessing pipeline");
        pipeline.AddColumn("#");
        pipeline.AddColumn("step");
        pipeline.AddColumn("columns");
        pipeline.AddColumn("parameters");
        int i = 0;
        foreach (var t in manifest["pipeline"]?["transformers"]?.AsArray() ?? [])
        {
            var step = t?["step"]?.AsObject();
            string name = step?["name"]?.GetValue<string>() ?? t?["kind"]?.GetValue<string>() ?? "?";
            string columns = step is not null ? $"{t!["inputColumnName"]} -> {t["outputColumnName"]}" : $"{b.FeatureColumnName} -> {b.ScoreColumnName}, {b.PredictedLabelColumnName}";
            string parameters = step is not null
                ? string.Join(", ", step.Where(p => p.Key is not ("op" or "name")).Select(p => $"{p.Key} {p.Value?.ToJsonString() ?? "null"}"))
                : $"{b.Architecture}, {b.Labels.Count} classes, weights {t?["weights"]}";
            pipeline.AddRow(Markup.Escape((++i).ToString(ic)), Markup.Escape(name), Markup.Escape(columns), Markup.Escape(parameters));
        }
        console.Write(pipeline);

        var schema = new Table().Border(TableBorder.Rounded).Title("input schema");
        schema.AddColumn("column");
        schema.AddColumn("type");
        foreach (var c in manifest["inputSchema"]?.AsArray() ?? [])
        {
            var o = c!.AsObject();
            string type = o["type"]?.GetValue<string>() switch
            {
                "Image" => $"Image {o["height"]}x{o["width"]}x{o["channels"]} (0: varies)",
                "Vector" => $"Vector<{o["itemType"]}, {string.Join("x", o["dimensions"]?.AsArray().Select(d => d!.ToJsonString()) ?? [])}>",
                var other => other ?? "?",
            };
            schema.AddRow(Markup.Escape(o["name"]?.GetValue<string>() ?? "?"), Markup.Escape(type));
        }
        console.Write(schema);

        var entries = new Table().Border(TableBorder.Rounded).Title("entries (checksums verified)");
        entries.AddColumn("entry");
        entries.AddColumn(new TableColumn("bytes").RightAligned());
        entries.AddColumn("sha256");
        foreach (var (name, e) in manifest["entries"]?.AsObject() ?? [])
            entries.AddRow(Markup.Escape(name), e?["size"]?.GetValue<long>().ToString("N0", ic) ?? "?", Markup.Escape(e?["sha256"]?.GetValue<string>() ?? "?"));
        console.Write(entries);
        console.WriteLine("OK: the archive, manifest.json, checksums.sha256 and every entry's SHA-256 verified; the weights load into the architecture.");
    }
}
