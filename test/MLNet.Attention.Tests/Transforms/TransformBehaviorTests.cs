using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>What the transforms do beyond torchvision parity: ML.NET's resizing kinds and anchors, pixel extraction
/// options, and the seeded, training-only augmentations.</summary>
[TestClass]
public sealed class TransformBehaviorTests
{
    private static readonly ImageData Src = TestImages.Synth(53, 41, 3, 11);

    [TestMethod]
    public void IsoCropKeepsTheAnchoredPartAndResizesIt()
    {
        // 53x41 into 20x20: the crop is the 41x41 square, placed by the anchor, then resized (torchvision's resized_crop).
        foreach (var (anchor, x0) in new[] { (Anchor.Left, 0), (Anchor.Center, 6), (Anchor.Right, 12), (Anchor.Top, 6), (Anchor.Bottom, 6) })
        {
            var y = new ResizeImages(20, 20, ResizingKind.IsoCrop, anchor).Transform(Src);
            CollectionAssert.AreEqual(Resampler.Resize(Src, x0, 0, 41, 41, 20, 20).Pixels, y.Pixels, anchor.ToString());
        }
        // Taller target: 53x41 into 10x30 keeps a 14x41 strip (41 * 10 / 30 = 13.67 -> 14).
        var tall = new ResizeImages(10, 30, ResizingKind.IsoCrop, Anchor.Right).Transform(Src);
        CollectionAssert.AreEqual(Resampler.Resize(Src, 39, 0, 14, 41, 10, 30).Pixels, tall.Pixels);
        var top = new ResizeImages(53, 20, ResizingKind.IsoCrop, Anchor.Top).Transform(Src);
        CollectionAssert.AreEqual(Resampler.Resize(Src, 0, 0, 53, 20, 53, 20).Pixels, top.Pixels, "a 53x20 box from the top, unscaled");
        var bottom = new ResizeImages(53, 20, ResizingKind.IsoCrop, Anchor.Bottom).Transform(Src);
        CollectionAssert.AreEqual(Resampler.Resize(Src, 0, 21, 53, 20, 53, 20).Pixels, bottom.Pixels);
    }

    [TestMethod]
    public void IsoPadFitsTheImageAndPadsAtTheAnchor()
    {
        // 53x41 into 30x30: scale 30/53, the image becomes 30x23 and 7 rows of padding are shared 3 above, 4 below.
        var inner = Resampler.Resize(Src, 0, 0, 53, 41, 30, 23);
        foreach (var (anchor, top) in new[] { (Anchor.Center, 3), (Anchor.Top, 0), (Anchor.Bottom, 7) })
        {
            var y = new ResizeImages(30, 30, ResizingKind.IsoPad, anchor, padValue: 7).Transform(Src);
            Assert.AreEqual((30, 30, 3), (y.Width, y.Height, y.Channels));
            for (int row = 0; row < 30; row++)
                for (int x = 0; x < 30; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        bool inside = row >= top && row < top + 23;
                        Assert.AreEqual(inside ? inner[row - top, x, c] : (byte)7, y[row, x, c], $"{anchor} ({row}, {x}, {c})");
                    }
        }
    }

    [TestMethod]
    public void FillStretches()
    {
        var y = new ResizeImages(17, 9, ResizingKind.Fill).Transform(Src);
        CollectionAssert.AreEqual(Resampler.Resize(Src, 0, 0, 53, 41, 17, 9).Pixels, y.Pixels);
        CollectionAssert.AreEqual(Src.Pixels, new ResizeImages(53, 41, ResizingKind.Fill).Transform(Src).Pixels, "same size: unchanged");
    }

    [TestMethod]
    public void ExtractPixelsOptions()
    {
        var img = new ImageData(2, 1, 4, new byte[] { 10, 20, 30, 40, 50, 60, 70, 80 });   // RGBA, 2 pixels
        // ML.NET defaults: RGB planes, values as they are.
        CollectionAssert.AreEqual(new float[] { 10, 50, 20, 60, 30, 70 }, new ExtractPixels().Extract(img).ToArray());
        // BGR interleaved with offset and scale: (x - 10) * 0.5.
        var bgr = new ExtractPixels(ColorBits.Rgb, ColorsOrder.ABGR, interleavePixelColors: true, offsetImage: 10, scaleImage: 0.5f);
        CollectionAssert.AreEqual(new float[] { 10, 5, 0, 30, 25, 20 }, bgr.Extract(img).ToArray());
        // All four channels in ARGB order; alpha of an RGB image is 255.
        CollectionAssert.AreEqual(new float[] { 40, 80, 10, 50, 20, 60, 30, 70 }, new ExtractPixels(ColorBits.All).Extract(img).ToArray());
        var rgb = img.WithChannels(3);
        CollectionAssert.AreEqual(new float[] { 255, 255, 10, 50, 20, 60, 30, 70 }, new ExtractPixels(ColorBits.All).Extract(rgb).ToArray());
        // Gray images give one plane; only red and blue of a colour image give two.
        var gray = new ImageData(2, 1, 1, new byte[] { 0, 255 });
        CollectionAssert.AreEqual(new float[] { 0, 1 }, ExtractPixels.ToTensor().Extract(gray).ToArray());
        CollectionAssert.AreEqual(new float[] { 10, 50, 30, 70 }, new ExtractPixels(ColorBits.Red | ColorBits.Blue).Extract(img).ToArray());
        Assert.AreEqual(2, new ExtractPixels(ColorBits.Red | ColorBits.Blue).OutputChannels(3));
    }

