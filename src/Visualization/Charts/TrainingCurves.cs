using MLNet.Attention.Trainers;

namespace MLNet.Attention.Visualization;

/// <summary>One point of a training curve: an epoch's training and (optional) validation loss and accuracy.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="TrainLoss">Training loss.</param>
/// <param name="TrainAccuracy">Training accuracy in [0, 1].</param>
/// <param name="ValidationLoss">Validation loss, or null.</param>
/// <param name="ValidationAccuracy">Validation accuracy in [0, 1], or null.</param>
public sealed record CurvePoint(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss = null, double? ValidationAccuracy = null);

/// <summary>Training curves: loss and accuracy per epoch, training and validation, side by side.</summary>
public static class TrainingCurves
{
    /// <summary>The curves of a training run's <see cref="TrainingResult.History"/> (or the metrics a callback collected).</summary>
    /// <param name="history">One entry per epoch, in order.</param>
    /// <param name="title">The title line (null: "Training curves").</param>
    /// <param name="scale">Pixels per layout unit (1 or 2; 2 for high-density screens and the README).</param>
    /// <exception cref="ArgumentException">The history is empty or holds a non-finite value.</exception>
    public static Picture Create(IReadOnlyList<EpochMetrics> history, string? title = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(history);
        return Create(history.Select(m => new CurvePoint(m.Epoch, m.TrainLoss, m.TrainAccuracy, m.ValidationLoss, m.ValidationAccuracy)).ToList(), title, scale);
    }

    /// <summary>The curves of <paramref name="points"/> (one per epoch).</summary>
    /// <exception cref="ArgumentException">There are no points or one holds a non-finite value.</exception>
    public static Picture Create(IReadOnlyList<CurvePoint> points, string? title = null, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0) throw new ArgumentException("the training history is empty: nothing to plot", nameof(points));
        foreach (var p in points)
            if (!double.IsFinite(p.TrainLoss) || !double.IsFinite(p.TrainAccuracy) || p.ValidationLoss is { } vl && !double.IsFinite(vl)
                || p.ValidationAccuracy is { } va && !double.IsFinite(va))
                throw new ArgumentException($"epoch {p.Epoch} holds a non-finite loss or accuracy", nameof(points));

        const double panelW = 440, panelH = 300, top = 44, width = 2 * panelW + 20;
        var s = new Surface(width, top + panelH + 10, scale);
        s.Text(width / 2, 26, title ?? "Training curves", 20, anchor: TextAnchor.Middle, bold: true, cls: "title");
        var epochs = points.Select(p => (double)p.Epoch).ToArray();
        Panel(s, 10, top, panelW, panelH, "loss", epochs,
            points.Select(p => p.TrainLoss).ToArray(), points.Select(p => p.ValidationLoss).ToArray(), percent: false);
        Panel(s, 10 + panelW + 10, top, panelW, panelH, "accuracy (%)", epochs,
            points.Select(p => 100 * p.TrainAccuracy).ToArray(), points.Select(p => p.ValidationAccuracy * 100).ToArray(), percent: true);
        return s.Picture;
    }

    private static void Panel(Surface s, double x, double y, double w, double h, string label, double[] epochs, double[] train, double?[] validation, bool percent)
    {
        double left = x + 58, right = x + w - 12, top = y + 8, bottom = y + h - 44;
        var values = train.Concat(validation.Where(v => v.HasValue).Select(v => v!.Value)).ToArray();
        double lo = values.Min(), hi = values.Max();
        if (percent) hi = Math.Min(100, hi + (hi - lo) * 0.05 + 1e-9);
        else lo = Math.Min(lo, 0);
        var (ylo, yhi, ystep, yticks) = ChartKit.NiceTicks(lo, hi, 5);
        double xlo = epochs.Min(), xhi = epochs.Max();
        if (xhi - xlo < 1) { xlo -= 0.5; xhi += 0.5; }
        double pad = (xhi - xlo) * 0.04;
        xlo -= pad; xhi += pad;
        double X(double e) => left + (e - xlo) / (xhi - xlo) * (right - left);
        double Y(double v) => bottom - (v - ylo) / (yhi - ylo) * (bottom - top);

        s.Rect(left, top, right - left, bottom - top, Rgba.White, null, cls: "plot-area");
        foreach (var t in yticks)
        {
            double ty = Math.Round(Y(t)) + 0.5;
            s.Line(left, ty, right, ty, ChartKit.Grid, 1, cls: "grid");
            s.Line(left - 4, ty, left, ty, ChartKit.Frame, 1, cls: "tick");
            s.Text(left - 7, Surface.Middle(ty), ChartKit.Tick(t, ystep), 10, ChartKit.Muted, TextAnchor.End, cls: "tick-label");
        }
        var (_, _, xstep, _) = ChartKit.NiceTicks(Math.Ceiling(epochs.Min()), epochs.Max(), Math.Min(8, epochs.Length));
        xstep = Math.Max(1, Math.Round(xstep));
        for (double e = Math.Ceiling(epochs.Min()); e <= epochs.Max() + 1e-9; e += xstep)
        {
            double tx = Math.Round(X(e)) + 0.5;
            s.Line(tx, bottom, tx, bottom + 4, ChartKit.Frame, 1, cls: "tick");
            s.Text(tx, bottom + 17, ChartKit.Tick(e, 1), 10, ChartKit.Muted, TextAnchor.Middle, cls: "tick-label");
        }
        s.Rect(left, top, right - left, bottom - top, null, ChartKit.Frame, 1, cls: "frame");
        s.Text((left + right) / 2, bottom + 36, "epoch", 10, ChartKit.Ink, TextAnchor.Middle, cls: "axis-label");
        s.Text(x + 14, (top + bottom) / 2, label, 10, ChartKit.Ink, TextAnchor.Middle, vertical: true, cls: "axis-label");

        var trainColor = ChartKit.Palette[0];
        var valColor = ChartKit.Palette[1];
        s.Polyline(epochs.Select((e, i) => (X(e), Y(train[i]))), trainColor, 2, cls: "series-train");
        foreach (var (e, i) in epochs.Select((e, i) => (e, i))) s.Circle(X(e), Y(train[i]), 3, trainColor, cls: "marker");
        var val = epochs.Select((e, i) => (e, v: validation[i])).Where(p => p.v.HasValue).Select(p => (X(p.e), Y(p.v!.Value))).ToList();
        bool hasValidation = val.Count > 0;
        if (hasValidation)
        {
            if (val.Count > 1) s.Polyline(val, valColor, 2, dashed: true, cls: "series-validation");
            foreach (var (px, py) in val) s.Circle(px, py, 3, valColor, cls: "marker");
        }

        // legend: top-right for loss (falling curves), bottom-right for accuracy (rising curves)
        int rows = hasValidation ? 2 : 1;
        double lw = 112, lh = 10 + 16 * rows;
        double lx = right - lw - 8, ly = percent ? bottom - lh - 8 : top + 8;
        s.Rect(lx, ly, lw, lh, Rgba.White.WithAlpha(0.9), ChartKit.Grid, 1, cls: "legend");
        s.Line(lx + 8, ly + 13, lx + 30, ly + 13, trainColor, 2);
        s.Text(lx + 36, Surface.Middle(ly + 13), "training", 10, ChartKit.Ink, cls: "legend-label");
        if (hasValidation)
        {
            s.Line(lx + 8, ly + 29, lx + 30, ly + 29, valColor, 2, dashed: true);
            s.Text(lx + 36, Surface.Middle(ly + 29), "validation", 10, ChartKit.Ink, cls: "legend-label");
        }
    }
}
