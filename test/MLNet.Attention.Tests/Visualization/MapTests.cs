using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;
using MLNet.Attention.Visualization;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Tests.Visualization;

/// <summary>Colormaps, bilinear resampling and overlays against hand-computed values (and libtorch's interpolate).</summary>
[TestClass]
public sealed class MapTests
{
    private static void Close((double R, double G, double B) expected, (double R, double G, double B) actual, double tol, string what)
    {
        Assert.AreEqual(expected.R, actual.R, tol, $"{what}: red");
        Assert.AreEqual(expected.G, actual.G, tol, $"{what}: green");
        Assert.AreEqual(expected.B, actual.B, tol, $"{what}: blue");
    }

    [TestMethod]
    public void JetFollowsMatplotlibsSegments()
    {
        var jet = Colormap.Jet;
        Close((0, 0, 0.5), jet.Evaluate(0), 1e-12, "jet(0)");
        Close((0.5, 0, 0), jet.Evaluate(1), 1e-12, "jet(1)");
        // 0.5: red on (0.35, 0) → (0.66, 1); green flat at 1; blue on (0.34, 1) → (0.65, 0)
        Close((0.15 / 0.31, 1, 1 - 0.16 / 0.31), jet.Evaluate(0.5), 1e-12, "jet(0.5)");
        // 0.25: red 0; green on (0.125, 0) → (0.375, 1) = 0.5; blue 1
        Close((0, 0.5, 1), jet.Evaluate(0.25), 1e-12, "jet(0.25)");
        // 0.8: red 1; green on (0.64, 1) → (0.91, 0) = 1 - 0.16/0.27; blue 0
        Close((1, 1 - 0.16 / 0.27, 0), jet.Evaluate(0.8), 1e-12, "jet(0.8)");
        Close(jet.Evaluate(0), jet.Evaluate(-3), 0, "clamped below");
        Close(jet.Evaluate(1), jet.Evaluate(7), 0, "clamped above");
        Close(jet.Evaluate(0), jet.Evaluate(double.NaN), 0, "NaN is the lowest colour");
        Assert.AreEqual(new Rgba(0, 0, 128), jet.Map(0));
    }

    [TestMethod]
    public void ViridisHitsMatplotlibsTableEntries()
    {
        var v = Colormap.Viridis;
        Close((0.267004, 0.004874, 0.329415), v.Evaluate(0), 1e-9, "entry 0");
        Close((0.993248, 0.906157, 0.143936), v.Evaluate(1), 1e-9, "entry 255");
        Close((0.127568, 0.566949, 0.550556), v.Evaluate(128 / 255.0), 1e-9, "entry 128");
        // between entries 128 and 136, a quarter of the way: linear
        var a = (0.127568, 0.566949, 0.550556);
        var b = (0.120565, 0.596422, 0.543611);
        Close((a.Item1 + (b.Item1 - a.Item1) * 0.25, a.Item2 + (b.Item2 - a.Item2) * 0.25, a.Item3 + (b.Item3 - a.Item3) * 0.25), v.Evaluate(130 / 255.0), 1e-9, "130");
        // matplotlib's entry 100 (not one of the control points) within 2/255
        Close((0.166617, 0.463708, 0.558119), v.Evaluate(100 / 255.0), 2 / 255.0, "entry 100");
        Assert.AreSame(Colormap.Viridis, Colormap.FromName(" VIRIDIS "));
        Assert.ThrowsExactly<ArgumentException>(() => Colormap.FromName("rainbow"));
        Assert.AreEqual(Rgba.Parse("#08306b"), Colormap.Blues.Map(1));
        Assert.AreEqual(new Rgba(128, 128, 128), Colormap.Gray.Map(0.5));
    }

    [TestMethod]
    public void BilinearResizeMatchesHandComputedValues()
    {
        // 1x2 → 1x4: source x = (x + 0.5) / 2 - 0.5 → -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the edge)
        var row = new Heatmap(2, 1, new float[] { 0, 1 }).Resize(4, 1).ToArray();
        CollectionAssert.AreEqual(new float[] { 0, 0.25f, 0.75f, 1 }, row);
        // 2x2 → 3x3: centres at 1/6, 1/2, 5/6 of the source → -1/6 (0), 0.5, 7/6 (1)
        var m = new Heatmap(2, 2, new float[] { 0, 1, 2, 3 }).Resize(3, 3).ToArray();
        var expected = new float[] { 0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3 };
        for (int i = 0; i < 9; i++) Assert.AreEqual(expected[i], m[i], 1e-6f, $"cell {i}");
        // down-sampling 4 → 2 averages pairs: centres at source 0.5 and 2.5
        CollectionAssert.AreEqual(new float[] { 0.5f, 2.5f }, new Heatmap(4, 1, new float[] { 0, 1, 2, 3 }).Resize(2, 1).ToArray());
    }

