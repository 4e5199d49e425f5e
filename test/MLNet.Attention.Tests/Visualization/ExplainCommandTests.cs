using System.Xml.Linq;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Estimators;
using MLNet.Attention.Tests.Cli;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Transforms;
using MLNet.Attention.Visualization;

namespace MLNet.Attention.Tests.Visualization;

/// <summary>
/// <c>mlnet-attention explain</c> on model .zip files made by <c>import</c> (a CBAM-ResNet and a plain ResNet with
/// seeded weights): Grad-CAM and attention pictures per image, the class and layer options, the model's own
/// preprocessing, and errors that name the image, the class or the layer.
/// </summary>
[TestClass]
public sealed class ExplainCommandTests
{
    private static string _root = "", _cbam = "", _plain = "", _images = "";
    private static int _threads;

    private static string Import(string arch, string name)
    {
        TorchRuntime.ManualSeed(5);
        var options = new BackboneOptions(NumClasses: 3, InChannels: 3, SmallImage: true, WidthMultiplier: 0.125);
        using (var m = ModelRegistry.Create(arch, options)) m.Save(Path.Combine(_root, name + ".safetensors"));
        string zip = Path.Combine(_root, name + ".zip");
        var r = CliTests.Run("import", "--arch", arch, "--weights", Path.Combine(_root, name + ".safetensors"), "--classes", "3", "--labels", "cat,dog,bird",
            "--image-size", "32", "--small-image", "--width", "0.125", "--out", zip);
        Assert.AreEqual(0, r.Code, r.ToString());
        return zip;
    }

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _threads = TorchRuntime.NumThreads;
        TorchRuntime.NumThreads = 1;
        _root = Path.Combine(Path.GetTempPath(), $"mlnet-explain-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_root);
        _cbam = Import("cbam_resnet50", "cbam");
        _plain = Import("resnet18", "plain");
        _images = Fixtures.PathOf("cli", "images");
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        TorchRuntime.NumThreads = _threads;
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }

    private static string Out(string name) => Path.Combine(_root, "out-" + name);

