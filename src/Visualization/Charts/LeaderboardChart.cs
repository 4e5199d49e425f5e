using System.Globalization;

namespace MLNet.Attention.Visualization;

/// <summary>One model of a leaderboard.</summary>
/// <param name="Name">The model (e.g. "seresnet50 w0.25").</param>
/// <param name="Metric">Its score (e.g. test accuracy in [0, 1], or any number).</param>
/// <param name="Parameters">Its parameter count (0 when unknown: not annotated).</param>
/// <param name="Seconds">Its training (or measured) time in seconds (0 or less when unknown: not annotated).</param>
/// <param name="Note">More to say beside the bar (e.g. "2 epochs" for a candidate stopped early), or null.</param>
public sealed record LeaderboardEntry(string Name, double Metric, long Parameters, double Seconds, string? Note = null);

/// <summary>A leaderboard: one horizontal bar per model, best first, with the value on the bar and parameters and time beside it.</summary>
public static class LeaderboardChart
{
    /// <summary>The chart of <paramref name="entries"/>.</summary>
    /// <param name="entries">The models (any order; sorted best first).</param>
    /// <param name="metricName">What <see cref="LeaderboardEntry.Metric"/> is (the axis label), e.g. "test accuracy".</param>
    /// <param name="title">The title (null: "Leaderboard").</param>
    /// <param name="percent">Show metric values in [0, 1] as percentages.</param>
    /// <param name="higherIsBetter">Sort descending (accuracy) or ascending (loss, error, time).</param>
    /// <param name="zeroBased">Start the axis at 0 (bars compare by length); otherwise the axis spans the values' range with a margin, and the axis label says so.</param>
    /// <param name="scale">Pixels per layout unit (1 or 2).</param>
    /// <exception cref="ArgumentException">There are no entries, or one has an empty name or a non-finite metric.</exception>
    public static Picture Create(IReadOnlyList<LeaderboardEntry> entries, string metricName = "accuracy", string? title = null, bool percent = true,
        bool higherIsBetter = true, bool zeroBased = true, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(metricName);
        if (entries.Count == 0) throw new ArgumentException("the leaderboard is empty: no models to draw", nameof(entries));
        foreach (var e in entries)
        {
            ArgumentNullException.ThrowIfNull(e, nameof(entries));
            if (string.IsNullOrWhiteSpace(e.Name)) throw new ArgumentException("a leaderboard entry has an empty model name", nameof(entries));
            if (!double.IsFinite(e.Metric)) throw new ArgumentException($"model '{e.Name}' has the metric {e.Metric}; it must be a finite number", nameof(entries));
            if (e.Parameters < 0) throw new ArgumentException($"model '{e.Name}' has {e.Parameters} parameters", nameof(entries));
        }
        var rows = (higherIsBetter ? entries.OrderByDescending(e => e.Metric) : entries.OrderBy(e => e.Metric)).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        double k = percent ? 100 : 1;
        var vals = rows.Select(r => r.Metric * k).ToArray();
        double lo = zeroBased ? Math.Min(0, vals.Min()) : vals.Min(), hi = zeroBased ? Math.Max(0, vals.Max()) : vals.Max();
        if (!zeroBased)
        {
            double span = Math.Max(hi - lo, Math.Abs(hi) * 0.01 + 1e-9);
            lo -= span * 0.35; hi += span * 0.1;
            if (percent) { lo = Math.Max(0, lo); hi = Math.Min(100, hi); }
        }
        var (alo, ahi, step, ticks) = ChartKit.NiceTicks(lo, hi, 5);

        var names = rows.Select(r => ChartKit.Clip(r.Name, 30)).ToArray();
        var notes = rows.Select(Note).ToArray();
        double rowH = 26, barH = 16, top = 48;
        double left = 16 + names.Max(n => Surface.Measure(n)) + 12, barW = 420;
        double notesW = Math.Max(60, notes.Max(n => Surface.Measure(n))) + 16;
        double plotBottom = top + rows.Count * rowH;
        double width = left + barW + notesW + 16, height = plotBottom + 44;
        var s = new Surface(width, height, scale);
        s.Text(width / 2, 26, title ?? "Leaderboard", 20, anchor: TextAnchor.Middle, bold: true, cls: "title");

        double X(double v) => left + (v - alo) / (ahi - alo) * barW;
        foreach (var t in ticks)
        {
            double tx = Math.Round(X(t)) + 0.5;
            s.Line(tx, top - 4, tx, plotBottom, ChartKit.Grid, 1, cls: "grid");
            s.Line(tx, plotBottom, tx, plotBottom + 4, ChartKit.Frame, 1, cls: "tick");
            s.Text(tx, plotBottom + 16, ChartKit.Tick(t, step), 10, ChartKit.Muted, TextAnchor.Middle, cls: "tick-label");
        }
        string axis = metricName + (percent ? " (%)" : "") + (alo > 0 ? $", axis from {ChartKit.Tick(alo, step)}" : "");
        s.Text(left + barW / 2, plotBottom + 34, axis, 10, ChartKit.Ink, TextAnchor.Middle, cls: "axis-label");
        s.Text(left + barW + 12, top - 8, "params, time", 10, ChartKit.Muted, cls: "axis-label");

        for (int i = 0; i < rows.Count; i++)
        {
            double y = top + i * rowH + (rowH - barH) / 2, v = vals[i];
            double x0 = X(Math.Max(alo, Math.Min(0, v))), x1 = X(Math.Max(alo, v));
            if (!zeroBased) x0 = X(alo);
            var color = i == 0 ? ChartKit.Palette[2] : ChartKit.Palette[0];
            string value = percent ? ChartKit.F(v, "F2") + "%" : ChartKit.F(v, Math.Abs(v) >= 100 ? "F1" : "G4");
            s.Rect(x0, y, Math.Max(0.5, x1 - x0), barH, color, null, cls: "bar",
                tooltip: string.Create(CultureInfo.InvariantCulture, $"{rows[i].Name}: {value}"));
            double vw = Surface.Measure(value);
            double mid = Surface.Middle(y + barH / 2);
            if (x1 - x0 > vw + 10) s.Text(x1 - 5, mid, value, 10, Rgba.White, TextAnchor.End, bold: false, cls: "value");
            else s.Text(x1 + 5, mid, value, 10, ChartKit.Ink, cls: "value");
            s.Text(left - 8, mid, names[i], 10, ChartKit.Ink, TextAnchor.End, bold: i == 0, cls: "name");
            if (notes[i].Length > 0) s.Text(left + barW + 12, mid, notes[i], 10, ChartKit.Muted, cls: "note");
        }
        s.Line(Math.Round(X(Math.Max(alo, 0))) + 0.5, top - 4, Math.Round(X(Math.Max(alo, 0))) + 0.5, plotBottom, ChartKit.Frame, 1, cls: "axis");
        return s.Picture;
    }

    private static string Note(LeaderboardEntry e)
    {
        var parts = new List<string>();
        if (e.Parameters > 0) parts.Add(ChartKit.Count(e.Parameters));
        if (e.Seconds > 0 && double.IsFinite(e.Seconds)) parts.Add(ChartKit.Seconds(e.Seconds));
        if (!string.IsNullOrWhiteSpace(e.Note)) parts.Add(e.Note.Trim());
        return string.Join(", ", parts);
    }
}
