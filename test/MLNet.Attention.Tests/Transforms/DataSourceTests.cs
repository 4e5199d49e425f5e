using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>Image folders, CSV/TSV files, in-memory rows, IDX files, the PNG writer and splits.</summary>
[TestClass]
public sealed class DataSourceTests
{
    [TestMethod]
    public void PngEncoderRoundTripsEveryChannelCount()
    {
        for (int c = 1; c <= 4; c++)
        {
            var img = TestImages.Synth(23, 17, c, c);
            var back = ImageDecoder.Decode(PngEncoder.Encode(img), c);
            CollectionAssert.AreEqual(img.Pixels, back.Pixels, $"{c} channels");
            Assert.AreEqual(c, ImageDecoder.GetInfo(PngEncoder.Encode(img)).Channels);
        }
    }

    [TestMethod]
    public void ImageFolderListsClassesAndFilesInOrder()
    {
        using var dir = new TempDir("folder");
        dir.Write("dog/b.png", TestImages.Png(8, 8, 3, 1));
        dir.Write("dog/a.jpg", File.ReadAllBytes(ImageDecoderTests.FilePath("baseline.jpg")));
        dir.Write("dog/nested/c.png", TestImages.Png(8, 8, 3, 2));
        dir.Write("dog/notes.txt", "not an image"u8.ToArray());        // ignored by extension, as torchvision does
        dir.Write("cat/x.PNG", TestImages.Png(8, 8, 3, 3));
        var ds = ImageDataset.FromFolder(dir.Path);
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, ds.ClassNames.ToArray());
        Assert.AreEqual(4, ds.Count);
        CollectionAssert.AreEqual(new[] { 0, 1, 1, 1 }, ds.Select(s => s.Label).ToArray());
        CollectionAssert.AreEqual(new[] { "x.PNG", "a.jpg", "b.png", "c.png" }, ds.Select(s => Path.GetFileName(s.Source.Name)).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3 }, ds.ClassCounts());
        Assert.AreEqual(0, ds.Report.Count);

        // A fixed class list (the training set's): an extra folder is an unknown label.
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromFolder(dir.Path, new ImageFolderOptions { Classes = new[] { "dog" } }));
        Assert.AreEqual(BadInputKind.UnknownLabel, e.Kind);
        StringAssert.Contains(e.Message, dir["cat"]);
        var skipped = ImageDataset.FromFolder(dir.Path, new ImageFolderOptions { Classes = new[] { "dog", "bird" }, OnBadInput = BadInputPolicy.Skip });
        Assert.AreEqual(3, skipped.Count);
        Assert.IsTrue(skipped.All(s => s.Label == 0));
        Assert.AreEqual(1, skipped.Report.CountOf(BadInputKind.UnknownLabel));
    }

    [TestMethod]
    public void CsvAndTsvWithHeadersQuotesAndRelativePaths()
    {
        using var dir = new TempDir("csv");
        dir.Write("img/one.png", TestImages.Png(6, 5, 3, 1));
        dir.Write("img/two, three.png", TestImages.Png(6, 5, 3, 2));
        dir.Write("img/four.png", TestImages.Png(6, 5, 3, 4));
        var csv = dir.Write("labels.csv", "path,label\nimg/one.png,10\n\"img/two, three.png\",2\n\nimg/four.png,10\n"u8.ToArray());
        var ds = ImageDataset.FromCsv(csv);
        CollectionAssert.AreEqual(new[] { "2", "10" }, ds.ClassNames.ToArray(), "integer labels sort numerically");
        CollectionAssert.AreEqual(new[] { 1, 0, 1 }, ds.Select(s => s.Label).ToArray());
        Assert.AreEqual(dir["img/two, three.png"], ds[1].Source.Name);
        Assert.AreEqual(5, ds[1].Source.Load(3).Height);

        // TSV without a header, label first, images under another root.
        var tsv = dir.Write("meta/list.tsv", System.Text.Encoding.UTF8.GetBytes("cat\tone.png\ndog\t" + dir["img/four.png"] + "\n"));
        var t = ImageDataset.FromCsv(tsv, new CsvSourceOptions { PathColumnIndex = 1, LabelColumnIndex = 0, ImageFolder = dir["img"] });
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, t.ClassNames.ToArray());
        Assert.AreEqual(dir["img/one.png"], t[0].Source.Name);
        Assert.AreEqual(dir["img/four.png"], t[1].Source.Name);

        // Named columns.
        var named = dir.Write("named.csv", "label;id;file\nb;1;img/one.png\na;2;img/four.png\n"u8.ToArray());
        var n = ImageDataset.FromCsv(named, new CsvSourceOptions { PathColumn = "file", LabelColumn = "label" });
        CollectionAssert.AreEqual(new[] { 1, 0 }, n.Select(s => s.Label).ToArray());

        // A malformed line names the file and line.
        var bad = dir.Write("bad.csv", "img/one.png,a\nimg/four.png\n"u8.ToArray());
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromCsv(bad));
        StringAssert.Contains(e.Message, bad + ":2");
        var skipped = ImageDataset.FromCsv(bad, new CsvSourceOptions { OnBadInput = BadInputPolicy.Skip });
        Assert.AreEqual(1, skipped.Count);
        Assert.AreEqual(1, skipped.Report.CountOf(BadInputKind.Corrupt));
    }

    [TestMethod]
    public void InMemoryRowsAndIdx()
    {
        var png = TestImages.Png(9, 7, 3, 5);
        var enc = ImageDataset.FromEncoded(new[] { ("row-a", png, "x"), ("row-b", png, "y") });
        Assert.AreEqual(2, enc.Count);
        var img = enc[1].Source.Load(1);
        Assert.AreEqual((9, 7, 1), (img.Width, img.Height, img.Channels));
        Assert.AreEqual("row-b", img.Source);

        var px = TestImages.Synth(4, 3, 1, 2);
        var mem = ImageDataset.FromImages(new[] { (px, "only") });
        var rgb = mem[0].Source.Load(3);
        for (int i = 0; i < 12; i++) Assert.AreEqual(px.Pixels[i], rgb.Pixels[3 * i + 2]);

        var idx = ImageDataset.FashionMnist(train: false, limit: 50);
        Assert.AreEqual(50, idx.Count);
        Assert.AreEqual("Ankle boot", idx.ClassNames[9]);
        var first = idx[0].Source.Load(1);
        Assert.AreEqual((28, 28), (first.Width, first.Height));
        Assert.AreEqual(9, idx[0].Label, "the first Fashion-MNIST test image is an ankle boot");
    }

    [TestMethod]
    public void FashionMnistWrittenAsPngFolderReadsBackIdentically()
    {
        using var dir = new TempDir("fmnist");
        var idx = IdxDataset.FashionMnist(train: false).Take(300);
        Assert.AreEqual(300, ImageFolderWriter.WriteIdx(idx, dir.Path));
        var ds = ImageDataset.FromFolder(dir.Path);
        CollectionAssert.AreEqual(new[] { "0_T-shirt-top", "1_Trouser", "2_Pullover", "3_Dress", "4_Coat", "5_Sandal", "6_Shirt", "7_Sneaker", "8_Bag", "9_Ankle boot" },
            ds.ClassNames.ToArray());
        Assert.AreEqual(300, ds.Count);
        foreach (var s in ds)
        {
            int i = int.Parse(Path.GetFileNameWithoutExtension(s.Source.Name), System.Globalization.CultureInfo.InvariantCulture);
            Assert.AreEqual(idx.Labels[i], s.Label, s.Source.Name);
            var img = s.Source.Load(1);
            CollectionAssert.AreEqual(idx.Images.AsSpan(i * 784, 784).ToArray(), img.Pixels, s.Source.Name);
        }
    }

    [TestMethod]
    public void FashionMnistPresetMatchesTheTrainingSetStatistics()
    {
        var train = IdxDataset.FashionMnist(train: true);
        double sum = 0, sq = 0;
        foreach (var b in train.Images) { double v = b / 255.0; sum += v; sq += v * v; }
        double mean = sum / train.Images.Length, std = Math.Sqrt(sq / train.Images.Length - mean * mean);
        Assert.AreEqual(mean, NormalizeImage.FashionMnist.Mean[0], 5e-4);
        Assert.AreEqual(std, NormalizeImage.FashionMnist.Std[0], 5e-4);
    }

    [TestMethod]
    public void SplitsAreSeededStratifiedAndDisjoint()
    {
        var ds = ImageDataset.FashionMnist(train: false, limit: 1000);
        var a = ds.Split(0.7, 0.2, seed: 42);
        var b = ds.Split(0.7, 0.2, seed: 42);
        var c = ds.Split(0.7, 0.2, seed: 43);
        Assert.AreEqual((700, 200, 100), (a.Train.Count, a.Validation.Count, a.Test.Count));
        CollectionAssert.AreEqual(Names(a.Train), Names(b.Train), "same seed, same split");
        CollectionAssert.AreNotEqual(Names(a.Train), Names(c.Train), "another seed, another split");
        var all = Names(a.Train).Concat(Names(a.Validation)).Concat(Names(a.Test)).ToArray();
        Assert.AreEqual(1000, all.Distinct().Count(), "the parts are disjoint and cover the data set");
        var counts = ds.ClassCounts();
        var trainCounts = a.Train.ClassCounts();
        var valCounts = a.Validation.ClassCounts();
        for (int k = 0; k < 10; k++)
        {
            Assert.IsTrue(Math.Abs(trainCounts[k] - 0.7 * counts[k]) <= 1, $"class {k}: {trainCounts[k]} of {counts[k]} in train");
            Assert.IsTrue(Math.Abs(valCounts[k] - 0.2 * counts[k]) <= 1, $"class {k}: {valCounts[k]} of {counts[k]} in validation");
        }
        var plain = ds.Split(0.5, seed: 1, stratified: false);
        Assert.AreEqual((500, 0, 500), (plain.Train.Count, plain.Validation.Count, plain.Test.Count));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ds.Split(0.8, 0.3));
    }

    private static string[] Names(ImageDataset d) => d.Select(s => s.Source.Name).ToArray();
}