    [TestMethod]
    public void GrayscaleKeepsAlphaAndCanReplicate()
    {
        var rgba = new ImageData(1, 1, 4, new byte[] { 200, 100, 50, 77 });
        byte g = (byte)(0.2989f * 200 + 0.587f * 100 + 0.114f * 50);
        CollectionAssert.AreEqual(new byte[] { g, 77 }, new ConvertToGrayscale().Transform(rgba).Pixels);
        CollectionAssert.AreEqual(new byte[] { g, g, g, 77 }, new ConvertToGrayscale(3).Transform(rgba).Pixels);
        var gray = new ImageData(1, 1, 1, new byte[] { 9 });
        Assert.AreSame(gray, new ConvertToGrayscale().Transform(gray));
    }

    [TestMethod]
    public void AugmentationsAreSeededAndOffInEvaluation()
    {
        var augs = new IImageTransform[]
        {
            new RandomResizedCrop(24, 20), new RandomCrop(40, 30, padding: 4), new RandomHorizontalFlip(1.0),
            new ColorJitter(0.5, 0.5, 0.5, 0.2),
        };
        foreach (var t in augs)
        {
            var a = t.Transform(Src, new Random(5));
            var b = t.Transform(Src, new Random(5));
            CollectionAssert.AreEqual(a.Pixels, b.Pixels, $"{t}: same seed, same result");
            var e1 = t.Transform(Src);
            var e2 = t.Transform(Src);
            CollectionAssert.AreEqual(e1.Pixels, e2.Pixels, $"{t}: evaluation is deterministic");
            Assert.AreEqual((a.Width, a.Height), (e1.Width, e1.Height), $"{t}: the same output size in training and evaluation");
        }
        Assert.AreSame(Src, new RandomHorizontalFlip().Transform(Src));
        Assert.AreSame(Src, new ColorJitter(0.4, 0.4, 0.4, 0.1).Transform(Src));
        // evaluation RandomCrop = CenterCrop; evaluation RandomResizedCrop = the whole image (ratio 53/41 is within 3/4..4/3)
        CollectionAssert.AreEqual(new CenterCrop(40, 30).Transform(Src).Pixels, new RandomCrop(40, 30, padding: 4).Transform(Src).Pixels);
        CollectionAssert.AreEqual(Resampler.Resize(Src, 0, 0, 53, 41, 24, 20).Pixels, new RandomResizedCrop(24, 20).Transform(Src).Pixels);
    }

    [TestMethod]
    public void RandomResizedCropDrawsBoxesWithinItsRanges()
    {
        var t = new RandomResizedCrop(16, 16, scale: (0.25, 0.5), ratio: (0.5, 2.0));
        var rng = new Random(1);
        var tops = new HashSet<int>();
        for (int i = 0; i < 500; i++)
        {
            var (top, left, h, w) = t.GetParams(200, 100, rng);
            Assert.IsTrue(top >= 0 && left >= 0 && top + h <= 100 && left + w <= 200, $"box {top},{left},{h},{w} inside");
            double area = (double)h * w / 20000, ratio = (double)w / h;
            Assert.IsTrue(area > 0.23 && area < 0.52, $"area fraction {area}");
            Assert.IsTrue(ratio > 0.45 && ratio < 2.2, $"aspect ratio {ratio}");
            tops.Add(top);
        }
        Assert.IsTrue(tops.Count > 20, "positions vary");
        // Impossible ratios fall back to the centred crop with the ratio clamped (torchvision's fallback).
        Assert.AreEqual((0, 25, 100, 150), new RandomResizedCrop(8, 8, ratio: (1.5, 1.5), scale: (1, 1)).GetParams(200, 100, null));
    }

    [TestMethod]
    public void RandomCropPadsAndFlipFlipsAtTheirRates()
    {
        var img = ImageData.Create(8, 8, 1, 200);
        var crop = new RandomCrop(8, 8, padding: 2, fill: 0);
        var rng = new Random(3);
        int padded = 0, flips = 0;
        var flip = new RandomHorizontalFlip(0.3);
        var asym = TestImages.Synth(9, 4, 3, 1);
        for (int i = 0; i < 400; i++)
        {
            var y = crop.Transform(img, rng);
            Assert.AreEqual((8, 8), (y.Width, y.Height));
            if (y.Pixels.Contains((byte)0)) padded++;
            if (!flip.Transform(asym, rng).Pixels.AsSpan().SequenceEqual(asym.Pixels)) flips++;
        }
        Assert.IsTrue(padded > 300, $"{padded} of 400 crops include padding (1 in 25 positions has none)");
        Assert.IsTrue(flips is > 80 and < 160, $"{flips} flips of 400 at p = 0.3");
        var f = RandomHorizontalFlip.Flip(asym);
        for (int x = 0; x < 9; x++) Assert.AreEqual(asym[2, x, 1], f[2, 8 - x, 1]);
        Assert.ThrowsExactly<ArgumentException>(() => new RandomCrop(20, 20).Transform(img, new Random(1)));
        Assert.AreEqual((20, 20), (new RandomCrop(20, 20, padIfNeeded: true).Transform(img, new Random(1)).Width, 20));
    }