    [TestMethod]
    public void AllMethodsWritePicturesForEveryImage()
    {
        string dir = Out("all");
        var r = CliTests.Run("explain", "--model", _cbam, _images, "--method", "all", "--out", dir, "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        var stems = Directory.GetFiles(_images).Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.AreEqual(4, stems.Count);
        foreach (var stem in stems)
        {
            StringAssert.Contains(r.Out, $"{stem}.png: predicted ");
            var cam = ImageDecoder.Load(Path.Combine(dir, stem + ".gradcam.png"), 3);
            Assert.IsTrue(cam.Width > 3 * 168, "three panels");
            var att = ImageDecoder.Load(Path.Combine(dir, stem + ".attention.png"), 3);
            Assert.IsTrue(att.Height > 112);
            // one channel chart per stage, as PNG and SVG
            for (int s = 1; s <= 4; s++)
            {
                var svg = Directory.GetFiles(dir, $"{stem}.layer{s}.*.channels.svg").Single();
                var doc = XDocument.Load(svg);
                Assert.IsTrue(doc.Descendants().Count(e => (string?)e.Attribute("class") == "bar") >= 8, svg);
                Assert.IsTrue(File.Exists(Path.ChangeExtension(svg, ".png")));
            }
        }
        StringAssert.Contains(r.Out, "16 spatial attention map(s), 16 channel-attention layer(s)");
        StringAssert.Contains(r.Out, "Grad-CAM of ");
        Assert.IsFalse(Directory.EnumerateFiles(dir, "*.tmp", SearchOption.AllDirectories).Any());
    }

    [TestMethod]
    public void ClassAndLayerChooseWhatIsExplained()
    {
        string img = Path.Combine(_images, "blob.png");
        var r = CliTests.Run("explain", "--model", _cbam, img, "--class", "bird", "--layer", "layer3", "--out", Out("class"), "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "Grad-CAM of bird at layer3 (");
        r = CliTests.Run("explain", "--model", _cbam, img, "--class", "1", "--out", Out("class"), "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "Grad-CAM of dog at layer4 (");
        r = CliTests.Run("explain", "--model", _cbam, img, "--method", "attention", "--layer", "layer2.1", "--out", Out("layer"), "--threads", "1");
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "1 spatial attention map(s), 1 channel-attention layer(s)");
        Assert.IsTrue(File.Exists(Path.Combine(Out("layer"), "blob.layer2.1.cbam.ChannelGate.channels.svg")));
    }

    [TestMethod]
    public void ErrorsNameTheImageTheClassAndTheLayer()
    {
        string bad = Path.Combine(_root, "bad.png");
        File.WriteAllText(bad, "not an image");
        var r = CliTests.Run("explain", "--model", _cbam, bad, Path.Combine(_images, "noise.png"), "--out", Out("bad"), "--threads", "1");
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "cannot explain '" + bad + "'");
        Assert.IsTrue(File.Exists(Path.Combine(Out("bad"), "noise.gradcam.png")), "the good image is still explained");

        r = CliTests.Run("explain", "--model", _cbam, _images, "--class", "horse", "--out", Out("x"));
        Assert.AreEqual(2, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "--class 'horse' is not one of the model's classes (cat, dog, bird)");

        r = CliTests.Run("explain", "--model", _cbam, Path.Combine(_images, "blob.png"), "--layer", "layer7", "--out", Out("x"), "--threads", "1");
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "no module named 'layer7'");

        r = CliTests.Run("explain", "--model", _plain, Path.Combine(_images, "blob.png"), "--method", "attention", "--out", Out("x"), "--threads", "1");
        Assert.AreEqual(1, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "resnet18 has no attention layer");

        r = CliTests.Run("explain", "--model", Path.Combine(_root, "missing.zip"), _images, "--out", Out("x"));
        Assert.AreEqual(2, r.Code, r.ToString());
        r = CliTests.Run("explain", "--model", _cbam, _images, "--method", "lime", "--out", Out("x"));
        Assert.AreEqual(2, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "--method must be one of gradcam, attention, all");
    }

    [TestMethod]
    public void ExplainerUsesTheModelsOwnPreprocessingAndScoresLikeThePipeline()
    {
        var ml = new MLContext(1);
        var explainer = ModelExplainer.Load(_plain, ml);
        var image = explainer.LoadImage(Path.Combine(_images, "gradient.png"));
        var pixels = explainer.Prepare(image);
        Assert.AreEqual(3 * 32 * 32, pixels.Length);
        var cam = explainer.GradCam(image);
        // the same image through the prediction engine gives the same probabilities
        var engine = ml.Model.CreatePredictionEngine<PathRow, ScoreRow>(explainer.Model);
        var scored = engine.Predict(new PathRow { ImagePath = Path.Combine(_images, "gradient.png") });
        for (int k = 0; k < 3; k++) Assert.AreEqual(scored.Score[k], cam.Probabilities[k], 1e-5f, $"class {k}");
        var display = explainer.Display(image);
        Assert.AreEqual((32, 32, 3), (display.Width, display.Height, display.Channels), "resized to the model's input, still bytes");
        Assert.AreEqual((32, 32, 3), (explainer.Display(pixels).Width, explainer.Display(pixels).Height, 3));
        ChartTests.AssertPng(Figures.GradCam(display, cam, explainer.Labels), "figure");
        Assert.AreEqual(2, explainer.ClassIndex("BIRD"));
        Assert.ThrowsExactly<ArgumentException>(() => explainer.ClassIndex("3"));
    }

    [TestMethod]
    public void CompareWritesTheLeaderboardChartWithPlots()
    {
        string dir = Out("plots");
        var r = CliTests.Run("compare", "--data", "fashion-mnist", "--train-limit", "96", "--models", "resnet18,resnet18+se", "--width", "0.0625",
            "--lrs", "0.05", "--batch-sizes", "32", "--max-epochs", "1", "--budget", "10m", "--seed", "3", "--threads", "1", "--workers", "0",
            "--out", Path.Combine(_root, "best.zip"), "--plots", dir);
        Assert.AreEqual(0, r.Code, r.ToString());
        StringAssert.Contains(r.Out, "wrote the leaderboard chart to");
        var doc = XDocument.Load(Path.Combine(dir, "leaderboard.svg"));
        Assert.AreEqual(2, doc.Descendants().Count(e => (string?)e.Attribute("class") == "bar"));
        Assert.IsTrue(doc.Descendants().Where(e => (string?)e.Attribute("class") == "note").All(e => e.Value.EndsWith("1 ep.", StringComparison.Ordinal)));
        var png = ImageDecoder.Load(Path.Combine(dir, "leaderboard.png"), 3);
        Assert.IsTrue(png.Width > 600 && png.Pixels.Any(b => b != 255), "a drawn chart");
        r = CliTests.Run("compare", "--data", "fashion-mnist", "--models", "resnet18", "--plots", Path.Combine(_root, "cbam.zip"), "--out", Path.Combine(_root, "x.zip"));
        Assert.AreEqual(2, r.Code, r.ToString());
        StringAssert.Contains(r.Err, "--plots");
    }

    public sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    public sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }
}