    [TestMethod]
    public void BilinearResizeEqualsLibtorchInterpolateWithoutAlignCorners()
    {
        var rnd = new Random(5);
        var values = Enumerable.Range(0, 3 * 5).Select(_ => (float)rnd.NextDouble()).ToArray();
        foreach (var (h, w) in new[] { (7, 11), (28, 28), (2, 3), (3, 5) })
        {
            var ours = new Heatmap(5, 3, values).Resize(w, h).ToArray();
            using var t = Tensor.FromArray<float>(values, new long[] { 1, 1, 3, 5 });
            using var r = F.Interpolate(t, h, w, InterpolationMode.Bilinear, alignCorners: false);
            var theirs = r.ToArray<float>();
            for (int i = 0; i < ours.Length; i++) Assert.AreEqual(theirs[i], ours[i], 1e-6f, $"{h}x{w} at {i}");
        }
    }

    [TestMethod]
    public void NormalizedScalesToUnitRangeAndConstantMapsToZero()
    {
        CollectionAssert.AreEqual(new float[] { 0, 0.5f, 1, 0.25f }, new Heatmap(2, 2, new float[] { 2, 4, 6, 3 }).Normalized().ToArray());
        CollectionAssert.AreEqual(new float[4], new Heatmap(2, 2, new float[] { 5, 5, 5, 5 }).Normalized().ToArray());
        var h = new Heatmap(3, 2, new float[] { 0, 9, 1, 2, 3, 9 });
        Assert.AreEqual((0, 1), h.ArgMax(), "first of the ties");
        Assert.ThrowsExactly<ArgumentException>(() => new Heatmap(2, 2, new float[3]));
    }

    [TestMethod]
    public void OverlayBlendsColormapAndImage()
    {
        var gray = ImageData.Create(4, 4, 1, 100);
        // constant map → normalised to 0 → jet(0) = (0, 0, 0.5): 0.5·colour + 0.5·100
        var flat = Overlay.Blend(gray, new Heatmap(2, 2, new float[] { 7, 7, 7, 7 }), Colormap.Jet, 0.5);
        Assert.AreEqual(3, flat.Channels);
        Assert.AreEqual((50, 50, 114), (flat[0, 0, 0], flat[0, 0, 1], flat[0, 0, 2]));
        // a peak in the top-left cell: that corner is red-ish, the opposite corner blue
        var peak = Overlay.Blend(gray, new Heatmap(2, 2, new float[] { 1, 0, 0, 0 }), Colormap.Jet, 1.0, 8, 8);
        Assert.AreEqual(8, peak.Width);
        Assert.AreEqual((128, 0, 0), (peak[0, 0, 0], peak[0, 0, 1], peak[0, 0, 2]), "jet(1), alpha 1");
        Assert.AreEqual((0, 0, 128), (peak[7, 7, 0], peak[7, 7, 1], peak[7, 7, 2]), "jet(0)");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Overlay.Blend(gray, new Heatmap(1, 1, new float[] { 0 }), alpha: 1.5));
    }

    [TestMethod]
    public void FromPixelsStretchesNetworkInputToBytes()
    {
        var img = Overlay.FromPixels(new float[] { -1, 0, 1, 3 }, 1, 2, 2);
        CollectionAssert.AreEqual(new byte[] { 0, 64, 128, 255 }, img.Pixels);
        var rgb = Overlay.FromPixels(new float[] { 0, 1, 0, 1, 0, 1 }, 3, 1, 2);
        CollectionAssert.AreEqual(new byte[] { 0, 0, 0, 255, 255, 255 }, rgb.Pixels, "planar CHW becomes interleaved HWC");
        Assert.ThrowsExactly<ArgumentException>(() => Overlay.FromPixels(new float[5], 1, 2, 2));
        Assert.ThrowsExactly<ArgumentException>(() => Overlay.FromPixels(new float[8], 2, 2, 2));
        ChartTests.AssertPng(Overlay.Create(img, new Heatmap(2, 2, new float[] { 0, 1, 0.5f, 0 }), "cam", size: 64), "overlay picture");
    }
}