    [TestMethod]
    public void ColorJitterStaysWithinItsFactorRanges()
    {
        var gray = ImageData.Create(4, 4, 3, 100);
        var brightness = new ColorJitter(brightness: 0.5);
        var rng = new Random(9);
        var seen = new HashSet<byte>();
        for (int i = 0; i < 200; i++)
        {
            byte v = brightness.Transform(gray, rng).Pixels[0];
            Assert.IsTrue(v is >= 50 and <= 150, $"100 x factor in [0.5, 1.5] gave {v}");
            seen.Add(v);
        }
        Assert.IsTrue(seen.Count > 50, "factors vary");
        // saturation and hue leave one-channel images alone (as torchvision and Pillow do)
        var one = TestImages.Synth(6, 5, 1, 3);
        var other = new ColorJitter(0, 0, 0.9, 0.5);
        for (int i = 0; i < 20; i++) CollectionAssert.AreEqual(one.Pixels, other.Transform(one, rng).Pixels);
    }

    [TestMethod]
    public void RandomErasingErasesABoxOfTheRightSize()
    {
        var erasing = new RandomErasing(p: 1.0, value: new[] { -1f, -2f, -3f });
        var rng = new Random(4);
        for (int i = 0; i < 50; i++)
        {
            var f = new FloatImage(3, 40, 50);
            f.Span.Fill(0.5f);
            erasing.Transform(f, rng);
            int erased = 0;
            for (int y = 0; y < 40; y++)
                for (int x = 0; x < 50; x++)
                    if (f[0, y, x] == -1f) { erased++; Assert.AreEqual(-3f, f[2, y, x]); }
            Assert.IsTrue(erased is > 0 and < 2000, $"{erased} pixels erased");
            Assert.IsTrue(erased >= 0.015 * 2000 && erased <= 0.36 * 2000, $"area {erased} outside scale 0.02..0.33");
        }
        var never = new RandomErasing(p: 0);
        var g = new FloatImage(1, 5, 5);
        Assert.IsTrue(never.Transform(g, rng).ToArray().All(v => v == 0));
        var noise = new RandomErasing(p: 1, randomValue: true);
        var h = new FloatImage(1, 30, 30);
        noise.Transform(h, new Random(2));
        Assert.IsTrue(h.ToArray().Any(v => v != 0), "random normal values");
        var untouched = new FloatImage(1, 30, 30);
        new RandomErasing(p: 1).Transform(untouched);
        Assert.IsTrue(untouched.ToArray().All(v => v == 0), "no random source, no erasing");
    }

    [TestMethod]
    public void LoadImagesAndLoadRawImageBytesResolveAgainstTheirFolder()
    {
        using var dir = new TempDir("load");
        var bytes = TestImages.Png(7, 5, 3, 2);
        dir.Write("pics/a.png", bytes);
        var load = new LoadImages(dir["pics"], channels: 1);
        var img = load.Load("a.png");
        Assert.AreEqual((7, 5, 1), (img.Width, img.Height, img.Channels));
        Assert.AreEqual(dir["pics/a.png"], img.Source);
        CollectionAssert.AreEqual(bytes, new LoadRawImageBytes(dir["pics"]).Load("a.png"));
        CollectionAssert.AreEqual(bytes, new LoadRawImageBytes().Load(dir["pics/a.png"]), "absolute paths ignore the folder");
        var e = Assert.ThrowsExactly<ImageDataException>(() => new LoadRawImageBytes(dir["pics"]).Load("b.png"));
        Assert.AreEqual(BadInputKind.Missing, e.Kind);
        StringAssert.Contains(e.Message, dir["pics/b.png"]);
    }

    [TestMethod]
    public void PipelinePresetsAndShapes()
    {
        var train = ImagePipeline.ImageNetTraining(32);
        var eval = ImagePipeline.ImageNetEvaluation(32, 40);
        Assert.AreEqual((3, 32, 32), eval.OutputShape(53, 41, 3));
        var a = train.Run(Src, new Random(1));
        var b = eval.Run(Src);
        Assert.AreEqual((3, 32, 32), (a.Channels, a.Height, a.Width));
        Assert.AreEqual((3, 32, 32), (b.Channels, b.Height, b.Width));
        var fm = ImagePipeline.FashionMnist().Run(ImageData.Create(28, 28, 1, 0));
        Assert.AreEqual(-0.2860f / 0.3530f, fm[0, 0, 0], 1e-6);
        var e = Assert.ThrowsExactly<ImageDataException>(() => eval.RunInto(Src, null, new float[3 * 16 * 16], 3, 16, 16));
        Assert.AreEqual(BadInputKind.ShapeMismatch, e.Kind);
    }
}
