using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>The native decoder against what Pillow decodes from the same files (test/reference/make_image_fixtures.py).</summary>
[TestClass]
public sealed class ImageDecoderTests
{
    internal const string Reference = "images/reference.safetensors";

    internal static string FilePath(string name) => Fixtures.PathOf("images", name);

    /// <summary>Pillow's pixels of a fixture file: (height, width, channels, bytes).</summary>
    internal static (int H, int W, int C, byte[] Pixels) Expected(string name)
    {
        var t = Fixtures.Load(Reference)["decode/" + name];
        var s = t.Shape;
        return ((int)s[0], (int)s[1], (int)s[2], t.ToArray<byte>());
    }

    [TestMethod]
    [DataRow("rgb.png")]
    [DataRow("rgba.png")]
    [DataRow("gray.png")]
    [DataRow("gray_alpha.png")]
    [DataRow("palette.png")]
    [DataRow("palette_trns.png")]
    [DataRow("bilevel.png")]
    [DataRow("rgb16.png")]
    [DataRow("gray16.png")]
    [DataRow("rgb.bmp")]
    [DataRow("rgb.tga")]
    [DataRow("rgb_rle.tga")]
    [DataRow("rgb.ppm")]
    [DataRow("gray.pgm")]
    [DataRow("animated.gif")]
    public void LosslessFormatsDecodeToPillowsPixelsExactly(string name)
    {
        var (h, w, c, expected) = Expected(name);
        var img = ImageDecoder.Load(FilePath(name), c);
        Assert.AreEqual(w, img.Width, "width");
        Assert.AreEqual(h, img.Height, "height");
        Assert.AreEqual(c, img.Channels, "channels");
        CollectionAssert.AreEqual(expected, img.Pixels, $"{name}: pixels differ from Pillow's");
        Assert.AreEqual(FilePath(name), img.Source);
    }

    [TestMethod]
    public void GrayPaletteBmpDecodesToItsGrayLevels()
    {
        // Pillow writes an 8-bit BMP with a gray palette; stb expands it to RGB, and RGB -> gray must give the same levels back.
        var (_, _, _, gray) = Expected("gray.pgm");
        var img = ImageDecoder.Load(FilePath("gray.bmp"), 1);
        CollectionAssert.AreEqual(gray, img.Pixels);
    }

    [TestMethod]
    [DataRow("baseline.jpg", 3)]
    [DataRow("progressive.jpg", 3)]
    [DataRow("gray.jpg", 1)]
    public void JpegsDecodeCloseToLibjpeg(string name, int channels)
    {
        // stb_image's IDCT and chroma upsampling differ from libjpeg-turbo's by a few levels, never more.
        var (h, w, c, expected) = Expected(name);
        Assert.AreEqual(channels, c);
        var img = ImageDecoder.Load(FilePath(name), c);
        Assert.AreEqual(w, img.Width);
        Assert.AreEqual(h, img.Height);
        var (mean, max) = Diff(expected, img.Pixels);
        Assert.IsTrue(mean < 1.5, $"{name}: mean |stb - libjpeg| = {mean:F3}");
        Assert.IsTrue(max <= 24, $"{name}: max |stb - libjpeg| = {max}");
    }

    [TestMethod]
    public void ProgressiveAndBaselineJpegsAgree()
    {
        var a = ImageDecoder.Load(FilePath("baseline.jpg"));
        var b = ImageDecoder.Load(FilePath("progressive.jpg"));
        var (mean, _) = Diff(a.Pixels, b.Pixels);
        Assert.IsTrue(mean < 1.0, $"mean difference {mean:F3}");
    }

    [TestMethod]
    public void ExifOrientationIsApplied()
    {
        for (int o = 1; o <= 8; o++)
        {
            string name = $"exif_{o}.jpg";
            var (h, w, c, expected) = Expected(name);
            var info = ImageDecoder.GetInfo(FilePath(name));
            Assert.AreEqual(o, info.Orientation, $"{name}: orientation tag");
            Assert.AreEqual((w, h), (info.Width, info.Height), $"{name}: size after orientation");
            var img = ImageDecoder.Load(FilePath(name), c);
            Assert.AreEqual((w, h), (img.Width, img.Height), $"{name}: decoded size");
            var (mean, _) = Diff(expected, img.Pixels);
            Assert.IsTrue(mean < 3, $"{name}: mean difference to Pillow's exif_transpose is {mean:F2}: wrong rotation or flip");

            var raw = ImageDecoder.Load(FilePath(name), 3, new ImageDecodeOptions { ApplyExifOrientation = false });
            Assert.AreEqual((24, 16), (raw.Width, raw.Height), $"{name}: stored size when the tag is ignored");
        }
    }

