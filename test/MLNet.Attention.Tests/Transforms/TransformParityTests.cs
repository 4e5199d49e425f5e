using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>Image transforms against torchvision 0.14 on the same inputs (test/reference/make_image_fixtures.py).</summary>
[TestClass]
public sealed class TransformParityTests
{
    private static Tensor Ref(string name) => Fixtures.Load(ImageDecoderTests.Reference)[name];

    /// <summary>A uint8 CHW tensor as an HWC <see cref="ImageData"/>.</summary>
    internal static ImageData FromChw(Tensor t)
    {
        var s = t.Shape;
        int c = (int)s[0], h = (int)s[1], w = (int)s[2];
        var chw = t.ToArray<byte>();
        var hwc = new byte[chw.Length];
        for (int k = 0; k < c; k++)
            for (int i = 0; i < h * w; i++) hwc[i * c + k] = chw[k * h * w + i];
        return new ImageData(w, h, c, hwc);
    }

    /// <summary>Asserts an image equals a uint8 CHW reference within <paramref name="maxDiff"/> levels and returns
    /// the largest difference.</summary>
    internal static int AssertImage(Tensor expected, ImageData actual, int maxDiff, string what)
    {
        var e = FromChw(expected);
        Assert.AreEqual((e.Width, e.Height, e.Channels), (actual.Width, actual.Height, actual.Channels), $"{what}: shape");
        int max = 0, differing = 0;
        for (int i = 0; i < e.Pixels.Length; i++)
        {
            int d = Math.Abs(e.Pixels[i] - actual.Pixels[i]);
            if (d > 0) differing++;
            max = Math.Max(max, d);
        }
        Assert.IsTrue(max <= maxDiff, $"{what}: max difference {max} > {maxDiff} ({differing} of {e.Pixels.Length} samples differ)");
        return max;
    }

    [TestMethod]
    [DataRow("down", "src", 19, 24)]
    [DataRow("down_odd", "src", 13, 31)]
    [DataRow("up", "src", 70, 97)]
    [DataRow("mixed", "src", 60, 20)]
    [DataRow("same", "src", 41, 53)]
    [DataRow("big_down", "big", 37, 49)]
    [DataRow("big_down_224", "big", 100, 224)]
    [DataRow("big_thumb", "big", 7, 9)]
    [DataRow("gray", "gray", 17, 29)]
    public void ResizeMatchesTorchvisionAntialiasedBilinear(string name, string input, int h, int w)
    {
        var x = FromChw(Ref($"resize/{input}/x"));
        var y = new ResizeImages(w, h, ResizingKind.Fill).Transform(x);
        AssertImage(Ref($"resize/{name}/y"), y, 1, $"resize/{name}");
    }

    [TestMethod]
    public void ResizeOfFloatImagesMatchesTorchvision()
    {
        var x = Ref("resize/float/x");
        var y = Resampler.ResizePlanar(x.ToArray<float>(), 3, 23, 31, 11, 40);
        using var actual = Tensor.FromArray(y, 3, 11, 40);
        Fixtures.AssertClose(Ref("resize/float/y"), actual, 1e-5, "resize/float");
    }

    [TestMethod]
    public void ShorterSideMatchesTorchvisionResizeInt()
    {
        var x = FromChw(Ref("resize/big/x"));
        var t = ResizeImages.ShorterSide(64);
        Assert.AreEqual((86, 64), t.OutputSize(211, 157));
        AssertImage(Ref("resize/shorter/y"), t.Transform(x), 1, "resize/shorter");
    }

    [TestMethod]
    public void CropsMatchTorchvision()
    {
        var x = FromChw(Ref("resize/src/x"));
        AssertImage(Ref("crop/resized_crop/y"), Resampler.Resize(x, 7, 5, 40, 30, 24, 24), 1, "resized_crop");
        AssertImage(Ref("crop/resized_crop_up/y"), Resampler.Resize(x, 3, 10, 9, 12, 28, 32), 1, "resized_crop_up");
        AssertImage(Ref("crop/center/y"), new CenterCrop(31, 20).Transform(x), 0, "center");
        AssertImage(Ref("crop/center_odd/y"), new CenterCrop(18, 17).Transform(x), 0, "center_odd");
        AssertImage(Ref("crop/center_pad/y"), new CenterCrop(60, 50).Transform(x), 0, "center_pad");
    }

    [TestMethod]
    public void ColorFunctionsMatchTorchvision()
    {
        var x = FromChw(Ref("resize/src/x"));
        AssertImage(Ref("gray/y"), new ConvertToGrayscale().Transform(x), 0, "rgb_to_grayscale");
        foreach (var f in new[] { 0.0, 0.6, 1.4 }) AssertImage(Ref($"jitter/brightness_{F(f)}/y"), ColorJitter.AdjustBrightness(x, f), 0, $"brightness {f}");
        // contrast blends with a float mean that torch sums in another order: at most one level apart
        foreach (var f in new[] { 0.5, 1.7 }) AssertImage(Ref($"jitter/contrast_{F(f)}/y"), ColorJitter.AdjustContrast(x, f), 1, $"contrast {f}");
        foreach (var f in new[] { 0.0, 0.4, 1.8 }) AssertImage(Ref($"jitter/saturation_{F(f)}/y"), ColorJitter.AdjustSaturation(x, f), 0, $"saturation {f}");
        foreach (var f in new[] { -0.3, 0.1, 0.45 }) AssertImage(Ref($"jitter/hue_{F(f)}/y"), ColorJitter.AdjustHue(x, f), 1, $"hue {f}");
    }

    private static string F(double f) => f.ToString("0.0###", System.Globalization.CultureInfo.InvariantCulture);

    [TestMethod]
    public void ToTensorAndNormalizeMatchTorchvision()
    {
        var x = FromChw(Ref("resize/src/x"));
        var f = ExtractPixels.ToTensor().Extract(x);
        using (var t = Tensor.FromArray(f.ToArray(), 3, 41, 53))
            Fixtures.AssertClose(Ref("normalize/x"), t, 0, "ToTensor");
        NormalizeImage.ImageNet.Transform(f);
        using var n = Tensor.FromArray(f.ToArray(), 3, 41, 53);
        Fixtures.AssertClose(Ref("normalize/y"), n, 1e-6, "Normalize");
    }
}
