using System.Globalization;

namespace MLNet.Attention.Visualization;

/// <summary>Shared pieces of the charts: the palette, "nice" axis ticks, number formats, and a scaled drawing surface.</summary>
internal static class ChartKit
{
    /// <summary>matplotlib's tab10 palette.</summary>
    public static readonly Rgba[] Palette =
    {
        Rgba.Parse("#1f77b4"), Rgba.Parse("#ff7f0e"), Rgba.Parse("#2ca02c"), Rgba.Parse("#d62728"), Rgba.Parse("#9467bd"),
        Rgba.Parse("#8c564b"), Rgba.Parse("#e377c2"), Rgba.Parse("#7f7f7f"), Rgba.Parse("#bcbd22"), Rgba.Parse("#17becf"),
    };

    public static readonly Rgba Ink = Rgba.Parse("#222222");
    public static readonly Rgba Muted = Rgba.Parse("#555555");
    public static readonly Rgba Frame = Rgba.Parse("#b0b0b0");
    public static readonly Rgba Grid = Rgba.Parse("#e6e6e6");

    /// <summary>Ticks covering [lo, hi] with a step of 1, 2, 2.5 or 5 × 10^k, about <paramref name="count"/> of them.</summary>
    public static (double Lo, double Hi, double Step, double[] Ticks) NiceTicks(double lo, double hi, int count = 5)
    {
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) throw new ArgumentOutOfRangeException(nameof(lo), $"axis range [{lo}, {hi}] must be finite");
        if (hi < lo) (lo, hi) = (hi, lo);
        if (hi - lo < 1e-12) { double pad = Math.Abs(lo) > 1e-12 ? Math.Abs(lo) * 0.1 : 1; lo -= pad; hi += pad; }
        double raw = (hi - lo) / Math.Max(1, count);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw * 0.999);
        double nlo = Math.Floor(lo / step + 1e-9) * step, nhi = Math.Ceiling(hi / step - 1e-9) * step;
        int n = (int)Math.Round((nhi - nlo) / step);
        var ticks = Enumerable.Range(0, n + 1).Select(i => Math.Round(nlo + i * step, 12)).ToArray();
        return (nlo, nhi, step, ticks);
    }

    /// <summary>A tick label with as many decimals as the step needs.</summary>
    public static string Tick(double v, double step)
    {
        int decimals = 0;
        while (decimals < 6 && Math.Abs(step * Math.Pow(10, decimals) - Math.Round(step * Math.Pow(10, decimals))) > 1e-6) decimals++;
        return v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>A parameter count as "25.56 M", "702 K" or "930".</summary>
    public static string Count(long n) => n switch
    {
        >= 1_000_000 => (n / 1e6).ToString(n >= 100_000_000 ? "F0" : n >= 10_000_000 ? "F1" : "F2", CultureInfo.InvariantCulture) + " M",
        >= 1_000 => (n / 1e3).ToString(n >= 100_000 ? "F0" : "F1", CultureInfo.InvariantCulture) + " K",
        _ => n.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A duration in seconds as "0.8 s", "42 s", "12.5 min" or "1.6 h".</summary>
    public static string Seconds(double s) => s switch
    {
        < 10 => s.ToString("F1", CultureInfo.InvariantCulture) + " s",
        < 600 => s.ToString("F0", CultureInfo.InvariantCulture) + " s",
        < 7200 => (s / 60).ToString("F1", CultureInfo.InvariantCulture) + " min",
        _ => (s / 3600).ToString("F1", CultureInfo.InvariantCulture) + " h",
    };

    /// <summary><paramref name="text"/> cut to <paramref name="maxChars"/> characters with a trailing "..".</summary>
    public static string Clip(string text, int maxChars) => text.Length <= maxChars ? text : text[..Math.Max(1, maxChars - 2)] + "..";

    /// <summary>A vertical gradient of <paramref name="colormap"/>, 1 × 256 pixels, high values at the top (drawn scaled, smooth).</summary>
    public static Transforms.ImageData Colorbar(Colormap colormap)
    {
        var px = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
        {
            var c = colormap.Map((255 - i) / 255.0);
            px[i * 3] = c.R; px[i * 3 + 1] = c.G; px[i * 3 + 2] = c.B;
        }
        return new Transforms.ImageData(1, 256, 3, px);
    }

    public static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}

/// <summary>
/// A <see cref="Picture"/> drawn in logical units multiplied by an integer <see cref="S"/>: a chart laid out once renders
/// crisply at 1× or 2× (text sizes 10 and 20 stay pixel-exact in the bitmap font).
/// </summary>
internal sealed class Surface
{
    public Surface(double width, double height, int scale)
    {
        if (scale is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(scale), scale, "must be 1, 2, 3 or 4");
        S = scale;
        Picture = new Picture((int)Math.Ceiling(width * scale), (int)Math.Ceiling(height * scale));
    }

    public int S { get; }
    public Picture Picture { get; }

    public void Rect(double x, double y, double w, double h, Rgba? fill, Rgba? stroke = null, double strokeWidth = 1, string? cls = null, string? tooltip = null) =>
        Picture.Rect(x * S, y * S, w * S, h * S, fill, stroke, strokeWidth * S, cls, tooltip);

    public void Line(double x1, double y1, double x2, double y2, Rgba color, double width = 1, bool dashed = false, string? cls = null) =>
        Picture.Line(x1 * S, y1 * S, x2 * S, y2 * S, color, width * S, dashed, cls);

    public void Polyline(IEnumerable<(double X, double Y)> points, Rgba color, double width = 1, bool dashed = false, string? cls = null) =>
        Picture.Polyline(points.Select(p => (p.X * S, p.Y * S)).ToArray(), color, width * S, dashed, cls);

    public void Circle(double cx, double cy, double r, Rgba fill, string? cls = null) => Picture.Circle(cx * S, cy * S, r * S, fill, cls);

    public void Text(double x, double y, string text, double size = 10, Rgba? color = null, TextAnchor anchor = TextAnchor.Start, bool vertical = false,
        bool bold = false, string? cls = null) =>
        Picture.Text(x * S, y * S, text, size * S, color ?? ChartKit.Ink, anchor, vertical, bold, cls);

    public void Image(double x, double y, double w, double h, Transforms.ImageData image, bool smooth = false, string? cls = null) =>
        Picture.Image(x * S, y * S, w * S, h * S, image, smooth, cls);

    /// <summary>Text width in logical units.</summary>
    public static double Measure(string text, double size = 10) => BitmapFont.MeasureWidth(text, size);

    /// <summary>The baseline that centres text of <paramref name="size"/> vertically on <paramref name="y"/>.</summary>
    public static double Middle(double y, double size = 10) => y + BitmapFont.CapHeight(size) / 2;
}
