using System.Buffers.Binary;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>Bad inputs, each a real file in a temporary folder: an exception naming the file and the reason, or with
/// <see cref="BadInputPolicy.Skip"/> left out and counted.</summary>
[TestClass]
public sealed class BadInputTests
{
    private static byte[] Fixture(string name) => File.ReadAllBytes(ImageDecoderTests.FilePath(name));

    private static ImageDataException Fails(string path, BadInputKind kind, string reasonPart, ImageDecodeOptions? options = null)
    {
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Load(path, 3, options));
        Assert.AreEqual(kind, e.Kind, e.Message);
        Assert.AreEqual(path, e.Input);
        StringAssert.Contains(e.Message, path, "the message names the file");
        StringAssert.Contains(e.Message, reasonPart, "the message gives the reason");
        return e;
    }

    [TestMethod]
    public void ZeroByteFile()
    {
        using var dir = new TempDir("bad");
        Fails(dir.Write("empty.png", Array.Empty<byte>()), BadInputKind.Empty, "zero bytes");
    }

    [TestMethod]
    [DataRow("baseline.jpg", "JPEG")]
    [DataRow("progressive.jpg", "JPEG")]
    [DataRow("rgb.png", "PNG")]
    [DataRow("animated.gif", "GIF")]
    [DataRow("rgb.bmp", "BMP")]
    [DataRow("rgb.ppm", "PNM")]
    [DataRow("rgb.tga", "TGA")]
    [DataRow("rgb_rle.tga", "TGA")]
    public void TruncatedFiles(string name, string format)
    {
        // stb_image alone would pad these with zeros and report success.
        using var dir = new TempDir("bad");
        var full = Fixture(name);
        // The GIF has two frames and only the first is decoded: cut inside the first one.
        foreach (double keep in format == "GIF" ? new[] { 0.3, 0.15 } : new[] { 0.9, 0.5 })
        {
            var path = dir.Write($"cut{keep}_{name}", full.AsSpan(0, (int)(full.Length * keep)).ToArray());
            var e = Fails(path, BadInputKind.Truncated, "truncated");
            StringAssert.Contains(e.Reason, format);
        }
        var tiny = dir.Write("tiny_" + name, full.AsSpan(0, 12).ToArray());
        var t = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Load(tiny));
        // TGA has no signature: 12 bytes of it are indistinguishable from any other bytes.
        Assert.IsTrue(t.Kind is BadInputKind.Truncated || (format == "TGA" && t.Kind == BadInputKind.NotAnImage), t.Message);
    }

    [TestMethod]
    public void GifCutAfterItsFirstFrameStillDecodesTheFirstFrame()
    {
        using var dir = new TempDir("bad");
        var full = Fixture("animated.gif");
        var path = dir.Write("cut.gif", full.AsSpan(0, (int)(full.Length * 0.9)).ToArray());
        CollectionAssert.AreEqual(ImageDecoder.Load(ImageDecoderTests.FilePath("animated.gif")).Pixels, ImageDecoder.Load(path).Pixels);
    }

    [TestMethod]
    public void CorruptFiles()
    {
        using var dir = new TempDir("bad");
        // A flipped bit in PNG pixel data: the chunk CRC catches it.
        var png = Fixture("rgb.png");
        png[png.Length - 30] ^= 0x10;
        Fails(dir.Write("flipped.png", png), BadInputKind.Corrupt, "CRC mismatch in the IDAT chunk");
        // A JPEG whose Huffman tables are garbage.
        var jpg = Fixture("baseline.jpg");
        int dht = IndexOf(jpg, 0xFF, 0xC4);
        for (int i = dht + 5; i < dht + 25; i++) jpg[i] = 0xFF;
        Fails(dir.Write("garbled.jpg", jpg), BadInputKind.Corrupt, "JPEG");
        // A PNG whose first chunk is not IHDR.
        var noHeader = Fixture("gray.png");
        noHeader[12] = (byte)'X';
        Fails(dir.Write("noheader.png", noHeader), BadInputKind.Corrupt, "PNG");
    }

    [TestMethod]
    public void NonImageFiles()
    {
        using var dir = new TempDir("bad");
        Fails(dir.Write("notes.jpg", "these are not pixels\n"u8.ToArray()), BadInputKind.NotAnImage, "not an image");
        Fails(dir.Write("archive.png", new byte[] { 0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }), BadInputKind.NotAnImage, "no JPEG, PNG");
    }

    [TestMethod]
    public void UnsupportedFormats()
    {
        using var dir = new TempDir("bad");
        Fails(dir.Write("photo.tiff", Fixture("unsupported.tiff")), BadInputKind.UnsupportedFormat, "TIFF");
        Fails(dir.Write("photo.webp", Fixture("unsupported.webp")), BadInputKind.UnsupportedFormat, "WebP");
        Fails(dir.Write("ascii.ppm", "P3\n2 1\n255\n255 0 0 0 255 0\n"u8.ToArray()), BadInputKind.UnsupportedFormat, "P3");
    }

    [TestMethod]
    public void DecompressionBombIsRefusedFromItsHeader()
    {
        using var dir = new TempDir("bad");
        // A 200-byte PNG that declares 50,000 x 50,000 pixels (7.5 GB decoded).
        var bomb = PngEncoder.Encode(TestImages.Synth(4, 4, 3, 1));
        BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(16), 50_000);
        BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(20), 50_000);
        BinaryPrimitives.WriteUInt32BigEndian(bomb.AsSpan(29), Crc32(bomb.AsSpan(12, 17)));
        var path = dir.Write("bomb.png", bomb);
        long before = GC.GetTotalAllocatedBytes();
        var e = Fails(path, BadInputKind.TooLarge, "50000x50000 = 2500000000 pixels, above the limit of 178956970");
        Assert.IsTrue(GC.GetTotalAllocatedBytes() - before < 1 << 20, "nothing was allocated for the pixels");
        // Without a limit stb_image's own (1 GiB of pixels) still refuses it, naming the size.
        var unlimited = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.GetInfo(path, new ImageDecodeOptions { MaxPixels = 0 }));
        Assert.AreEqual(BadInputKind.TooLarge, unlimited.Kind);
        StringAssert.Contains(unlimited.Message, "50000x50000");

        // The limit is configurable: an ordinary image above a small limit, and no limit at all.
        var small = dir.Write("small.png", Fixture("rgb.png"));
        Fails(small, BadInputKind.TooLarge, "above the limit of 1000", new ImageDecodeOptions { MaxPixels = 1000 });
        Assert.AreEqual(37, ImageDecoder.Load(small, 3, new ImageDecodeOptions { MaxPixels = 0 }).Width);
        // And the file size limit.
        Fails(small, BadInputKind.TooLarge, "above the limit of 100", new ImageDecodeOptions { MaxFileBytes = 100 });
    }

    [TestMethod]
    public void MissingFile()
    {
        using var dir = new TempDir("bad");
        Fails(dir["nowhere.png"], BadInputKind.Missing, "no such file");
        Fails(dir["no/such/folder/x.png"], BadInputKind.Missing, "no such file");
        var csv = dir.Write("list.csv", "gone.png,a\n"u8.ToArray());
        var ds = ImageDataset.FromCsv(csv);
        var e = Assert.ThrowsExactly<ImageDataException>(() => ds[0].Source.Load(3));
        Assert.AreEqual(BadInputKind.Missing, e.Kind);
        StringAssert.Contains(e.Message, dir["gone.png"]);
    }

    [TestMethod]
    public void UnreadableFile()
    {
        using var dir = new TempDir("bad");
        var folder = dir["folder.png"];
        Directory.CreateDirectory(folder);
        Fails(folder, BadInputKind.Unreadable, "folder");

        if (OperatingSystem.IsWindows())
        {
            Assert.Inconclusive("chmod is a Unix test");
            return;
        }
        var path = dir.Write("locked.png", Fixture("rgb.png"));
        File.SetUnixFileMode(path, UnixFileMode.None);
        bool canStillRead;
        try { using (File.OpenRead(path)) canStillRead = true; }
        catch (UnauthorizedAccessException) { canStillRead = false; }
        if (canStillRead) Assert.Inconclusive("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not block reads here");
        Fails(path, BadInputKind.Unreadable, "permission denied");
    }

    [TestMethod]
    public void LabelUnseenInTraining()
    {
        using var dir = new TempDir("bad");
        dir.Write("a.png", TestImages.Png(5, 5, 3, 1));
        dir.Write("b.png", TestImages.Png(5, 5, 3, 2));
        var csv = dir.Write("val.csv", "path,label\na.png,cat\nb.png,zebra\n"u8.ToArray());
        var training = new[] { "cat", "dog" };
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromCsv(csv, new CsvSourceOptions { Classes = training }));
        Assert.AreEqual(BadInputKind.UnknownLabel, e.Kind);
        StringAssert.Contains(e.Message, dir["b.png"]);
        StringAssert.Contains(e.Message, "label 'zebra' was not seen in training");
        var skipped = ImageDataset.FromCsv(csv, new CsvSourceOptions { Classes = training, OnBadInput = BadInputPolicy.Skip });
        Assert.AreEqual(1, skipped.Count);
        Assert.AreEqual(1, skipped.Report.CountOf(BadInputKind.UnknownLabel));
        // The same through WithClasses on a data set listed on its own.
        var own = ImageDataset.FromCsv(csv);
        CollectionAssert.AreEqual(new[] { "cat", "zebra" }, own.ClassNames.ToArray());
        Assert.ThrowsExactly<ImageDataException>(() => own.WithClasses(training));
        var mapped = own.WithClasses(training, BadInputPolicy.Skip);
        Assert.AreEqual(1, mapped.Count);
        Assert.AreEqual(0, mapped[0].Label);
    }

    [TestMethod]
    public void EmptyFolder()
    {
        using var dir = new TempDir("bad");
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromFolder(dir.Path));
        Assert.AreEqual(BadInputKind.EmptyFolder, e.Kind);
        StringAssert.Contains(e.Message, dir.Path);
        // class folders with nothing but non-images: still nothing to train on, whatever the policy
        dir.Write("a/readme.txt", "x"u8.ToArray());
        e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromFolder(dir.Path, new ImageFolderOptions { OnBadInput = BadInputPolicy.Skip }));
        Assert.AreEqual(BadInputKind.EmptyFolder, e.Kind);
        var missing = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromFolder(dir["absent"]));
        Assert.AreEqual(BadInputKind.Missing, missing.Kind);
    }

    [TestMethod]
    public void ClassWithNoImages()
    {
        using var dir = new TempDir("bad");
        dir.Write("ant/1.png", TestImages.Png(5, 5, 3, 1));
        Directory.CreateDirectory(dir["bee"]);
        dir.Write("cow/1.png", TestImages.Png(5, 5, 3, 2));
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDataset.FromFolder(dir.Path));
        Assert.AreEqual(BadInputKind.EmptyFolder, e.Kind);
        StringAssert.Contains(e.Message, dir["bee"]);
        StringAssert.Contains(e.Message, "class 'bee' has no images");
        var ds = ImageDataset.FromFolder(dir.Path, new ImageFolderOptions { OnBadInput = BadInputPolicy.Skip });
        CollectionAssert.AreEqual(new[] { "ant", "cow" }, ds.ClassNames.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 1 }, ds.Select(s => s.Label).ToArray());
        Assert.AreEqual(1, ds.Report.CountOf(BadInputKind.EmptyFolder));
    }

    [TestMethod]
    public void LoaderThrowsOnTheFirstBadImageOrSkipsAndReportsEveryOne()
    {
        using var dir = new TempDir("bad");
        for (int i = 0; i < 12; i++) dir.Write($"good/{i:D2}.png", TestImages.Png(10, 8, 3, i));
        var jpg = Fixture("baseline.jpg");
        var png = Fixture("rgb.png");
        png[png.Length - 30] ^= 0x10;
        var large = TestImages.Png(64, 64, 3, 99);
        dir.Write("good/a_empty.png", Array.Empty<byte>());
        dir.Write("good/b_truncated.jpg", jpg.AsSpan(0, jpg.Length / 2).ToArray());
        dir.Write("good/c_corrupt.png", png);
        dir.Write("good/d_text.jpg", "hello"u8.ToArray());
        dir.Write("good/e_photo.tiff.png", Fixture("unsupported.tiff"));
        dir.Write("good/f_large.png", large);
        var ds = ImageDataset.FromFolder(dir.Path);
        Assert.AreEqual(18, ds.Count);
        File.Delete(dir["good/00.png"]);  // listed, then deleted: missing at load time
        var pipeline = new ImagePipeline(new ResizeImages(6, 6, ResizingKind.Fill));
        var decode = new ImageDecodeOptions { MaxPixels = 2000 };   // the 64x64 image is above it, the others are not

        var strict = new ImageBatchLoader(ds, pipeline, new ImageLoaderOptions { BatchSize = 4, Shuffle = false, Workers = 2, Decode = decode });
        var e = Assert.ThrowsExactly<ImageDataException>(() => strict.Epoch(0).Select(b => { b.Dispose(); return 0; }).ToList());
        Assert.AreEqual(dir["good/00.png"], e.Input, "the first bad image in batch order");
        Assert.AreEqual(BadInputKind.Missing, e.Kind);

        var lenient = new ImageBatchLoader(ds, pipeline, new ImageLoaderOptions { BatchSize = 4, Workers = 2, Decode = decode, OnBadInput = BadInputPolicy.Skip });
        for (int epoch = 0; epoch < 2; epoch++)
        {
            int images = 0;
            foreach (var b in lenient.Epoch(epoch))
                using (b)
                {
                    images += b.Count;
                    Assert.AreEqual(b.Count, (int)b.Images.Shape[0]);
                    Assert.IsTrue(b.Indices.All(i => Path.GetFileName(ds[i].Source.Name).Length == 6), "only good images in batches");
                }
            Assert.AreEqual(11, images, $"epoch {epoch}");
        }
        var report = lenient.Report;
        Assert.AreEqual(7, report.Count, report.ToString());
        Assert.AreEqual(14, report.SkipEvents, "each bad image skipped once per epoch");
        foreach (var kind in new[] { BadInputKind.Missing, BadInputKind.Empty, BadInputKind.Truncated, BadInputKind.Corrupt, BadInputKind.NotAnImage, BadInputKind.UnsupportedFormat, BadInputKind.TooLarge })
            Assert.AreEqual(1, report.CountOf(kind), $"{kind}: {report}");
        var text = report.ToString();
        StringAssert.StartsWith(text, "7 bad inputs skipped");
        StringAssert.Contains(text, dir["good/b_truncated.jpg"]);
        StringAssert.Contains(text, "truncated JPEG");
    }

    private static int IndexOf(byte[] data, byte a, byte b)
    {
        for (int i = 0; i + 1 < data.Length; i++) if (data[i] == a && data[i + 1] == b) return i;
        throw new AssertFailedException("marker not found");
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var d in data)
        {
            crc ^= d;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
