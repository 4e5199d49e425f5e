using System.Globalization;
using System.IO.Compression;
using System.Security;
using System.Text;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>Where text sits relative to its x coordinate.</summary>
public enum TextAnchor
{
    /// <summary>x is the left end.</summary>
    Start,
    /// <summary>x is the centre.</summary>
    Middle,
    /// <summary>x is the right end.</summary>
    End,
}

/// <summary>
/// A picture a person looks at: a list of shapes (rectangles, lines, discs, text, embedded raster images) in pixel
/// coordinates, rendered either to a PNG (an anti-aliased raster with the built-in <see cref="BitmapFont"/>) or to an
/// SVG document (real <c>&lt;text&gt;</c> elements in a monospace font of the same advance, rasters embedded as PNG).
/// Shapes are drawn in the order they were added. Every method returns the picture, so calls chain.
/// </summary>
public sealed class Picture
{
    private readonly List<Element> _elements = new();

    /// <summary>An empty picture of the given size filled with <paramref name="background"/> (white when null).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A side is not in [1, 16384].</exception>
    public Picture(int width, int height, Rgba? background = null)
    {
        if (width is < 1 or > 16384) throw new ArgumentOutOfRangeException(nameof(width), width, "must be in [1, 16384]");
        if (height is < 1 or > 16384) throw new ArgumentOutOfRangeException(nameof(height), height, "must be in [1, 16384]");
        Width = width; Height = height;
        Background = background ?? Rgba.White;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>The background colour.</summary>
    public Rgba Background { get; }
    /// <summary>The number of shapes added.</summary>
    public int Count => _elements.Count;

    /// <summary>A filled (and optionally outlined) rectangle; <paramref name="cssClass"/> is written as its SVG class.</summary>
    public Picture Rect(double x, double y, double width, double height, Rgba? fill, Rgba? stroke = null, double strokeWidth = 1, string? cssClass = null, string? tooltip = null)
    {
        Finite(x, y, width, height, strokeWidth);
        if (width < 0 || height < 0) throw new ArgumentOutOfRangeException(nameof(width), $"rectangle size {width}x{height} must not be negative");
        _elements.Add(new RectElement(x, y, width, height, fill, stroke, strokeWidth, cssClass, tooltip));
        return this;
    }

    /// <summary>A straight line.</summary>
    public Picture Line(double x1, double y1, double x2, double y2, Rgba color, double width = 1, bool dashed = false, string? cssClass = null) =>
        Polyline(new[] { (x1, y1), (x2, y2) }, color, width, dashed, cssClass);

    /// <summary>A polyline through <paramref name="points"/>; dashed lines use a 6-on 4-off pattern scaled by the width.</summary>
    public Picture Polyline(IReadOnlyList<(double X, double Y)> points, Rgba color, double width = 1, bool dashed = false, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        foreach (var (px, py) in points) Finite(px, py);
        Finite(width);
        if (!(width > 0)) throw new ArgumentOutOfRangeException(nameof(width), width, "must be > 0");
        if (points.Count >= 2) _elements.Add(new LineElement(points.ToArray(), color, width, dashed, cssClass));
        return this;
    }

    /// <summary>A filled disc.</summary>
    public Picture Circle(double cx, double cy, double radius, Rgba fill, string? cssClass = null)
    {
        Finite(cx, cy, radius);
        if (!(radius > 0)) throw new ArgumentOutOfRangeException(nameof(radius), radius, "must be > 0");
        _elements.Add(new CircleElement(cx, cy, radius, fill, cssClass));
        return this;
    }

    /// <summary>
    /// Text with its baseline at <paramref name="y"/>; <paramref name="size"/> is the font size in pixels (cap height
    /// 0.7 × size, advance 0.6 × size per character; multiples of 10 are pixel-exact in the PNG). Characters outside
    /// printable ASCII are drawn as '?' in the PNG. <paramref name="vertical"/> turns the text 90° counter-clockwise.
    /// </summary>
    public Picture Text(double x, double y, string text, double size = 10, Rgba? color = null, TextAnchor anchor = TextAnchor.Start,
        bool vertical = false, bool bold = false, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        Finite(x, y, size);
        if (!(size > 0)) throw new ArgumentOutOfRangeException(nameof(size), size, "must be > 0");
        _elements.Add(new TextElement(x, y, text, size, color ?? Rgba.Black, anchor, vertical, bold, cssClass));
        return this;
    }

    /// <summary>A raster image scaled into the rectangle (nearest-neighbour, or bilinear with <paramref name="smooth"/>).</summary>
    public Picture Image(double x, double y, double width, double height, ImageData image, bool smooth = false, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        Finite(x, y, width, height);
        if (!(width > 0) || !(height > 0)) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        _elements.Add(new ImageElement(x, y, width, height, image, smooth, cssClass));
        return this;
    }

    /// <summary>Copies every shape of <paramref name="other"/> into this picture, moved by (dx, dy) (its background is not drawn).</summary>
    public Picture Draw(Picture other, double dx, double dy)
    {
        ArgumentNullException.ThrowIfNull(other);
        Finite(dx, dy);
        foreach (var e in other._elements) _elements.Add(e.Moved(dx, dy));
        return this;
    }

    // ---------------- output ----------------

    /// <summary>The picture rendered to an 8-bit RGBA raster of <see cref="Width"/> × <see cref="Height"/>.</summary>
    public ImageData ToImage()
    {
        var canvas = new Canvas(Width, Height, Background);
        foreach (var e in _elements) e.Render(canvas);
        return canvas.ToImage();
    }

    /// <summary>The rendered picture as a PNG file (RGB when fully opaque, else RGBA).</summary>
    public byte[] ToPng()
    {
        var image = ToImage();
        bool opaque = true;
        var px = image.Pixels;
        for (int i = 3; i < px.Length && opaque; i += 4) opaque = px[i] == 255;
        return PngEncoder.Encode(opaque ? image.WithChannels(3) : image, CompressionLevel.SmallestSize);
    }

    /// <summary>The picture as an SVG document (UTF-8 text).</summary>
    public string ToSvg()
    {
        var sb = new StringBuilder();
        sb.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" "))
          .Append("font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">\n");
        if (Background.A > 0)
            sb.Append(Inv($"<rect class=\"background\" x=\"0\" y=\"0\" width=\"{Width}\" height=\"{Height}\" fill=\"{Background.Hex}\"{Opacity("fill-opacity", Background)}/>\n"));
        foreach (var e in _elements) e.WriteSvg(sb);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>Writes <see cref="ToPng"/> to <paramref name="path"/> atomically (a temporary file renamed into place); creates the folder.</summary>
    public void SavePng(string path) => AtomicFile.Write(path, ToPng());

    /// <summary>Writes <see cref="ToSvg"/> to <paramref name="path"/> atomically (a temporary file renamed into place); creates the folder.</summary>
    public void SaveSvg(string path) => AtomicFile.Write(path, new UTF8Encoding(false).GetBytes(ToSvg()));

    // ---------------- shapes ----------------

    private static void Finite(params double[] values)
    {
        foreach (var v in values)
            if (!double.IsFinite(v)) throw new ArgumentOutOfRangeException(nameof(values), v, "coordinates and sizes must be finite numbers");
    }

    internal static string Num(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string Opacity(string attribute, Rgba c) => c.A == 255 ? "" : $" {attribute}=\"{Num(c.A / 255.0)}\"";

    private static string Class(string? cssClass) => cssClass is null ? "" : $" class=\"{SecurityElement.Escape(cssClass)}\"";

    private abstract record Element(string? CssClass)
    {
        public abstract void Render(Canvas canvas);
        public abstract void WriteSvg(StringBuilder sb);
        public abstract Element Moved(double dx, double dy);
    }

    private sealed record RectElement(double X, double Y, double W, double H, Rgba? Fill, Rgba? Stroke, double StrokeWidth, string? CssClass, string? Tooltip)
        : Element(CssClass)
    {
        public override void Render(Canvas canvas)
        {
            if (Fill is { } f) canvas.FillRect(X, Y, X + W, Y + H, f);
            if (Stroke is { } s) canvas.StrokeRect(X, Y, X + W, Y + H, StrokeWidth, s);
        }

        public override void WriteSvg(StringBuilder sb)
        {
            sb.Append($"<rect{Class(CssClass)} x=\"{Num(X)}\" y=\"{Num(Y)}\" width=\"{Num(W)}\" height=\"{Num(H)}\"");
            sb.Append(Fill is { } f ? $" fill=\"{f.Hex}\"{Opacity("fill-opacity", f)}" : " fill=\"none\"");
            if (Stroke is { } s) sb.Append($" stroke=\"{s.Hex}\"{Opacity("stroke-opacity", s)} stroke-width=\"{Num(StrokeWidth)}\"");
            if (Tooltip is null) sb.Append("/>\n");
            else sb.Append("><title>").Append(SecurityElement.Escape(Tooltip)).Append("</title></rect>\n");
        }

        public override Element Moved(double dx, double dy) => this with { X = X + dx, Y = Y + dy };
    }

    private sealed record LineElement((double X, double Y)[] Points, Rgba Color, double Width, bool Dashed, string? CssClass) : Element(CssClass)
    {
        private (double, double) Dash => (6 * Math.Max(1, Width / 1.5), 4 * Math.Max(1, Width / 1.5));

        public override void Render(Canvas canvas) => canvas.StrokePolyline(Points, Width, Color, Dashed ? Dash : null);

        public override void WriteSvg(StringBuilder sb)
        {
            bool slanted = false;
            for (int i = 1; i < Points.Length; i++) slanted |= Points[i].X != Points[i - 1].X && Points[i].Y != Points[i - 1].Y;
            if (Points.Length == 2)
                sb.Append($"<line{Class(CssClass)} x1=\"{Num(Points[0].X)}\" y1=\"{Num(Points[0].Y)}\" x2=\"{Num(Points[1].X)}\" y2=\"{Num(Points[1].Y)}\"");
            else
                sb.Append($"<polyline{Class(CssClass)} fill=\"none\" points=\"{string.Join(" ", Points.Select(p => Num(p.X) + "," + Num(p.Y)))}\"");
            sb.Append($" stroke=\"{Color.Hex}\"{Opacity("stroke-opacity", Color)} stroke-width=\"{Num(Width)}\"");
            if (slanted) sb.Append(" stroke-linecap=\"round\" stroke-linejoin=\"round\"");
            if (Dashed) { var (on, off) = Dash; sb.Append($" stroke-dasharray=\"{Num(on)} {Num(off)}\""); }
            sb.Append("/>\n");
        }

        public override Element Moved(double dx, double dy) => this with { Points = Points.Select(p => (p.X + dx, p.Y + dy)).ToArray() };
    }

    private sealed record CircleElement(double Cx, double Cy, double R, Rgba Fill, string? CssClass) : Element(CssClass)
    {
        public override void Render(Canvas canvas) => canvas.FillCircle(Cx, Cy, R, Fill);

        public override void WriteSvg(StringBuilder sb) =>
            sb.Append($"<circle{Class(CssClass)} cx=\"{Num(Cx)}\" cy=\"{Num(Cy)}\" r=\"{Num(R)}\" fill=\"{Fill.Hex}\"{Opacity("fill-opacity", Fill)}/>\n");

        public override Element Moved(double dx, double dy) => this with { Cx = Cx + dx, Cy = Cy + dy };
    }

    private sealed record TextElement(double X, double Y, string Content, double Size, Rgba Color, TextAnchor Anchor, bool Vertical, bool Bold, string? CssClass)
        : Element(CssClass)
    {
        public override void Render(Canvas canvas) => canvas.DrawText(Content, X, Y, Size, Color, Anchor, Vertical, Bold);

        public override void WriteSvg(StringBuilder sb)
        {
            sb.Append($"<text{Class(CssClass)} x=\"{Num(X)}\" y=\"{Num(Y)}\" font-size=\"{Num(Size)}\" fill=\"{Color.Hex}\"{Opacity("fill-opacity", Color)}");
            if (Anchor != TextAnchor.Start) sb.Append(Anchor == TextAnchor.Middle ? " text-anchor=\"middle\"" : " text-anchor=\"end\"");
            if (Bold) sb.Append(" font-weight=\"bold\"");
            if (Vertical) sb.Append($" transform=\"rotate(-90 {Num(X)} {Num(Y)})\"");
            sb.Append('>').Append(SecurityElement.Escape(Content)).Append("</text>\n");
        }

        public override Element Moved(double dx, double dy) => this with { X = X + dx, Y = Y + dy };
    }

    private sealed record ImageElement(double X, double Y, double W, double H, ImageData Image, bool Smooth, string? CssClass) : Element(CssClass)
    {
        public override void Render(Canvas canvas) => canvas.DrawImage(Image, X, Y, W, H, Smooth);

        public override void WriteSvg(StringBuilder sb)
        {
            var png = Convert.ToBase64String(PngEncoder.Encode(Image, CompressionLevel.SmallestSize));
            sb.Append($"<image{Class(CssClass)} x=\"{Num(X)}\" y=\"{Num(Y)}\" width=\"{Num(W)}\" height=\"{Num(H)}\" preserveAspectRatio=\"none\"");
            if (!Smooth) sb.Append(" style=\"image-rendering:pixelated\"");
            sb.Append(" href=\"data:image/png;base64,").Append(png).Append("\"/>\n");
        }

        public override Element Moved(double dx, double dy) => this with { X = X + dx, Y = Y + dy };
    }
}

/// <summary>Writes files through a temporary file in the same folder renamed into place, so no reader sees half a file.</summary>
internal static class AtomicFile
{
    public static void Write(string path, byte[] bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