    [TestMethod]
    public void ChannelConversions()
    {
        var (_, _, _, rgb) = Expected("rgb.png");
        var (_, _, _, gray) = Expected("gray.png");
        var (_, _, _, rgba) = Expected("rgba.png");

        // gray -> RGB replicates; gray -> RGBA adds opaque alpha.
        var g3 = ImageDecoder.Load(FilePath("gray.png"), 3);
        var g4 = ImageDecoder.Load(FilePath("gray.png"), 4);
        for (int i = 0; i < gray.Length; i++)
        {
            Assert.AreEqual(gray[i], g3.Pixels[3 * i]); Assert.AreEqual(gray[i], g3.Pixels[3 * i + 1]); Assert.AreEqual(gray[i], g3.Pixels[3 * i + 2]);
            Assert.AreEqual(gray[i], g4.Pixels[4 * i]); Assert.AreEqual((byte)255, g4.Pixels[4 * i + 3]);
        }
        // RGBA -> RGB drops alpha (no compositing), as Pillow's convert("RGB").
        var a3 = ImageDecoder.Load(FilePath("rgba.png"), 3);
        for (int i = 0; i < a3.Width * a3.Height; i++)
            for (int k = 0; k < 3; k++) Assert.AreEqual(rgba[4 * i + k], a3.Pixels[3 * i + k]);
        CollectionAssert.AreEqual(rgb, a3.Pixels, "the RGBA fixture carries the RGB fixture's colours");
        // RGB -> gray is Pillow's convert("L"), which is what gray.png holds.
        CollectionAssert.AreEqual(gray, ImageDecoder.Load(FilePath("rgb.png"), 1).Pixels);
        // RGBA -> gray+alpha keeps alpha.
        var a2 = ImageDecoder.Load(FilePath("rgba.png"), 2);
        for (int i = 0; i < gray.Length; i++)
        {
            Assert.AreEqual(gray[i], a2.Pixels[2 * i]);
            Assert.AreEqual(rgba[4 * i + 3], a2.Pixels[2 * i + 1]);
        }
    }

    [TestMethod]
    public void InfoReadsTheHeader()
    {
        var png = ImageDecoder.GetInfo(FilePath("rgba.png"));
        Assert.AreEqual(new ImageInfo(37, 29, 4, ImageFormat.Png, 1, 8), png);
        Assert.AreEqual(16, ImageDecoder.GetInfo(FilePath("rgb16.png")).BitsPerSample);
        Assert.AreEqual(ImageFormat.Jpeg, ImageDecoder.GetInfo(FilePath("progressive.jpg")).Format);
        Assert.AreEqual(1, ImageDecoder.GetInfo(FilePath("gray.jpg")).Channels);
        Assert.AreEqual(ImageFormat.Gif, ImageDecoder.GetInfo(FilePath("animated.gif")).Format);
        Assert.AreEqual(ImageFormat.Bmp, ImageDecoder.GetInfo(FilePath("rgb.bmp")).Format);
        Assert.AreEqual(ImageFormat.Tga, ImageDecoder.GetInfo(FilePath("rgb.tga")).Format);
        Assert.AreEqual(ImageFormat.Pnm, ImageDecoder.GetInfo(FilePath("gray.pgm")).Format);
        var exif6 = ImageDecoder.GetInfo(FilePath("exif_6.jpg"));
        Assert.AreEqual((16, 24, 6), (exif6.Width, exif6.Height, exif6.Orientation));
    }

    [TestMethod]
    [DataRow("unsupported.tiff", "TIFF")]
    [DataRow("unsupported.webp", "WebP")]
    public void ForeignFormatsAreNamed(string name, string format)
    {
        var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Load(FilePath(name)));
        Assert.AreEqual(BadInputKind.UnsupportedFormat, e.Kind);
        StringAssert.Contains(e.Message, format);
        StringAssert.Contains(e.Message, FilePath(name));
    }

    [TestMethod]
    public void DecodesFromMemoryAndOnManyThreadsAtOnce()
    {
        var bytes = File.ReadAllBytes(FilePath("baseline.jpg"));
        var first = ImageDecoder.Decode(bytes);
        Assert.AreEqual("<memory>", first.Source);
        var results = new ImageData[64];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = ImageDecoder.Decode(bytes, source: $"row {i}"));
        foreach (var r in results) CollectionAssert.AreEqual(first.Pixels, r.Pixels);
        // errors are per thread: a failure on one thread does not leak its message into another's success
        Parallel.For(0, 32, i =>
        {
            if (i % 2 == 0) Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Decode(new byte[] { 1, 2, 3 }, source: "junk"));
            else Assert.AreEqual(first.Width, ImageDecoder.Decode(bytes).Width);
        });
    }

    internal static (double Mean, int Max) Diff(byte[] a, byte[] b)
    {
        Assert.AreEqual(a.Length, b.Length, "pixel count");
        long sum = 0; int max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int d = Math.Abs(a[i] - b[i]);
            sum += d; max = Math.Max(max, d);
        }
        return ((double)sum / a.Length, max);
    }
}
