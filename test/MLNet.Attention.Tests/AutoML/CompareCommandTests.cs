using System.Globalization;
using MLNet.Attention.Cli;
using MLNet.Attention.Cli.Commands;
using MLNet.Attention.Torch;

namespace MLNet.Attention.Tests.AutoML;

/// <summary>
/// <c>mlnet-attention compare</c> in-process: a tiny comparison on Fashion-MNIST giving the leaderboard as text and CSV
/// and a best model that evaluates; usage errors (exit code 2) naming the option and value; a budget too short (exit 1).
/// </summary>
[TestClass]
public sealed class CompareCommandTests : OneThreadTest
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(CultureInfo.InvariantCulture);
        var e = new StringWriter(CultureInfo.InvariantCulture);
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [TestMethod]
    public void CompareWritesTheLeaderboardAndTheBestModel()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mlnet-compare-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string model = Path.Combine(dir, "best.zip"), csv = Path.Combine(dir, "leaderboard.csv");
            var (code, output, error) = Run("compare", "--data", "fashion-mnist", "--train-limit", "200", "--models", "resnet18,resnet18+eca",
                "--width", "0.125", "--lrs", "0.05", "--batch-sizes", "32", "--max-epochs", "1", "--budget", "10m", "--seed", "3",
                "--threads", "1", "--workers", "0", "--out", model, "--leaderboard", csv);
            string all = $"exit {code}\n{output}\n{error}";
            Assert.AreEqual(0, code, all);
            foreach (var part in new[] { "comparing 2 candidate(s)", "rungs of 1 epochs", "budget 10m00s", "leaderboard (MicroAccuracy", "resnet18 w0.125 small, lr 0.05, batch 32",
                "resnet18+eca w0.125 small", "finished", "GMACs", "images/s", "best: ", "saved " + model })
                StringAssert.Contains(output, part, all);
            Assert.IsFalse(output.Contains('\u001b'), "plain text when the output is not a terminal");

            var lines = File.ReadAllLines(csv);
            Assert.AreEqual(3, lines.Length, string.Join("\n", lines));
            StringAssert.StartsWith(lines[0], "rank,model,attention,width,small_image,learning_rate,batch_size,status,metric_name,metric,");
            StringAssert.StartsWith(lines[1], "1,resnet18,");
            StringAssert.StartsWith(lines[2], "2,resnet18,");
            Assert.IsTrue(lines.Skip(1).All(l => l.Contains(",Finished,MicroAccuracy,", StringComparison.Ordinal)));
            Assert.IsFalse(Directory.EnumerateFiles(dir, "*.tmp").Any());

            var (ecode, eout, eerr) = Run("evaluate", "--model", model, "--data", "fashion-mnist", "--limit", "50", "--threads", "1");
            Assert.AreEqual(0, ecode, eout + eerr);
            StringAssert.Contains(eout, "accuracy (micro)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void UsageErrorsNameTheOptionAndTheValue()
    {
        void Usage(string expected, params string[] args)
        {
            var (code, output, error) = Run(["compare", "--data", "fashion-mnist", .. args]);
            Assert.AreEqual(2, code, $"{string.Join(' ', args)}: {output}{error}");
            StringAssert.Contains(error, expected);
        }
        Usage("--models: unknown model 'nosuch'; known models: ", "--models", "resnet18,nosuch");
        Usage("unknown attention layer 'zz'", "--models", "resnet18+zz");
        Usage("--models: 'resnet18' is listed twice", "--models", "resnet18,resnet18");
        Usage("--budget '0s' must be a positive duration", "--models", "resnet18", "--budget", "0s");
        Usage("--budget 'soon' is not a duration", "--models", "resnet18", "--budget", "soon");
        Usage("--lrs: '-1' is not valid", "--models", "resnet18", "--lrs", "0.1,-1");
        Usage("--batch-sizes: 'x' is not valid", "--models", "resnet18", "--batch-sizes", "x");
        Usage("--eta must be >= 2", "--models", "resnet18", "--eta", "1");
        Usage("--min-epochs 4 is more than --max-epochs 3", "--models", "resnet18", "--min-epochs", "4", "--max-epochs", "3");
        Usage("--models", "--budget", "1m");
        Usage("--stem-stride", "--models", "resnet18", "--stem-stride", "5");
    }

    [TestMethod]
    public void StemStrideGoesToTheModelsThatTakeOne()
    {
        var list = CompareCommand.ParseModels("resnet18+cbam,epsanet14,mobilenetv2", 0.25, smallImage: true, stemStride: 2);
        CollectionAssert.AreEqual(new[] { 2, 2, 0 }, list.Select(b => b.StemStride).ToArray());
        Assert.AreEqual("resnet18+cbam w0.25 small s2", list[0].ToString());
        Assert.AreEqual("mobilenetv2 w0.25 small", list[2].ToString());
        CollectionAssert.AreEqual(new[] { 0, 0, 0 }, CompareCommand.ParseModels("resnet18+cbam,epsanet14,mobilenetv2", 0.25, true).Select(b => b.StemStride).ToArray());
    }

    [TestMethod]
    public void ABudgetTooShortIsARuntimeFailureThatSaysSo()
    {
        var (code, output, error) = Run("compare", "--data", "fashion-mnist", "--train-limit", "100", "--models", "resnet18", "--width", "0.125",
            "--budget", "0.001", "--threads", "1", "--out", Path.Combine(Path.GetTempPath(), $"never-{Guid.NewGuid():N}.zip"));
        Assert.AreEqual(1, code, output + error);
        StringAssert.Contains(error, "no candidate completed a trial");
    }

    [TestMethod]
    public void DurationsReadAsPeopleWriteThem()
    {
        Assert.AreEqual(TimeSpan.FromSeconds(90), CompareCommand.ParseDuration("90s", "--budget"));
        Assert.AreEqual(TimeSpan.FromMinutes(10), CompareCommand.ParseDuration("10m", "--budget"));
        Assert.AreEqual(TimeSpan.FromMinutes(10), CompareCommand.ParseDuration("10min", "--budget"));
        Assert.AreEqual(TimeSpan.FromMinutes(90), CompareCommand.ParseDuration("1h30m", "--budget"));
        Assert.AreEqual(TimeSpan.FromSeconds(150), CompareCommand.ParseDuration("2.5m", "--budget"));
        Assert.AreEqual(TimeSpan.FromSeconds(600), CompareCommand.ParseDuration("600", "--budget"));
        Assert.AreEqual(TimeSpan.FromMinutes(10), CompareCommand.ParseDuration("00:10:00", "--budget"));
        Assert.ThrowsExactly<UsageException>(() => CompareCommand.ParseDuration("", "--budget"));
        Assert.ThrowsExactly<UsageException>(() => CompareCommand.ParseDuration("-5", "--budget"));
        Assert.ThrowsExactly<UsageException>(() => CompareCommand.ParseDuration("5 minutes", "--budget"));
    }
}
