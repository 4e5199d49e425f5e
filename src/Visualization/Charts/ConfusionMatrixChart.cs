using System.Globalization;
using MLNet.Attention.Trainers;

namespace MLNet.Attention.Visualization;

/// <summary>
/// A confusion-matrix heatmap: rows are the true classes, columns the predicted ones, each cell shows its count and is
/// coloured by the fraction of its row (so rare and common classes read alike); per-class recall at the right, a
/// colour bar, and the overall accuracy in the title line.
/// </summary>
public static class ConfusionMatrixChart
{
    /// <summary>The heatmap of an evaluation's confusion matrix.</summary>
    public static Picture Create(ConfusionMatrix matrix, string? title = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        var counts = matrix.Counts.Select(r => r.ToArray()).ToArray();
        return Create(counts, matrix.ClassNames, title, scale);
    }

    /// <summary>The heatmap of <paramref name="counts"/>[truth][predicted] with <paramref name="classNames"/>.</summary>
    /// <exception cref="ArgumentException">The matrix is empty, not square, does not match the names, or holds a negative or non-finite count.</exception>
    public static Picture Create(IReadOnlyList<IReadOnlyList<double>> counts, IReadOnlyList<string> classNames, string? title = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(classNames);
        int k = counts.Count;
        if (k == 0) throw new ArgumentException("the confusion matrix is empty", nameof(counts));
        if (classNames.Count != k) throw new ArgumentException($"{classNames.Count} class names for a {k}x{k} matrix", nameof(classNames));
        for (int t = 0; t < k; t++)
        {
            if (counts[t].Count != k) throw new ArgumentException($"row {t} has {counts[t].Count} counts; the matrix must be {k}x{k}", nameof(counts));
            foreach (var c in counts[t])
                if (!double.IsFinite(c) || c < 0) throw new ArgumentException($"row {t} holds the count {c}; counts must be finite and >= 0", nameof(counts));
        }

        var names = classNames.Select(n => ChartKit.Clip(n, 16)).ToArray();
        double cell = k <= 12 ? 44 : Math.Max(14, 520.0 / k);
        double labelW = names.Max(n => Surface.Measure(n)) + 12;
        double left = 28 + labelW, top = 52, grid = cell * k;
        double bottom = top + grid + labelW + 20;
        double width = left + grid + 70 + 80;
        var s = new Surface(width, bottom + 8, scale);

        double total = counts.Sum(r => r.Sum()), correct = Enumerable.Range(0, k).Sum(i => counts[i][i]);
        string head = title ?? "Confusion matrix";
        s.Text(width / 2, 24, head, 20, anchor: TextAnchor.Middle, bold: true, cls: "title");
        if (total > 0)
            s.Text(width / 2, 42, string.Create(CultureInfo.InvariantCulture, $"{total:0} images, accuracy {100 * correct / total:F2}%"), 10,
                ChartKit.Muted, TextAnchor.Middle, cls: "subtitle");

        var cmap = Colormap.Blues;
        bool showCounts = cell >= 24;
        for (int t = 0; t < k; t++)
        {
            double rowSum = counts[t].Sum();
            for (int p = 0; p < k; p++)
            {
                double v = counts[t][p], frac = rowSum > 0 ? v / rowSum : 0;
                var color = cmap.Map(frac);
                string tip = string.Create(CultureInfo.InvariantCulture, $"true {classNames[t]}, predicted {classNames[p]}: {v:0} ({100 * frac:F1}% of the row)");
                s.Rect(left + p * cell, top + t * cell, cell, cell, color, null, cls: "cell", tooltip: tip);
                if (showCounts)
                {
                    var ink = color.Luminance < 0.5 ? Rgba.White : ChartKit.Ink;
                    s.Text(left + p * cell + cell / 2, Surface.Middle(top + t * cell + cell / 2), v.ToString("0", CultureInfo.InvariantCulture), 10,
                        ink, TextAnchor.Middle, bold: t == p, cls: "count");
                }
            }
            s.Text(left - 6, Surface.Middle(top + t * cell + cell / 2), names[t], 10, ChartKit.Ink, TextAnchor.End, cls: "row-label");
            double recall = rowSum > 0 ? counts[t][t] / rowSum : 0;
            s.Text(left + grid + 8, Surface.Middle(top + t * cell + cell / 2), string.Create(CultureInfo.InvariantCulture, $"{100 * recall:F1}%"), 10,
                ChartKit.Muted, cls: "recall");
        }
        for (int p = 0; p < k; p++)
            s.Text(left + p * cell + cell / 2 + 3.5, top + grid + 6, names[p], 10, ChartKit.Ink, TextAnchor.End, vertical: true, cls: "column-label");
        s.Rect(left, top, grid, grid, null, ChartKit.Frame, 1, cls: "frame");
        s.Text(left + grid / 2, bottom - 4, "predicted", 10, ChartKit.Ink, TextAnchor.Middle, bold: true, cls: "axis-label");
        s.Text(14, top + grid / 2, "true", 10, ChartKit.Ink, TextAnchor.Middle, vertical: true, bold: true, cls: "axis-label");
        s.Text(left + grid + 8, top - 6, "recall", 10, ChartKit.Muted, cls: "axis-label");

        // colour bar: fraction of the true class
        double bx = left + grid + 62, bw = 14;
        s.Image(bx, top, bw, grid, ChartKit.Colorbar(cmap), smooth: true, cls: "colorbar");
        s.Rect(bx, top, bw, grid, null, ChartKit.Frame, 1);
        foreach (var f in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            double ty = top + grid - f * grid;
            s.Line(bx + bw, ty, bx + bw + 3, ty, ChartKit.Frame);
            s.Text(bx + bw + 6, Surface.Middle(ty), string.Create(CultureInfo.InvariantCulture, $"{100 * f:0}%"), 10, ChartKit.Muted, cls: "tick-label");
        }
        return s.Picture;
    }
}
