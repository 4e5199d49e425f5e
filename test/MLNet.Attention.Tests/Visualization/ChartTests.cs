using System.Xml.Linq;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;
using MLNet.Attention.Visualization;

namespace MLNet.Attention.Tests.Visualization;

/// <summary>
/// The pictures: PNG output decodes (with the project's own decoder) to the expected size and is not blank; SVG output
/// is well-formed XML with the expected number of bars, cells and labels; files are written atomically.
/// </summary>
[TestClass]
public sealed class ChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly string[] FashionClasses = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    /// <summary>Decodes the PNG and checks size and that it holds more than a background.</summary>
    internal static ImageData AssertPng(Picture picture, string what)
    {
        var png = picture.ToPng();
        var image = ImageDecoder.Decode(png, channels: 3, source: what);
        Assert.AreEqual(picture.Width, image.Width, $"{what}: width");
        Assert.AreEqual(picture.Height, image.Height, $"{what}: height");
        var colours = new HashSet<int>();
        int nonWhite = 0;
        for (int i = 0; i < image.Pixels.Length; i += 3)
        {
            int c = image.Pixels[i] << 16 | image.Pixels[i + 1] << 8 | image.Pixels[i + 2];
            colours.Add(c);
            if (c != 0xFFFFFF) nonWhite++;
        }
        Assert.IsTrue(colours.Count > 5, $"{what}: only {colours.Count} colours — blank?");
        Assert.IsTrue(nonWhite > image.Width * image.Height / 50, $"{what}: only {nonWhite} non-white pixels");
        return image;
    }

    internal static XDocument AssertSvg(Picture picture, string what)
    {
        var doc = XDocument.Parse(picture.ToSvg());
        Assert.AreEqual(Svg + "svg", doc.Root!.Name, $"{what}: root");
        Assert.AreEqual(picture.Width.ToString(System.Globalization.CultureInfo.InvariantCulture), doc.Root.Attribute("width")!.Value);
        return doc;
    }

    private static int CountClass(XDocument doc, string cls) => doc.Descendants().Count(e => (string?)e.Attribute("class") == cls);

    private static IEnumerable<string> Texts(XDocument doc, string? cls = null) =>
        doc.Descendants(Svg + "text").Where(e => cls is null || (string?)e.Attribute("class") == cls).Select(e => e.Value);

    private static List<CurvePoint> Curve(int epochs, bool validation) => Enumerable.Range(1, epochs)
        .Select(e => new CurvePoint(e, 1.5 / e, 0.5 + 0.05 * e, validation ? 1.6 / e : null, validation ? 0.48 + 0.05 * e : null)).ToList();

    [TestMethod]
    public void TrainingCurvesHaveBothSeriesBothPanelsAndEveryEpochTick()
    {
        var pic = TrainingCurves.Create(Curve(6, validation: true), "run", scale: 1);
        Assert.AreEqual(900, pic.Width);
        AssertPng(pic, "curves");
        var doc = AssertSvg(pic, "curves");
        Assert.AreEqual(2, CountClass(doc, "series-train"), "one training line per panel");
        Assert.AreEqual(2, CountClass(doc, "series-validation"), "one validation line per panel");
        Assert.AreEqual(4 * 6, CountClass(doc, "marker"), "a marker per epoch, series and panel");
        var labels = Texts(doc, "axis-label").ToList();
        CollectionAssert.AreEqual(new[] { "epoch", "loss", "epoch", "accuracy (%)" }, labels);
        Assert.AreEqual(1, Texts(doc, "title").Count(t => t == "run"));
        Assert.AreEqual(2, Texts(doc, "legend-label").Count(t => t == "validation"));
        // the x ticks of both panels name every epoch
        for (int e = 1; e <= 6; e++)
            Assert.IsTrue(Texts(doc, "tick-label").Count(t => t == e.ToString(System.Globalization.CultureInfo.InvariantCulture)) >= 2, $"epoch {e} is a tick of both panels");
    }

    [TestMethod]
    public void TrainingCurvesFromTheTrainersHistoryWithoutValidation()
    {
        var history = Enumerable.Range(1, 3).Select(e => new EpochMetrics(e, 3, 1.0 / e, 0.6 + 0.1 * e, null, null, 0.1, 100, TimeSpan.FromSeconds(e), TimeSpan.Zero)).ToList();
        var pic = TrainingCurves.Create(history, scale: 2);
        Assert.AreEqual(1800, pic.Width, "scale 2 doubles the picture");
        AssertPng(pic, "curves x2");
        var doc = AssertSvg(pic, "curves x2");
        Assert.AreEqual(0, CountClass(doc, "series-validation"));
        Assert.AreEqual(2 * 3, CountClass(doc, "marker"));
        Assert.IsFalse(Texts(doc).Contains("validation"));
    }

    [TestMethod]
    public void TrainingCurvesRejectEmptyAndNonFiniteHistories()
    {
        Assert.ThrowsExactly<ArgumentException>(() => TrainingCurves.Create(new List<CurvePoint>()));
        var e = Assert.ThrowsExactly<ArgumentException>(() => TrainingCurves.Create(new List<CurvePoint> { new(1, double.NaN, 0.5) }));
        StringAssert.Contains(e.Message, "epoch 1");
    }

    [TestMethod]
    public void ConfusionMatrixHasACellACountAndALabelPerClassPair()
    {
        int k = FashionClasses.Length;
        var probs = new float[40 * k];
        var labels = new int[40];
        var rnd = new Random(3);
        for (int i = 0; i < 40; i++)
        {
            labels[i] = i % k;
            int pred = rnd.NextDouble() < 0.7 ? labels[i] : rnd.Next(k);
            probs[i * k + pred] = 1;
        }
        var cm = MulticlassEvaluator.Evaluate(probs, labels, k, classNames: FashionClasses).ConfusionMatrix;
        var pic = ConfusionMatrixChart.Create(cm, "test set");
        AssertPng(pic, "confusion");
        var doc = AssertSvg(pic, "confusion");
        Assert.AreEqual(k * k, CountClass(doc, "cell"));
        var counts = Texts(doc, "count").Select(int.Parse).ToList();
        Assert.AreEqual(k * k, counts.Count);
        Assert.AreEqual(40, counts.Sum(), "the counts in the cells add up to the images");
        CollectionAssert.AreEqual(FashionClasses, Texts(doc, "row-label").ToList());
        CollectionAssert.AreEqual(FashionClasses, Texts(doc, "column-label").ToList());
        Assert.AreEqual(k, Texts(doc, "recall").Count());
        // cell tooltips name the pair
        Assert.IsTrue(doc.Descendants(Svg + "title").Any(t => t.Value.StartsWith("true Trouser, predicted Trouser", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void ConfusionMatrixRejectsMalformedInput()
    {
        var names = new[] { "a", "b" };
        Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixChart.Create(new[] { new double[] { 1, 2 } }, names));
        Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixChart.Create(new[] { new double[] { 1, 2 }, new double[] { 1 } }, names));
        var e = Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixChart.Create(new[] { new double[] { 1, -2 }, new double[] { 1, 0 } }, names));
        StringAssert.Contains(e.Message, "row 0");
    }

    [TestMethod]
    public void LeaderboardDrawsOneBarPerModelBestFirstWithAnnotations()
    {
        var entries = new List<LeaderboardEntry>
        {
            new("resnet18", 0.8965, 702_000, 769), new("epsanet50", 0.9012, 1_400_000, 3600), new("mobilenetv2_ca", 0.871, 540_000, 0, "1 epoch"),
        };
        var pic = LeaderboardChart.Create(entries, "test accuracy", "Fashion-MNIST");
        AssertPng(pic, "leaderboard");
        var doc = AssertSvg(pic, "leaderboard");
        Assert.AreEqual(3, CountClass(doc, "bar"));
        CollectionAssert.AreEqual(new[] { "epsanet50", "resnet18", "mobilenetv2_ca" }, Texts(doc, "name").ToList(), "sorted best first");
        CollectionAssert.AreEqual(new[] { "90.12%", "89.65%", "87.10%" }, Texts(doc, "value").ToList());
        CollectionAssert.AreEqual(new[] { "1.40 M, 60.0 min", "702 K, 12.8 min", "540 K, 1 epoch" }, Texts(doc, "note").ToList());
        var bars = doc.Descendants(Svg + "rect").Where(e => (string?)e.Attribute("class") == "bar").Select(e => double.Parse(e.Attribute("width")!.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.IsTrue(bars[0] > bars[1] && bars[1] > bars[2], "bar lengths follow the metric");

        var lowerBetter = LeaderboardChart.Create(entries.Select(e => e with { Metric = e.Parameters / 1e6 }).ToList(), "parameters (M)", percent: false, higherIsBetter: false, zeroBased: false);
        var d2 = AssertSvg(lowerBetter, "time board");
        Assert.AreEqual("mobilenetv2_ca", Texts(d2, "name").First());
        var narrow = AssertSvg(LeaderboardChart.Create(entries, "test accuracy", zeroBased: false), "narrow axis");
        Assert.AreEqual("test accuracy (%), axis from 86", Texts(narrow, "axis-label").First(), "an axis that does not start at 0 says so");
    }

    [TestMethod]
    public void LeaderboardRejectsEmptyOrBadEntries()
    {
        Assert.ThrowsExactly<ArgumentException>(() => LeaderboardChart.Create(new List<LeaderboardEntry>()));
        var e = Assert.ThrowsExactly<ArgumentException>(() => LeaderboardChart.Create(new List<LeaderboardEntry> { new("m", double.NaN, 1, 1) }));
        StringAssert.Contains(e.Message, "'m'");
        Assert.ThrowsExactly<ArgumentException>(() => LeaderboardChart.Create(new List<LeaderboardEntry> { new(" ", 1, 1, 1) }));
    }

    [TestMethod]
    public void ChannelWeightsSingleStackedAndStrips()
    {
        var w = Enumerable.Range(0, 48).Select(i => (float)(0.5 + 0.4 * Math.Sin(i))).ToArray();
        var single = ChannelWeightsChart.Create(new[] { new ChannelWeightSeries("weight", w) }, "SE");
        AssertPng(single, "se weights");
        Assert.AreEqual(48, CountClass(AssertSvg(single, "se"), "bar"));

        var branches = Enumerable.Range(0, 4).Select(b => new ChannelWeightSeries($"{2 * b + 3}x{2 * b + 3}", Enumerable.Repeat(0.25f, 16).ToArray())).ToList();
        var stacked = ChannelWeightsChart.Create(branches, "PSA", stacked: true);
        var doc = AssertSvg(stacked, "psa");
        Assert.AreEqual(4 * 16, CountClass(doc, "bar"));
        Assert.AreEqual(4, CountClass(doc, "legend-swatch"));
        AssertPng(stacked, "psa");

        var strips = ChannelWeightsChart.Create(branches, "strips", stacked: false);
        Assert.AreEqual(4, CountClass(AssertSvg(strips, "strips"), "series-label"));
        Assert.ThrowsExactly<ArgumentException>(() => ChannelWeightsChart.Create(new[] { new ChannelWeightSeries("a", w), new ChannelWeightSeries("b", w[..3]) }, "bad"));
    }

    [TestMethod]
    public void ImageGridPlacesEveryPanelWithTitlesCaptionsAndColorbar()
    {
        var img = ImageData.Create(28, 28, 1, 90);
        var rows = new[]
        {
            new GridPanel?[] { new(img, "input"), new(img, "cam\n0.97"), null },
            new GridPanel?[] { new(img), new(img), new(img, "x") },
        };
        var pic = ImageGrid.Create(rows, 56, "grid", new[] { "a", "b", "c\nsecond" }, new[] { "row 1", "row 2" }, Colormap.Jet);
        AssertPng(pic, "grid");
        var doc = AssertSvg(pic, "grid");
        Assert.AreEqual(5, CountClass(doc, "panel"));
        Assert.AreEqual(4, Texts(doc, "column-title").Count());
        Assert.AreEqual(4, Texts(doc, "caption").Count());
        Assert.AreEqual(2, Texts(doc, "row-title").Count());
        Assert.AreEqual(1, CountClass(doc, "colorbar"));
        var href = doc.Descendants(Svg + "image").First().Attribute("href")!.Value;
        StringAssert.StartsWith(href, "data:image/png;base64,");
        var embedded = ImageDecoder.Decode(Convert.FromBase64String(href["data:image/png;base64,".Length..]), channels: 1);
        Assert.AreEqual(28, embedded.Width, "the SVG embeds the image itself as PNG");
    }

    [TestMethod]
    public void PictureRendersShapesWhereTheySay()
    {
        var pic = new Picture(40, 30)
            .Rect(10, 5, 10, 10, new Rgba(255, 0, 0))
            .Line(0, 20.5, 40, 20.5, new Rgba(0, 0, 255))
            .Text(2, 29, "Hi", 10);
        var img = pic.ToImage();
        Assert.AreEqual(4, img.Channels);
        Assert.AreEqual((255, 0, 0), (img[5, 10, 0], img[5, 10, 1], img[5, 10, 2]), "the rectangle covers its first pixel");
        Assert.AreEqual((255, 255, 255), (img[5, 9, 0], img[5, 9, 1], img[5, 9, 2]), "and not its left neighbour");
        Assert.AreEqual((255, 255, 255), (img[15, 15, 0], img[15, 15, 1], img[15, 15, 2]), "nor the row below it");
        for (int x = 0; x < 40; x++) Assert.AreEqual((0, 0, 255), (img[20, x, 0], img[20, x, 1], img[20, x, 2]), $"a 1-px line at y = 20.5 fills row 20 (x {x})");
        Assert.AreEqual(255, img[19, 5, 0]);
        Assert.AreEqual(255, img[21, 5, 0]);
        // 'H' at size 10: its left stem is font column 0, rows 0..6 → pixels x = 2, y = 22..28
        for (int y = 22; y <= 28; y++) Assert.AreEqual(0, img[y, 2, 0], $"H stem at y {y}");
        Assert.AreEqual(255, img[22, 3, 0], "H is open at the top between its stems");
        Assert.AreEqual(0, img[25, 3, 0], "H's bar is its middle row");
        var half = new Picture(4, 4, Rgba.White).Rect(0, 0, 0.5, 4, Rgba.Black).ToImage();
        Assert.AreEqual(128, half[0, 0, 0], 1, "half a pixel covered: half grey");
    }

    [TestMethod]
    public void SvgEscapesTextAndKeepsItReal()
    {
        var pic = new Picture(100, 40).Text(5, 20, "a < b & \"c\"", 10, anchor: TextAnchor.Middle, vertical: true, bold: true);
        var doc = XDocument.Parse(pic.ToSvg());
        var t = doc.Descendants(Svg + "text").Single();
        Assert.AreEqual("a < b & \"c\"", t.Value);
        Assert.AreEqual("middle", (string?)t.Attribute("text-anchor"));
        Assert.AreEqual("rotate(-90 5 20)", (string?)t.Attribute("transform"));
        Assert.AreEqual("bold", (string?)t.Attribute("font-weight"));
    }

    [TestMethod]
    public void SavesAreAtomicOverwriteAndCreateTheFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mlnet-viz-" + Guid.NewGuid().ToString("N"));
        try
        {
            var pic = TrainingCurves.Create(Curve(2, false));
            var png = Path.Combine(dir, "sub", "c.png");
            pic.SavePng(png);
            pic.SavePng(png);
            pic.SaveSvg(Path.ChangeExtension(png, ".svg"));
            CollectionAssert.AreEquivalent(new[] { "c.png", "c.svg" }, Directory.GetFiles(Path.GetDirectoryName(png)!).Select(Path.GetFileName).ToArray(), "no temporary files left");
            CollectionAssert.AreEqual(pic.ToPng(), File.ReadAllBytes(png));
            XDocument.Load(Path.ChangeExtension(png, ".svg"));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void BadCoordinatesAreRefusedWithTheirValue()
    {
        var pic = new Picture(10, 10);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => pic.Rect(double.NaN, 0, 1, 1, Rgba.Black));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => pic.Circle(1, 1, 0, Rgba.Black));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Picture(0, 10));
        Assert.ThrowsExactly<FormatException>(() => Rgba.Parse("#12345"));
        Assert.AreEqual(new Rgba(0x1f, 0x77, 0xb4), Rgba.Parse("#1f77b4"));
    }
}
