using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Cli;
using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Cli;

/// <summary>
/// The command line in-process (<see cref="CliApp.Run"/> with string writers): train on a tiny Fashion-MNIST image
/// folder, evaluate, predict (text and JSON lines, a bad image among good ones), inspect, import a PyTorch checkpoint
/// and predict PyTorch's probabilities, and every usage error (exit code 2, naming the option) and damaged model file
/// (exit code 1, naming the file).
/// </summary>
[TestClass]
public sealed class CliTests
{
    private static string _root = "";
    private static string _train = "", _test = "", _idx = "", _model = "", _trainOutput = "";
    private static int _threads;

    internal sealed record Result(int Code, string Out, string Err)
    {
        public override string ToString() => $"exit {Code}\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    internal static Result Run(params string[] args)
    {
        var o = new StringWriter(CultureInfo.InvariantCulture);
        var e = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(args, o, e);
        return new Result(code, o.ToString(), e.ToString());
    }

    private static string Fixture(params string[] parts) => Fixtures.PathOf(["cli", .. parts]);

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _threads = TorchRuntime.NumThreads;
        _root = Path.Combine(Path.GetTempPath(), $"mlnet-cli-{Guid.NewGuid():N}");
        _train = Path.Combine(_root, "train");
        _test = Path.Combine(_root, "test");
        ImageFolderWriter.WriteFashionMnist(_train, train: true, limit: 80);
        ImageFolderWriter.WriteFashionMnist(_test, train: false, limit: 40);
        _idx = Path.Combine(_root, "idx");
        WriteIdx(_idx, train: true, 256);
        WriteIdx(_idx, train: false, 200);
        _model = Path.Combine(_root, "fashion.zip");
        var r = Run("train", "--data", _train, "--test", _test, "--model", "resnet18", "--width", "0.125", "--epochs", "1", "--batch-size", "16",
            "--lr", "0.05", "--channels", "1", "--image-size", "28", "--validation-fraction", "0.25", "--device", "cpu", "--threads", "1", "--workers", "0", "--out", _model);
        Assert.AreEqual(0, r.Code, r.ToString());
        _trainOutput = r.Out;
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        TorchRuntime.NumThreads = _threads;
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }

    [TestMethod]
    public void TrainShowsEpochsAndMetricsAsPlainTextAndSavesTheModel()
    {
        Assert.IsTrue(File.Exists(_model), _trainOutput);
        StringAssert.Contains(_trainOutput, "resnet18 (width 0.125, small-image)");
        StringAssert.Contains(_trainOutput, "device cpu");
        StringAssert.Contains(_trainOutput, "epoch 1/1: train loss");
        StringAssert.Contains(_trainOutput, "images/s");
        // 60 training images in batches of 16: four batches, each reported (at most about ten lines per epoch).
        for (int b = 1; b <= 4; b++) StringAssert.Contains(_trainOutput, $"epoch 1/1, batch {b}/4: loss ");
        StringAssert.Contains(_trainOutput, "ETA");
        foreach (var part in new[] { "metrics", "validation", "test (image folder", "per class (test", "0_T-shirt-top", "precision", "recall", "saved " + _model })
            StringAssert.Contains(_trainOutput, part);
        Assert.IsFalse(_trainOutput.Contains('\u001b'), "no ANSI escape codes when the output is not a terminal");
        Assert.IsFalse(Directory.EnumerateFiles(_root, "*.tmp").Any(), "no temporary file left next to the model");
    }

