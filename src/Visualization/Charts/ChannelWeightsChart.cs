using System.Globalization;

namespace MLNet.Attention.Visualization;

/// <summary>A named row of per-channel weights (an SE block's gates, one PSA branch's share of each channel).</summary>
/// <param name="Label">What the weights are (e.g. "3x3, groups 1").</param>
/// <param name="Weights">One weight per channel.</param>
public sealed record ChannelWeightSeries(string Label, IReadOnlyList<float> Weights);

/// <summary>
/// Per-channel attention weights as a bar chart: one bar per channel with a y axis from 0 to 1. Several series are
/// drawn either stacked (PSA: the softmax shares of the four kernel branches of each channel sum to 1) or as one strip
/// per series (the same block on several images).
/// </summary>
public static class ChannelWeightsChart
{
    /// <summary>The chart of <paramref name="series"/> (all of the same channel count).</summary>
    /// <param name="series">One or more rows of weights.</param>
    /// <param name="title">The title line.</param>
    /// <param name="stacked">Stack the series in one bar per channel (their sums should not exceed 1) instead of one strip each.</param>
    /// <param name="subtitle">A second, smaller line under the title (null: none).</param>
    /// <param name="scale">Pixels per layout unit.</param>
    /// <exception cref="ArgumentException">There are no series, they differ in length, are empty, or hold a non-finite weight.</exception>
    public static Picture Create(IReadOnlyList<ChannelWeightSeries> series, string title, bool stacked = false, string? subtitle = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(title);
        if (series.Count == 0) throw new ArgumentException("no channel weights to draw", nameof(series));
        int c = series[0].Weights.Count;
        if (c == 0) throw new ArgumentException($"series '{series[0].Label}' has no channels", nameof(series));
        foreach (var se in series)
        {
            if (se.Weights.Count != c) throw new ArgumentException($"series '{se.Label}' has {se.Weights.Count} channels, the first has {c}", nameof(series));
            foreach (var w in se.Weights)
                if (!float.IsFinite(w)) throw new ArgumentException($"series '{se.Label}' holds the weight {w}", nameof(series));
        }
        double maxStack = stacked
            ? Enumerable.Range(0, c).Max(j => series.Sum(se => (double)se.Weights[j]))
            : series.Max(se => se.Weights.Max());
        double yhi = maxStack <= 1.0001 ? 1 : ChartKit.NiceTicks(0, maxStack, 4).Hi;

        int strips = stacked ? 1 : series.Count;
        double plotW = 720, stripH = stacked ? 200 : Math.Max(70, 220.0 / strips), gap = 14;
        double left = 62, top = subtitle is null ? 44 : 58;
        double legendH = stacked && series.Count > 1 ? 26 : 0;
        double height = top + strips * (stripH + gap) + 30 + legendH;
        double width = left + plotW + (stacked ? 20 : 150);
        width = Math.Max(width, Math.Max(Surface.Measure(title, 20), subtitle is null ? 0 : Surface.Measure(subtitle, 10)) + 24);   // a long title widens the picture
        var s = new Surface(width, height, scale);
        s.Text(width / 2, 26, title, 20, anchor: TextAnchor.Middle, bold: true, cls: "title");
        if (subtitle is not null) s.Text(width / 2, 44, subtitle, 10, ChartKit.Muted, TextAnchor.Middle, cls: "subtitle");

        double bw = plotW / c;
        for (int r = 0; r < strips; r++)
        {
            double y0 = top + r * (stripH + gap), y1 = y0 + stripH;
            double Y(double v) => y1 - v / yhi * stripH;
            var (_, _, step, ticks) = ChartKit.NiceTicks(0, yhi, stripH >= 150 ? 4 : 2);
            foreach (var t in ticks)
            {
                double ty = Math.Round(Y(t)) + 0.5;
                s.Line(left, ty, left + plotW, ty, ChartKit.Grid, 1, cls: "grid");
                s.Text(left - 6, Surface.Middle(ty), ChartKit.Tick(t, step), 10, ChartKit.Muted, TextAnchor.End, cls: "tick-label");
            }
            for (int j = 0; j < c; j++)
            {
                double acc = 0;
                var members = stacked ? series.Select((se, i) => (se, i)) : new[] { (se: series[r], i: r) };
                foreach (var (se, i) in members)
                {
                    double w = Math.Max(0, se.Weights[j]);
                    var color = stacked ? ChartKit.Palette[i % ChartKit.Palette.Length] : ChartKit.Palette[0];
                    double inset = bw >= 4 ? 0.5 : 0;
                    s.Rect(left + j * bw + inset, Y(acc + w), bw - 2 * inset, Y(acc) - Y(acc + w), color, null, cls: "bar",
                        tooltip: string.Create(CultureInfo.InvariantCulture, $"channel {j}, {se.Label}: {se.Weights[j]:F4}"));
                    acc += w;
                }
            }
            s.Rect(left, y0, plotW, stripH, null, ChartKit.Frame, 1, cls: "frame");
            if (!stacked) s.Text(left + plotW + 10, Surface.Middle(y0 + stripH / 2), ChartKit.Clip(series[r].Label, 22), 10, ChartKit.Ink, cls: "series-label");
        }
        double axisY = top + strips * (stripH + gap) - gap;
        var (_, _, cstep, cticks) = ChartKit.NiceTicks(0, c, Math.Min(8, c));
        foreach (var t in cticks.Where(t => t < c))
        {
            double tx = left + (t + 0.5) * bw;
            s.Line(tx, axisY, tx, axisY + 4, ChartKit.Frame, 1, cls: "tick");
            s.Text(tx, axisY + 16, ChartKit.Tick(t, cstep), 10, ChartKit.Muted, TextAnchor.Middle, cls: "tick-label");
        }
        s.Text(left + plotW / 2, axisY + 30, $"channel ({c})", 10, ChartKit.Ink, TextAnchor.Middle, cls: "axis-label");
        s.Text(16, top + (axisY - top) / 2, "weight", 10, ChartKit.Ink, TextAnchor.Middle, vertical: true, cls: "axis-label");
        if (legendH > 0)
        {
            double lx = left, ly = axisY + 44;
            for (int i = 0; i < series.Count; i++)
            {
                s.Rect(lx, ly - 8, 10, 10, ChartKit.Palette[i % ChartKit.Palette.Length], null, cls: "legend-swatch");
                s.Text(lx + 15, ly, series[i].Label, 10, ChartKit.Ink, cls: "legend-label");
                lx += 15 + Surface.Measure(series[i].Label) + 22;
            }
        }
        return s.Picture;
    }
}
