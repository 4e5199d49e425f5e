using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MLNet.Attention.Data;
using MLNet.Attention.Torch;

namespace MLNet.Attention.Cli.Commands;

/// <summary><c>mlnet-attention evaluate</c>: a saved model on labelled images — metrics, per-class precision/recall and the confusion matrix.</summary>
internal static class EvaluateCommand
{
    internal static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The model (.zip) to evaluate.", HelpName = "FILE", Required = true };
        var data = new Option<string>("--data")
        {
            Description = "Labelled images: " + DataSpec.Expected + " (Fashion-MNIST: its 10,000 test images).", HelpName = "FOLDER|CSV|fashion-mnist", Required = true,
        };
        var limit = Opt.Maybe<int?>("--limit", "Evaluate on N images (Fashion-MNIST: the first N; folders and CSVs: a seeded stratified subset).", "N").AtLeast(1);
        var topK = Opt.Of("--top-k", "K of the top-K accuracy (0: leave it out; default 5 when the model has more than 5 classes).", -1, "K").AtLeast(-1);
        var device = Opt.Of("--device", "auto (the first GPU when there is one), cpu, cuda or cuda:N.", "auto", "DEVICE").Check(d => DeviceChoice.TryParse(d, out _), "auto, cpu, cuda or cuda:N");
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var seed = Opt.Of("--seed", "Seed of the --limit subset.", 1);
        var cmd = new Command("evaluate", "Evaluate a saved model on labelled images: accuracy, log-loss, per-class precision/recall and the confusion matrix.")
        {
            model, data, limit, topK, device, threads, seed,
        };
        cmd.SetAction(r =>
        {
            var (o, _) = r.Writers();
            string file = ModelFile.Existing(r.GetValue(model)!, "--model");
            var spec = DataSpec.Parse(r.GetValue(data)!, "--data");
            if (r.GetValue(threads) is int n) TorchRuntime.NumThreads = n;
            DeviceChoice.TryParse(r.GetValue(device)!, out var dev);
            var sw = Stopwatch.StartNew();
            var ml = new MLContext(r.GetValue(seed));
            dev!.Apply(ml);
            var input = ModelFile.Load(ml, file);
            var view = input.Adapt(ml, spec.Load(ml, train: false, r.GetValue(limit), r.GetValue(seed)), "--data");
            int classes = input.Backbone.Labels.Count;
            int k = r.GetValue(topK);
            if (k < 0) k = classes > 5 ? 5 : 0;
            if (k >= classes) throw new UsageException($"--top-k {k} must be below the model's {classes} classes");
            var metrics = ml.MulticlassClassification.Evaluate(input.Model.Transform(view), DataSpec.LabelColumn, topKPredictionCount: k);
            int images = (int)metrics.ConfusionMatrix.Counts.Sum(row => row.Sum());
            var console = Render.For(o);
            o.WriteLine($"{input.Backbone.Architecture} ({file}) on {spec}: {images.ToString("N0", CultureInfo.InvariantCulture)} images in {sw.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
            console.Write(Render.Metrics([(spec.Kind == DataKind.FashionMnist ? "test" : "data", images, metrics)]));
            console.Write(Render.PerClass(metrics, "per class"));
            console.Write(Render.Confusion(metrics.ConfusionMatrix));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

/// <summary>Model files given on the command line.</summary>
internal static class ModelFile
{
    /// <summary>The path of an existing file (else a usage error naming <paramref name="option"/>).</summary>
    public static string Existing(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty");
        if (Directory.Exists(path)) throw new UsageException($"{option} '{path}' is a folder, not a model file (.zip)");
        if (!File.Exists(path)) throw new UsageException($"{option} '{path}' does not exist");
        return path;
    }

    /// <summary>Loads a model (every damage is an <see cref="InvalidDataException"/> naming the file: exit code 1) and reads its input.</summary>
    public static ModelInput Load(MLContext ml, string file)
    {
        var model = ml.Model.Load(file, out DataViewSchema schema);
        return ModelInput.Of(model, schema, file);
    }
}
