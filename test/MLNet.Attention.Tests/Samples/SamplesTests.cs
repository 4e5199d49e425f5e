using System.Globalization;
using System.Text.RegularExpressions;
using MLNet.Attention.Tests.Packaging;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Samples;

/// <summary>
/// Runs every sample (samples/*, built in this test run's configuration), the single-file scripts (samples/scripts, .NET 10
/// file-based apps) and the notebook (samples/notebooks/QuickStart.ipynb, its code cells turned into a file-based app
/// over the packages of build/pack.sh) on small subsets of real Fashion-MNIST data, and checks what they print: exit
/// code 0, accuracies above chance, the predictions, the saved model.
/// </summary>
[TestClass]
[TestCategory("Samples")]
public sealed partial class SamplesTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(8);
    private static readonly string SamplesRoot = Path.Combine(ExternalProcess.RepoRoot, "samples");

    [TestMethod]
    public void QuickStartTrainsEvaluatesSavesAndPredicts()
    {
        var work = ExternalProcess.NewTempFolder("quickstart");
        var r = RunSample("QuickStart", work, "--limit", "1000", "--epochs", "1", "--test-limit", "500", "--out", "qs.zip").ShouldSucceed();
        StringAssert.Contains(r.Output, "epoch 1/1: train loss", r.Tail());
        Assert.IsGreaterThan(30.0, Accuracy(r, "test accuracy: "), "1,000 images, 1 epoch: well above chance (10%)");
        StringAssert.Contains(r.Output, "on 500 images");
        Assert.IsTrue(File.Exists(Path.Combine(work, "qs.zip")), "the model .zip was written where --out says");
        var predictions = r.Lines("prediction: ");
        Assert.HasCount(5, predictions, "the reloaded model scores the first 5 test images");
        Assert.IsTrue(predictions.All(p => PredictionLine().IsMatch(p)), string.Join('\n', predictions));
    }

    [TestMethod]
    public void ImageFolderTrainsOnPngFilesAndThePredictScriptClassifiesThem()
    {
        var work = ExternalProcess.NewTempFolder("imagefolder");
        var photos = Path.Combine(work, "photos");
        Assert.AreEqual(600, ImageFolderWriter.WriteFashionMnist(photos, train: true, limit: 600));
        var r = RunSample("ImageFolder", work, "--data", photos, "--epochs", "3", "--size", "32", "--width", "0.25", "--out", "photos.zip").ShouldSucceed();
        var counts = r.Lines("").Select(l => CountsLine().Match(l)).Single(m => m.Success);
        Assert.AreEqual(600, int.Parse(counts.Groups[1].Value, CultureInfo.InvariantCulture) + int.Parse(counts.Groups[2].Value, CultureInfo.InvariantCulture), "a train/test split of the 600 files");
        StringAssert.Contains(r.Output, "classes: 0_T-shirt-top, 1_Trouser, 2_Pullover, 3_Dress, 4_Coat, 5_Sandal, 6_Shirt, 7_Sneaker, 8_Bag, 9_Ankle boot", "the subfolder names are the classes");
        Assert.IsGreaterThan(30.0, Accuracy(r, "test accuracy: "), "480 images, 3 epochs: well above chance (10%)");
        StringAssert.Contains(r.Output, "Confusion table");
        var prediction = r.Lines("prediction: ").Single();
        var m = Regex.Match(prediction, @"^prediction: (.+\.png) -> (\d_[\w -]+) \(\d+\.\d%\)$");
        Assert.IsTrue(m.Success && File.Exists(m.Groups[1].Value), prediction);
        var model = Path.Combine(work, "photos.zip");
        Assert.IsTrue(File.Exists(model));

        // samples/scripts/predict.cs: the saved model classifies files; a file that is not an image is named, exit code 1.
        var files = Directory.GetFiles(photos, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(2).ToArray();
        var bad = Path.Combine(work, "not-an-image.png");
        File.WriteAllText(bad, "hello");
        var p = ExternalProcess.Dotnet(work, Limit, null, ["run", Path.Combine(SamplesRoot, "scripts", "predict.cs"), "--", model, .. files, bad]);
        Assert.AreEqual(1, p.ExitCode, p.Tail());
        foreach (var f in files)
            StringAssert.Matches(p.Output, new Regex($@"(?m)^{Regex.Escape(f)}: \d_[\w -]+ \(\d_[\w -]+ \d+\.\d%, \d_[\w -]+ \d+\.\d%, \d_[\w -]+ \d+\.\d%\)$"), p.Tail());
        StringAssert.Contains(p.Output, $"{bad}: ", "the bad file is named");
        StringAssert.Contains(p.Output, "not an image");
    }

    [TestMethod]
    public void FineTuneFromPyTorchBeatsTrainingFromScratch()
    {
        var work = ExternalProcess.NewTempFolder("finetune");
        var r = RunSample("FineTuneFromPyTorch", work, "--per-class", "30", "--epochs", "2", "--test-limit", "400", "--out", "ft.zip").ShouldSucceed();
        StringAssert.Contains(r.Output, "loaded pretrained weights from", "the PyTorch checkpoint was imported");
        StringAssert.Contains(r.Output, "the classifier head 'fc' was re-initialised (fc.weight, fc.bias)", "6 classes in the checkpoint, 4 here");
        double tuned = Accuracy(r, "fine-tuned test accuracy: "), scratch = Accuracy(r, "from-scratch test accuracy: ");
        Console.WriteLine($"fine-tuned {tuned:F2}%, from scratch {scratch:F2}%");
        Assert.IsGreaterThan(60.0, tuned, "120 images of 4 unseen classes, from the pretrained features");
        Assert.IsGreaterThan(scratch + 10, tuned, "the imported weights carry over: fine-tuning beats the same network from random weights");
        Assert.IsTrue(File.Exists(Path.Combine(work, "ft.zip")));
        var predictions = r.Lines("prediction: ");
        Assert.HasCount(4, predictions, "one test image per new class");
        Assert.IsTrue(predictions.All(p => Regex.IsMatch(p, @"true label (Shirt|Sneaker|Bag|Ankle boot)$")), string.Join('\n', predictions));
    }

    [TestMethod]
    public void CompareBackbonesRanksEveryCandidateAndSavesTheBest()
    {
        var work = ExternalProcess.NewTempFolder("compare");
        var r = RunSample("CompareBackbones", work, "--limit", "600", "--epochs", "1", "--test-limit", "500", "--out", "best.zip").ShouldSucceed();
        StringAssert.Contains(r.Output, "6 candidates, rungs at epochs 1");
        var board = r.Lines("  #");
        Assert.HasCount(6, board, r.Tail());
        foreach (var name in new[] { "resnet18 w0.25", "resnet18+se", "resnet18+cbam", "resnet18+eca", "resnet18+ca", "c2f_ca_cls_n" })
            Assert.IsTrue(board.Any(l => l.Contains(name + " ", StringComparison.Ordinal)), $"{name} on the leaderboard:\n{string.Join('\n', board)}");
        Assert.IsTrue(board.All(l => l.Contains("Finished", StringComparison.Ordinal)), string.Join('\n', board));
        var best = r.Lines("best: ").Single();
        StringAssert.StartsWith(best, "best: " + Regex.Match(board[0], @"^  #1 (.+?): ").Groups[1].Value, "the winner is the leaderboard's first");
        Assert.IsGreaterThan(20.0, Accuracy(r, "best: ", @"test accuracy (\d+\.\d+)%"), "480 training images, 1 epoch: above chance (10%): " + best);
        Assert.IsTrue(File.Exists(Path.Combine(work, "best.zip")));
    }

    [TestMethod]
    public void BadOptionsAreNamedWithTheUsageAndExitCode2()
    {
        var work = ExternalProcess.NewTempFolder("badargs");
        var r = RunSample("QuickStart", work, "--epochs", "0");
        Assert.AreEqual(2, r.ExitCode, r.Tail());
        StringAssert.Contains(r.Output, "error: --epochs must be an integer >= 1, got '0'");
        StringAssert.Contains(r.Output, "usage: QuickStart [--limit 0] [--test-limit 0] [--epochs 2]");
        r = RunSample("QuickStart", work, "--epoch", "1");
        Assert.AreEqual(2, r.ExitCode);
        StringAssert.Contains(r.Output, "error: unknown option '--epoch'; expected one of --limit, --test-limit, --epochs, --out");
        r = RunSample("ImageFolder", work, "--data", Path.Combine(work, "missing"));
        Assert.AreEqual(2, r.ExitCode);
        StringAssert.Contains(r.Output, $"--data: folder '{Path.Combine(work, "missing")}' does not exist");
        r = RunSample("FineTuneFromPyTorch", work, "--checkpoint", "nope.pth");
        Assert.AreEqual(2, r.ExitCode);
        StringAssert.Contains(r.Output, "--checkpoint: 'nope.pth' does not exist");
    }

    [TestMethod]
    public void QuickStartScriptRunsAsAFileBasedApp()
    {
        var work = ExternalProcess.NewTempFolder("script");
        var r = ExternalProcess.Dotnet(work, Limit, null, "run", Path.Combine(SamplesRoot, "scripts", "quickstart.cs"), "--", "1000", "1").ShouldSucceed();
        Assert.IsGreaterThan(30.0, Accuracy(r, "test accuracy: "));
        Assert.IsTrue(File.Exists(Path.Combine(work, "fashion-mnist.zip")), "saved in the working folder");
    }

    [TestMethod]
    public void NotebookTranslatesToAFileBasedApp()
    {
        var nb = Path.Combine(SamplesRoot, "notebooks", "QuickStart.ipynb");
        var t = NotebookScript.Translate(nb);
        CollectionAssert.AreEqual(new[] { Path.Combine(ExternalProcess.RepoRoot, "artifacts", "packages") }, t.Sources.ToArray(), "#i resolved against the notebook's folder");
        var lines = t.Source.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.AreEqual(1, lines.Count(l => l == $"#:package MLNet.Attention@{LocalFeed.Version}"), t.Source);
        Assert.IsFalse(lines.Any(l => l.StartsWith("#r ", StringComparison.Ordinal) || l.StartsWith("#i ", StringComparison.Ordinal)), t.Source);
        int lastUsing = lines.FindLastIndex(l => l.StartsWith("using ", StringComparison.Ordinal));
        int firstStatement = lines.FindIndex(l => l.StartsWith("int limit", StringComparison.Ordinal));
        int declaration = lines.FindIndex(l => l.StartsWith("public class FashionPrediction", StringComparison.Ordinal));
        int lastStatement = lines.FindLastIndex(l => l.Contains("Console.WriteLine", StringComparison.Ordinal) && !l.StartsWith("//", StringComparison.Ordinal));
        Assert.IsTrue(lastUsing >= 0 && lastUsing < firstStatement, "using directives first");
        Assert.IsGreaterThan(lastStatement, declaration, "the type declaration cell moves after every statement");
    }

    [TestMethod]
    public void NotebookCodeRunsOverThePackages()
    {
        var work = ExternalProcess.NewTempFolder("notebook");
        var t = NotebookScript.Translate(Path.Combine(SamplesRoot, "notebooks", "QuickStart.ipynb"), feedOverride: LocalFeed.Folder);
        Assert.HasCount(1, t.Sources);
        File.WriteAllText(Path.Combine(work, "nuget.config"), LocalFeed.NuGetConfig(t.Sources[0]));
        File.WriteAllText(Path.Combine(work, "QuickStart.cs"), t.Source);
        var env = new Dictionary<string, string?>(LocalFeed.Environment) { ["QUICKSTART_LIMIT"] = "1000" };
        var r = ExternalProcess.Dotnet(work, Limit, env, "run", "QuickStart.cs").ShouldSucceed();
        StringAssert.Contains(r.Output, "1000 training images, 1000 test images", r.Tail());
        Assert.IsGreaterThan(30.0, Accuracy(r, "test accuracy: "));
        Assert.HasCount(5, r.Lines("prediction: "));
        Assert.IsTrue(File.Exists(Path.Combine(work, "fashion-mnist.zip")));
    }

    private static readonly HashSet<string> s_built = new(StringComparer.Ordinal);

    /// <summary>Builds samples/<paramref name="name"/> in this run's configuration (once per run) and runs it in <paramref name="work"/>.</summary>
    private static ProcessResult RunSample(string name, string work, params string[] args)
    {
        var project = Path.Combine(SamplesRoot, name, name + ".csproj");
        lock (s_built)
            if (!s_built.Contains(name))
            {
                ExternalProcess.Dotnet(ExternalProcess.RepoRoot, Limit, null, "build", project, "-c", ExternalProcess.Configuration, "-nologo", "-v", "q", "-clp:ErrorsOnly").ShouldSucceed();
                s_built.Add(name);
            }
        var dll = Path.Combine(SamplesRoot, name, "bin", ExternalProcess.Configuration, "net10.0", name + ".dll");
        var r = ExternalProcess.Dotnet(work, Limit, null, [dll, .. args]);
        Console.WriteLine(r.Output);
        return r;
    }

    /// <summary>The percentage on the line starting with <paramref name="prefix"/>.</summary>
    private static double Accuracy(ProcessResult r, string prefix, string pattern = @"^(\d+\.\d+)%")
    {
        var line = r.Lines(prefix).Single();
        var m = Regex.Match(line[prefix.Length..], pattern);
        Assert.IsTrue(m.Success, $"no percentage in '{line}'");
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^prediction: [\w/ -]+ \(\d+\.\d%\), true label [\w/ -]+$")]
    private static partial Regex PredictionLine();

    [GeneratedRegex(@"^(\d+) training images, (\d+) test images$")]
    private static partial Regex CountsLine();
}