    [TestMethod]
    public void EvaluatePrintsMetricsPerClassAndTheConfusionMatrix()
    {
        var r = Run("evaluate", "--model", _model, "--data", _test, "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        foreach (var part in new[] { "40 images", "accuracy (micro)", "log-loss", "per class", "confusion matrix", "precision", "9. 9_Ankle boot" })
            StringAssert.Contains(r.Out, part);
        // The 40 test images are counted once in the confusion matrix: the recall column exists for each of the 10 classes.
        Assert.AreEqual(10, r.Out.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"│ \d\. ")), r.Out);
    }

    [TestMethod]
    public void EvaluateReadsACsvOfImagePaths()
    {
        string csv = Path.Combine(_root, "test.csv");
        var lines = Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(_root, f)},{Path.GetFileName(Path.GetDirectoryName(f))!.Split('_', 2)[1]}");
        File.WriteAllLines(csv, ["ImagePath,Label", .. lines]);
        var r = Run("evaluate", "--model", _model, "--data", csv, "--threads", "1");
        // The folder names are the labels of the training folder; the CSV's labels are the names after the index prefix.
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "is not one of the model's 10 classes");
        File.WriteAllLines(csv, ["ImagePath,Label", .. Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(_root, f)},{Path.GetFileName(Path.GetDirectoryName(f))}")]);
        r = Run("evaluate", "--model", _model, "--data", csv, "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        var byFolder = Run("evaluate", "--model", _model, "--data", _test, "--threads", "1");
        Assert.AreEqual(MetricsRow(byFolder.Out), MetricsRow(r.Out), "the same images as a CSV give the same metrics");
    }

    private static string MetricsRow(string output) => output.Split('\n').First(l => l.Contains("│ data", StringComparison.Ordinal));

    [TestMethod]
    public void PredictJsonLinesHaveThePathTheLabelAndEveryProbability()
    {
        var r = Run("predict", "--model", _model, _test, "--json", "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(40, lines.Length, r.Out);
        var files = Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        for (int i = 0; i < lines.Length; i++)
        {
            var o = JsonNode.Parse(lines[i])!.AsObject();
            Assert.AreEqual(files[i], o["path"]!.GetValue<string>());
            var scores = o["scores"]!.AsObject();
            Assert.AreEqual(10, scores.Count);
            Assert.AreEqual(1.0, scores.Sum(p => p.Value!.GetValue<double>()), 1e-4);
            string best = scores.MaxBy(p => p.Value!.GetValue<double>()).Key;
            Assert.AreEqual(best, o["predictedLabel"]!.GetValue<string>());
        }
        var top = Run("predict", "--model", _model, files[0], "--json", "--top-k", "3");
        Assert.AreEqual(0, top.Code, top.ToString());
        var topScores = JsonNode.Parse(top.Out)!["scores"]!.AsObject().Select(p => p.Value!.GetValue<double>()).ToList();
        Assert.AreEqual(3, topScores.Count);
        CollectionAssert.AreEqual(topScores.OrderByDescending(v => v).ToList(), topScores, "most probable first");
        var first = JsonNode.Parse(lines[0])!["scores"]!.AsObject().Select(p => p.Value!.GetValue<double>()).OrderByDescending(v => v).Take(3).ToList();
        for (int i = 0; i < 3; i++) Assert.AreEqual(first[i], topScores[i], 1e-5, "one image alone and in a batch score the same (up to float rounding)");
    }

    [TestMethod]
    public void PredictReportsAnUnreadableImageAndStillPredictsTheOthers()
    {
        var good = Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(3).ToList();
        string bad = Path.Combine(_root, "broken.png");
        File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, 1, 2, 3]);
        var r = Run("predict", "--model", _model, good[0], bad, good[1], good[2]);
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, bad);
        StringAssert.Contains(r.Err, "1 of 4 image(s) could not be predicted");
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(3, lines.Length, r.ToString());
        for (int i = 0; i < 3; i++) StringAssert.StartsWith(lines[i], good[i] + ": ");
    }

    [TestMethod]
    public void InspectSummarisesTheVerifiedManifest()
    {
        var r = Run("inspect", _model);
        Assert.AreEqual(0, r.Code, r.ToString());
        foreach (var part in new[] { "resnet18", "width 0.125", "small-image true", "1x28x28", "10 (String): 0_T-shirt-top, 1_Trouser", "LoadImages",
                     "ResizeImages", "ExtractPixels", "NormalizeImage", "AttentionBackbone", "ImagePath", "weights.safetensors", "checksums verified" })
            StringAssert.Contains(r.Out, part);
        var json = Run("inspect", _model, "--json");
        Assert.AreEqual(0, json.Code, json.ToString());
        Assert.AreEqual("MLNet.Attention.Model", JsonNode.Parse(json.Out)!["format"]!.GetValue<string>());
    }

    [TestMethod]
    public void ImportedCheckpointPredictsPyTorchsProbabilities()
    {
        var expected = JsonNode.Parse(File.ReadAllText(Fixture("expected.json")))!.AsObject();
        string zip = Path.Combine(_root, "imported.zip");
        var r = Run("import", "--arch", "resnet18", "--weights", Fixture("resnet18_w00625.pth"), "--classes", "3", "--labels", "cat,dog,bird",
            "--image-size", "32", "--small-image", "--width", "0.0625", "--mean", "0.5,0.4,0.3", "--std", "0.25,0.2,0.3", "--out", zip);
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "imported resnet18 (62,259 parameters, 3 classes, input 3x32x32)");
        var p = Run("predict", "--model", zip, Fixture("images"), "--json");
        Assert.AreEqual(0, p.Code, p.ToString());
        var lines = p.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var probabilities = expected["probabilities"]!.AsObject();
        Assert.AreEqual(probabilities.Count, lines.Count);
        var labels = new HashSet<string>();
        foreach (var line in lines)
        {
            string name = Path.GetFileName(line["path"]!.GetValue<string>());
            var want = probabilities[name]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            var got = line["scores"]!.AsObject();
            CollectionAssert.AreEqual(new[] { "cat", "dog", "bird" }, got.Select(kv => kv.Key).ToArray());
            var values = got.Select(kv => kv.Value!.GetValue<double>()).ToArray();
            for (int i = 0; i < 3; i++) Assert.AreEqual(want[i], values[i], 1e-4, $"{name}, class {i}");
            labels.Add(line["predictedLabel"]!.GetValue<string>());
        }
        Assert.IsTrue(labels.Count >= 2, "the fixture's images get different classes");
        var inspect = Run("inspect", zip);
        Assert.AreEqual(0, inspect.Code, inspect.ToString());
        StringAssert.Contains(inspect.Out, "importedFrom \"resnet18_w00625.pth\"");
    }

    [TestMethod]
    public void ImportOfWeightsThatDoNotFitFailsNamingTheFile()
    {
        string weights = Fixture("resnet18_w00625.pth");
        var r = Run("import", "--arch", "resnet18", "--weights", weights, "--classes", "4", "--image-size", "32", "--small-image", "--width", "0.0625",
            "--out", Path.Combine(_root, "wrong.zip"));
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, weights);
        StringAssert.Contains(r.Err, "fc.weight");
        r = Run("import", "--arch", "resnet18", "--weights", weights, "--classes", "3", "--image-size", "32", "--width", "0.125", "--out", Path.Combine(_root, "wrong.zip"));
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, weights);
        Assert.IsFalse(File.Exists(Path.Combine(_root, "wrong.zip")));
    }

    [TestMethod]
    public void TrainOnFashionMnistIdxThenPredictImageFiles()
    {
        string zip = Path.Combine(_root, "idx.zip");
        var r = Run("train", "--data", "fashion-mnist:" + _idx, "--train-limit", "48", "--test-limit", "24", "--model", "resnet18", "--width", "0.125",
            "--epochs", "1", "--batch-size", "16", "--threads", "1", "--workers", "0", "--out", zip);
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, $"on Fashion-MNIST ({_idx}): 48 training images");
        StringAssert.Contains(r.Out, "│ test ");
        // The model takes decoded images (column Image): files are decoded to gray for it, folders and CSVs too.
        var p = Run("predict", "--model", zip, _test, "--json");
        Assert.AreEqual(0, p.Code, p.ToString());
        Assert.AreEqual(40, p.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var e = Run("evaluate", "--model", zip, "--data", "fashion-mnist:" + _idx);
        Assert.AreEqual(0, e.Code, e.ToString());
        StringAssert.Contains(e.Out, "200 images");
        var limited = Run("evaluate", "--model", zip, "--data", "fashion-mnist", "--limit", "24");
        Assert.AreEqual(0, limited.Code, limited.ToString());
        StringAssert.Contains(limited.Out, "24 images");
        // A model that decodes files itself cannot be fed Fashion-MNIST's decoded images: a usage error naming --data.
        var mismatch = Run("evaluate", "--model", _model, "--data", "fashion-mnist", "--limit", "8");
        Assert.AreEqual(2, mismatch.Code, mismatch.ToString());
        StringAssert.Contains(mismatch.Err, "--data");
    }

    [TestMethod]
    public void CancelledTrainingExitsWith130AndSavesNothing()
    {
        string zip = Path.Combine(_root, "cancelled.zip");
        var settings = new MLNet.Attention.Cli.Commands.TrainCommand.Settings
        {
            Data = MLNet.Attention.Cli.Commands.DataSpec.Parse(_train, "--data"), Arch = "resnet18", Epochs = 1, BatchSize = 16, LearningRate = 0.01,
            ImageSize = 28, Channels = 1, SmallImage = true, Width = 0.125, Mean = [0.5f], Std = [0.5f], Seed = 1, Workers = 0,
            Output = zip, Device = MLNet.Attention.Cli.Commands.DeviceChoice.TryParse("auto", out var d) ? d! : null!,
        };
        var o = new StringWriter();
        var e = new StringWriter();
        int code = MLNet.Attention.Cli.Commands.TrainCommand.Run(settings, o, e, new CancellationToken(canceled: true));
        Assert.AreEqual(130, code, $"{o}\n{e}");
        StringAssert.Contains(e.ToString(), "training cancelled; nothing saved");
        Assert.IsFalse(File.Exists(zip));
    }

    [TestMethod]
    public void UsageErrorsExitWith2AndNameTheOption()
    {
        string img = Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).First();
        string[] importArgs = ["import", "--arch", "resnet18", "--weights", Fixture("resnet18_w00625.pth"), "--classes", "3"];
        var cases = new (string[] Args, string Names)[]
        {
            (["train"], "--data"),
            (["train", "--data", Path.Combine(_root, "nope")], "--data"),
            (["train", "--data", _model], "--data"),
            (["train", "--data", _train, "--epochs", "0"], "--epochs"),
            (["train", "--data", _train, "--epochs", "two"], "--epochs"),
            (["train", "--data", _train, "--lr", "1,5"], "--lr"),
            (["train", "--data", _train, "--lr", "-1"], "--lr"),
            (["train", "--data", _train, "--model", "resnet9000"], "--model"),
            (["train", "--data", _train, "--optimizer", "rmsprop"], "--optimizer"),
            (["train", "--data", _train, "--validation-fraction", "1"], "--validation-fraction"),
            (["train", "--data", _train, "--early-stopping", "2"], "--early-stopping"),
            (["train", "--data", _train, "--mean", "0.1,0.2"], "--mean"),
            (["train", "--data", _train, "--channels", "2"], "--channels"),
            (["train", "--data", _train, "--device", "tpu"], "--device"),
            (["train", "--data", _train, "--device", "cuda:99"], "--device cuda:99"),
            (["train", "--data", _train, "--model", "mobilenetv2", "--stem-stride", "2", "--image-size", "28", "--channels", "1"], "StemStride"),
            (["train", "--data", _train, "--attention", "magic"], "--attention"),
            (["train", "--data", _train, "--out", Path.Combine(_root, "no", "such", "m.zip")], "--out"),
            (["train", "--data", _train, "--bogus"], "--bogus"),
            (["evaluate", "--data", _test], "--model"),
            (["evaluate", "--model", Path.Combine(_root, "missing.zip"), "--data", _test], "--model"),
            (["evaluate", "--model", _model, "--data", _test, "--top-k", "10"], "--top-k"),
            (["predict", "--model", _model], "images"),
            (["predict", "--model", _model, Path.Combine(_root, "missing.png")], "missing.png"),
            (["predict", "--model", _model, img, "--top-k", "0"], "--top-k"),
            (["inspect"], "model"),
            (["inspect", Path.Combine(_root, "missing.zip")], "missing.zip"),
            ([.. importArgs.Take(5)], "--classes"),
            ([.. importArgs.Select(a => a == "resnet18" ? "resnet9000" : a)], "--arch"),
            ([.. importArgs, "--labels", "a,b"], "--labels"),
            ([.. importArgs, "--labels", "a,b,a"], "--labels"),
            ([.. importArgs, "--labels", "a,b,c", "--labels-file", img], "--labels-file"),
            ([.. importArgs, "--resize", "100", "--image-size", "224"], "--resize"),
            (["import", "--arch", "resnet18", "--weights", Path.Combine(_root, "missing.pth"), "--classes", "3"], "--weights"),
            (["models", "--image-size", "4"], "--image-size"),
            (["demo", "--epochs", "-1"], "--epochs"),
            (["demo", "--lr", "fast"], "--lr"),
            (["no-such-command"], "no-such-command"),
        };
        foreach (var (args, name) in cases)
        {
            var r = Run(args);
            Assert.AreEqual(2, r.Code, $"{string.Join(' ', args)}\n{r}");
            StringAssert.Contains(r.Err, name, $"{string.Join(' ', args)}: the error names {name}\n{r}");
            Assert.AreEqual("", r.Out, $"{string.Join(' ', args)}: nothing on stdout");
        }
    }

    [TestMethod]
    public void DamagedModelFilesExitWith1AndNameTheFile()
    {
        string garbage = Path.Combine(_root, "garbage.zip");
        File.WriteAllText(garbage, "this is not a zip archive");
        string truncated = Path.Combine(_root, "truncated.zip");
        var bytes = File.ReadAllBytes(_model);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string tampered = Path.Combine(_root, "tampered.zip");
        File.Copy(_model, tampered, overwrite: true);
        using (var zip = System.IO.Compression.ZipFile.Open(tampered, System.IO.Compression.ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("weights.safetensors")!;
            using var s = entry.Open();
            s.Seek(-4, SeekOrigin.End);
            s.Write([1, 2, 3, 4]);
        }
        string img = Directory.EnumerateFiles(_test, "*.png", SearchOption.AllDirectories).First();
        foreach (var file in new[] { garbage, truncated, tampered })
        {
            foreach (var args in new[] { new[] { "inspect", file }, ["evaluate", "--model", file, "--data", _test], ["predict", "--model", file, img] })
            {
                var r = Run(args);
                Assert.AreEqual(1, r.Code, $"{string.Join(' ', args)}\n{r}");
                StringAssert.Contains(r.Err, file, $"{string.Join(' ', args)}\n{r}");
            }
        }
    }

    [TestMethod]
    public void HelpListsEveryCommandAndExitsWith0()
    {
        var r = Run("--help");
        Assert.AreEqual(0, r.Code, r.ToString());
        foreach (var c in Program.Commands.Select(f => f().Name)) StringAssert.Contains(r.Out, c);
        foreach (var c in new[] { "train", "evaluate", "predict", "inspect", "import", "models", "demo", "fashion-mnist" })
        {
            var h = Run(c, "--help");
            Assert.AreEqual(0, h.Code, h.ToString());
            StringAssert.Matches(h.Out, new System.Text.RegularExpressions.Regex($@"Usage:\n  \S+ {c}( |\n)"));
        }
        var none = Run();
        Assert.AreEqual(2, none.Code);
        StringAssert.Contains(none.Out, "Commands:");
    }

    [TestMethod]
    public void ModelsListsTheRegistry()
    {
        var r = Run("models", "--image-size", "32", "--classes", "10", "--width", "0.125", "--small-image", "--markdown");
        Assert.AreEqual(0, r.Code, r.ToString());
        var rows = r.Out.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Skip(1).ToList();
        Assert.AreEqual(MLNet.Attention.Backbones.Models.ModelRegistry.All.Count, rows.Count, r.Out);
        StringAssert.Contains(r.Out, "| epsanet50 | epsanet |");
    }

    /// <summary>The first <paramref name="count"/> Fashion-MNIST images as IDX .gz files in <paramref name="folder"/> (Debian's file names).</summary>
    private static void WriteIdx(string folder, bool train, int count)
    {
        var d = IdxDataset.FashionMnist(train).Take(count);
        string prefix = train ? "train" : "t10k";
        Directory.CreateDirectory(folder);
        static void Write(string path, int magic, int[] dims, byte[] data)
        {
            using var f = File.Create(path);
            using var z = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest);
            foreach (int v in dims.Prepend(magic)) z.Write([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
            z.Write(data);
        }
        Write(Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"), 0x803, [d.Count, d.Height, d.Width], d.Images[..(d.Count * d.Height * d.Width)]);
        Write(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz"), 0x801, [d.Count], d.Labels[..d.Count]);
    }

    [TestMethod]
    public void DemoKeepsItsOptions()
    {
        string output = Path.Combine(_root, "demo.safetensors");
        var r = Run("demo", "--epochs", "1", "--train-limit", "128", "--batch-size", "64", "--lr", "0.05", "--seed", "2", "--threads", "1", "--data", _idx, "--out", output);
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "MLNet.Attention demo: SE-CNN on Fashion-MNIST (128 train / 200 test images)");
        StringAssert.Contains(r.Out, "epoch 1/1: train loss");
        Assert.IsTrue(File.Exists(output));
    }
}
