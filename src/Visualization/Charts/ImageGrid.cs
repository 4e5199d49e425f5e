using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>A panel of an <see cref="ImageGrid"/>: an image and an optional caption under it.</summary>
/// <param name="Image">The image (any size: drawn into the grid's cell size).</param>
/// <param name="Caption">One or more lines ('\n') under the image, or null.</param>
public sealed record GridPanel(ImageData Image, string? Caption = null);

/// <summary>
/// A figure of images in rows and columns (inputs next to their attention maps and Grad-CAMs), with column titles,
/// captions under the images, row titles at the left, and an optional colour bar for the maps.
/// </summary>
public static class ImageGrid
{
    /// <summary>The figure of <paramref name="rows"/> (null panels leave a cell empty).</summary>
    /// <param name="rows">The panels, row by row.</param>
    /// <param name="cellSize">Side of each image cell in layout units (images are scaled to it, keeping their aspect ratio).</param>
    /// <param name="title">The title line, or null.</param>
    /// <param name="columnTitles">A title above each column ('\n' for more lines), or null.</param>
    /// <param name="rowTitles">A title left of each row ('\n' for more lines), or null.</param>
    /// <param name="colorbar">A colormap to explain with a vertical bar at the right ("low" to "high"), or null.</param>
    /// <param name="scale">Pixels per layout unit.</param>
    /// <param name="smooth">Scale images bilinearly instead of nearest-neighbour.</param>
    /// <exception cref="ArgumentException">There are no rows or all rows are empty.</exception>
    public static Picture Create(IReadOnlyList<IReadOnlyList<GridPanel?>> rows, double cellSize = 112, string? title = null,
        IReadOnlyList<string>? columnTitles = null, IReadOnlyList<string>? rowTitles = null, Colormap? colorbar = null, int scale = 1, bool smooth = false)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int nr = rows.Count, nc = rows.Count == 0 ? 0 : rows.Max(r => r?.Count ?? 0);
        if (nr == 0 || nc == 0) throw new ArgumentException("the grid has no panels", nameof(rows));
        if (!(cellSize >= 8)) throw new ArgumentOutOfRangeException(nameof(cellSize), cellSize, "must be >= 8");

        static string[] Lines(string? t) => string.IsNullOrEmpty(t) ? Array.Empty<string>() : t.Split('\n');
        const double lineH = 13, pad = 8;
        int captionLines = rows.SelectMany(r => r).Max(p => Lines(p?.Caption).Length);
        int headLines = columnTitles?.Max(t => Lines(t).Length) ?? 0;
        double rowTitleW = rowTitles is null ? 0 : rowTitles.SelectMany(Lines).DefaultIfEmpty("").Max(l => Surface.Measure(l)) + 14;
        double colW = Math.Max(cellSize, Math.Max(
            columnTitles?.SelectMany(Lines).DefaultIfEmpty("").Max(l => Surface.Measure(l)) ?? 0,
            rows.SelectMany(r => r).SelectMany(p => Lines(p?.Caption)).DefaultIfEmpty("").Max(l => Surface.Measure(l)))) + pad;
        double top = (title is null ? 8 : 40) + headLines * lineH + (headLines > 0 ? 4 : 0);
        double rowH = cellSize + captionLines * lineH + (captionLines > 0 ? 6 : 0) + pad;
        double left = 8 + rowTitleW;
        double barW = colorbar is null ? 0 : 60;
        double width = left + nc * colW + barW + 4, height = top + nr * rowH + 4;
        if (title is not null) width = Math.Max(width, Surface.Measure(title, 20) + 24);
        var s = new Surface(width, height, scale);
        if (title is not null) s.Text(width / 2, 26, title, 20, anchor: TextAnchor.Middle, bold: true, cls: "title");
        if (columnTitles is not null)
            for (int c = 0; c < Math.Min(nc, columnTitles.Count); c++)
            {
                var ls = Lines(columnTitles[c]);
                for (int i = 0; i < ls.Length; i++)
                    s.Text(left + c * colW + colW / 2, top - 4 - (ls.Length - 1 - i) * lineH, ls[i], 10, ChartKit.Ink, TextAnchor.Middle, bold: i == 0, cls: "column-title");
            }
        for (int r = 0; r < nr; r++)
        {
            double y = top + r * rowH + pad / 2;
            if (rowTitles is not null && r < rowTitles.Count)
            {
                var ls = Lines(rowTitles[r]);
                double y0 = y + cellSize / 2 - (ls.Length - 1) * lineH / 2;
                for (int i = 0; i < ls.Length; i++)
                    s.Text(left - 10, Surface.Middle(y0 + i * lineH), ls[i], 10, ChartKit.Ink, TextAnchor.End, cls: "row-title");
            }
            var row = rows[r] ?? Array.Empty<GridPanel?>();
            for (int c = 0; c < row.Count; c++)
            {
                var p = row[c];
                if (p is null) continue;
                double aspect = (double)p.Image.Width / p.Image.Height;
                double w = aspect >= 1 ? cellSize : cellSize * aspect, h = aspect >= 1 ? cellSize / aspect : cellSize;
                double x = left + c * colW + (colW - w) / 2, iy = y + (cellSize - h) / 2;
                s.Image(x, iy, w, h, p.Image, smooth, cls: "panel");
                s.Rect(x, iy, w, h, null, ChartKit.Frame, 1);
                var ls = Lines(p.Caption);
                for (int i = 0; i < ls.Length; i++)
                    s.Text(left + c * colW + colW / 2, y + cellSize + 4 + (i + 1) * lineH - 3, ls[i], 10, ChartKit.Muted, TextAnchor.Middle, cls: "caption");
            }
        }
        if (colorbar is not null)
        {
            double bx = left + nc * colW + 12, by = top + pad / 2, bh = Math.Min(nr * rowH - pad, 220), bw = 14;
            s.Image(bx, by, bw, bh, ChartKit.Colorbar(colorbar), smooth: true, cls: "colorbar");
            s.Rect(bx, by, bw, bh, null, ChartKit.Frame, 1);
            s.Text(bx + bw + 4, Surface.Middle(by + 4), "high", 10, ChartKit.Muted, cls: "tick-label");
            s.Text(bx + bw + 4, Surface.Middle(by + bh - 4), "low", 10, ChartKit.Muted, cls: "tick-label");
        }
        return s.Picture;
    }
}
