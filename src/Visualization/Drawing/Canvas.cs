using MLNet.Attention.Transforms;

namespace MLNet.Attention.Visualization;

/// <summary>
/// The raster behind <see cref="Picture.ToImage"/>: premultiplied float RGBA, source-over compositing, and
/// anti-aliased primitives computed as exact pixel coverage (area overlap for axis-aligned rectangles and glyph pixels,
/// distance to the segment for slanted lines, distance to the centre for discs). Pixel (x, y) covers
/// [x, x+1) × [y, y+1); a 1-wide horizontal line at y = 10.5 fills exactly row 10.
/// </summary>
internal sealed class Canvas
{
    private readonly float[] _px;   // premultiplied r, g, b, a in [0, 1]

    public Canvas(int width, int height, Rgba background)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"canvas size {width}x{height} must be positive");
        if ((long)width * height > 64L << 20) throw new ArgumentOutOfRangeException(nameof(width), $"canvas size {width}x{height} is over 64 Mpixels");
        Width = width; Height = height;
        _px = new float[width * height * 4];
        if (background.A > 0)
        {
            float a = background.A / 255f, r = background.R / 255f * a, g = background.G / 255f * a, b = background.B / 255f * a;
            for (int i = 0; i < _px.Length; i += 4) { _px[i] = r; _px[i + 1] = g; _px[i + 2] = b; _px[i + 3] = a; }
        }
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>Composites <paramref name="color"/> over pixel (x, y) with <paramref name="coverage"/> in [0, 1].</summary>
    public void Blend(int x, int y, Rgba color, double coverage)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height || coverage <= 0) return;
        float a = (float)(color.A / 255.0 * Math.Min(coverage, 1.0));
        if (a <= 0) return;
        int i = (y * Width + x) * 4;
        float k = 1 - a;
        _px[i] = color.R / 255f * a + _px[i] * k;
        _px[i + 1] = color.G / 255f * a + _px[i + 1] * k;
        _px[i + 2] = color.B / 255f * a + _px[i + 2] * k;
        _px[i + 3] = a + _px[i + 3] * k;
    }

    /// <summary>Fills the rectangle [x0, x1) × [y0, y1) with area coverage at fractional edges.</summary>
    public void FillRect(double x0, double y0, double x1, double y1, Rgba color)
    {
        var m = new CoverageMask(this, x0, y0, x1, y1);
        m.AddRect(x0, y0, x1, y1);
        m.Fill(color);
    }

    /// <summary>Strokes the outline of a rectangle, the stroke centred on its edges.</summary>
    public void StrokeRect(double x0, double y0, double x1, double y1, double width, Rgba color)
    {
        double h = width / 2;
        var m = new CoverageMask(this, x0 - h, y0 - h, x1 + h, y1 + h);
        m.AddRect(x0 - h, y0 - h, x1 + h, y0 + h);
        m.AddRect(x0 - h, y1 - h, x1 + h, y1 + h);
        m.AddRect(x0 - h, y0 + h, x0 + h, y1 - h);
        m.AddRect(x1 - h, y0 + h, x1 + h, y1 - h);
        m.Fill(color);
    }

    /// <summary>
    /// A polyline of <paramref name="width"/>: axis-aligned segments as exact rectangles (butt ends), slanted ones with
    /// round caps and joins; overlapping segments are composited once (the union of their coverage).
    /// With <paramref name="dash"/> (on, off lengths) the line is dashed along its length.
    /// </summary>
    public void StrokePolyline(IReadOnlyList<(double X, double Y)> points, double width, Rgba color, (double On, double Off)? dash = null)
    {
        if (points.Count < 2) return;
        var segments = dash is { } d ? Dashes(points, d.On, d.Off) : Segments(points);
        if (segments.Count == 0) return;
        double h = width / 2 + 1;
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        foreach (var (a, b) in segments)
        {
            minX = Math.Min(minX, Math.Min(a.X, b.X)); maxX = Math.Max(maxX, Math.Max(a.X, b.X));
            minY = Math.Min(minY, Math.Min(a.Y, b.Y)); maxY = Math.Max(maxY, Math.Max(a.Y, b.Y));
        }
        var m = new CoverageMask(this, minX - h, minY - h, maxX + h, maxY + h);
        bool slantedAny = segments.Exists(s => s.A.X != s.B.X && s.A.Y != s.B.Y);
        foreach (var (a, b) in segments)
        {
            if (!slantedAny && a.Y == b.Y) m.AddRect(Math.Min(a.X, b.X), a.Y - width / 2, Math.Max(a.X, b.X), a.Y + width / 2);
            else if (!slantedAny && a.X == b.X) m.AddRect(a.X - width / 2, Math.Min(a.Y, b.Y), a.X + width / 2, Math.Max(a.Y, b.Y));
            else m.AddCapsule(a, b, width / 2);
        }
        m.Fill(color);
    }

    /// <summary>A filled disc.</summary>
    public void FillCircle(double cx, double cy, double r, Rgba color)
    {
        var m = new CoverageMask(this, cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1);
        m.AddCapsule((cx, cy), (cx, cy), r);
        m.Fill(color);
    }

    /// <summary>
    /// Text in the bitmap font with its baseline-left corner at (x, y) (after the anchor shift); <paramref name="vertical"/>
    /// turns it 90° counter-clockwise about (x, y), reading bottom to top.
    /// </summary>
    public void DrawText(string text, double x, double y, double size, Rgba color, TextAnchor anchor, bool vertical, bool bold)
    {
        if (string.IsNullOrEmpty(text)) return;
        double s = BitmapFont.Scale(size);
        // Integer glyph scales are kept crisp by snapping the origin to the pixel grid.
        if (Math.Abs(s - Math.Round(s)) < 1e-9) { x = Math.Round(x); y = Math.Round(y); }
        double width = BitmapFont.MeasureWidth(text, size);
        double shift = anchor switch { TextAnchor.Middle => -width / 2, TextAnchor.End => -width, _ => 0 };
        double extra = bold ? Math.Max(1, Math.Round(s / 2)) : 0;
        double top = -BitmapFont.GlyphHeight * s;
        var m = vertical
            ? new CoverageMask(this, x + top - 1, y - shift - width - extra - 1, x + 1, y - shift + 1)
            : new CoverageMask(this, x + shift - 1, y + top - 1, x + shift + width + extra + 1, y + 1);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            for (int col = 0; col < BitmapFont.GlyphWidth; col++)
                for (int row = 0; row < BitmapFont.GlyphHeight; row++)
                {
                    if (!BitmapFont.IsSet(c, col, row)) continue;
                    double dx = shift + (i * BitmapFont.Advance + col) * s, dy = top + row * s;
                    if (vertical) m.AddRect(x + dy, y - dx - s - extra, x + dy + s, y - dx);
                    else m.AddRect(x + dx, y + dy, x + dx + s + extra, y + dy + s);
                }
        }
        m.Fill(color);
    }

    /// <summary>Draws <paramref name="image"/> scaled into [x, x+w) × [y, y+h), nearest-neighbour or bilinear.</summary>
    public void DrawImage(ImageData image, double x, double y, double w, double h, bool smooth)
    {
        if (w <= 0 || h <= 0) return;
        int x0 = Math.Max(0, (int)Math.Floor(x)), y0 = Math.Max(0, (int)Math.Floor(y));
        int x1 = Math.Min(Width, (int)Math.Ceiling(x + w)), y1 = Math.Min(Height, (int)Math.Ceiling(y + h));
        var rgba = image.WithChannels(4);
        var px = rgba.Pixels;
        int sw = rgba.Width, sh = rgba.Height;
        double fx = sw / w, fy = sh / h;
        for (int py = y0; py < y1; py++)
        {
            double cy = Math.Min(py + 1, y + h) - Math.Max(py, y);
            if (cy <= 0) continue;
            double sy = (py + 0.5 - y) * fy;
            for (int pxi = x0; pxi < x1; pxi++)
            {
                double cx = Math.Min(pxi + 1, x + w) - Math.Max(pxi, x);
                if (cx <= 0) continue;
                double sx = (pxi + 0.5 - x) * fx;
                Rgba c;
                if (smooth)
                {
                    double ux = Math.Clamp(sx - 0.5, 0, sw - 1), uy = Math.Clamp(sy - 0.5, 0, sh - 1);
                    int ix = Math.Min((int)ux, sw - 1), iy = Math.Min((int)uy, sh - 1);
                    int jx = Math.Min(ix + 1, sw - 1), jy = Math.Min(iy + 1, sh - 1);
                    double tx = ux - ix, ty = uy - iy;
                    double Sample(int ch) =>
                        (px[(iy * sw + ix) * 4 + ch] * (1 - tx) + px[(iy * sw + jx) * 4 + ch] * tx) * (1 - ty) +
                        (px[(jy * sw + ix) * 4 + ch] * (1 - tx) + px[(jy * sw + jx) * 4 + ch] * tx) * ty;
                    c = new Rgba((byte)Math.Round(Sample(0)), (byte)Math.Round(Sample(1)), (byte)Math.Round(Sample(2)), (byte)Math.Round(Sample(3)));
                }
                else
                {
                    int ix = Math.Clamp((int)sx, 0, sw - 1), iy = Math.Clamp((int)sy, 0, sh - 1);
                    int i = (iy * sw + ix) * 4;
                    c = new Rgba(px[i], px[i + 1], px[i + 2], px[i + 3]);
                }
                Blend(pxi, py, c, cx * cy);
            }
        }
    }

    /// <summary>The pixels as an 8-bit RGBA image (straight alpha).</summary>
    public ImageData ToImage()
    {
        var bytes = new byte[Width * Height * 4];
        for (int i = 0; i < _px.Length; i += 4)
        {
            float a = _px[i + 3];
            if (a <= 0) continue;
            bytes[i] = Rgba.ToByte(_px[i] / a);
            bytes[i + 1] = Rgba.ToByte(_px[i + 1] / a);
            bytes[i + 2] = Rgba.ToByte(_px[i + 2] / a);
            bytes[i + 3] = Rgba.ToByte(a);
        }
        return new ImageData(Width, Height, 4, bytes);
    }

    private static List<((double X, double Y) A, (double X, double Y) B)> Segments(IReadOnlyList<(double X, double Y)> p)
    {
        var list = new List<((double, double), (double, double))>(p.Count - 1);
        for (int i = 1; i < p.Count; i++) list.Add((p[i - 1], p[i]));
        return list;
    }

    private static List<((double X, double Y) A, (double X, double Y) B)> Dashes(IReadOnlyList<(double X, double Y)> p, double on, double off)
    {
        if (!(on > 0) || !(off >= 0)) throw new ArgumentOutOfRangeException(nameof(on), "dash lengths must be positive");
        var list = new List<((double, double), (double, double))>();
        double phase = 0;   // distance into the current on+off period
        for (int i = 1; i < p.Count; i++)
        {
            var (ax, ay) = p[i - 1];
            var (bx, by) = p[i];
            double len = Math.Sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
            double t = 0;
            while (t < len)
            {
                double period = on + off;
                double step;
                if (phase < on)
                {
                    step = Math.Min(on - phase, len - t);
                    double t0 = t / len, t1 = (t + step) / len;
                    list.Add(((ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)));
                }
                else step = Math.Min(period - phase, len - t);
                t += step;
                phase = (phase + step) % period;
                if (step <= 0) break;
            }
        }
        return list;
    }

    /// <summary>A per-pixel coverage buffer over a bounding box: shapes are unioned (max), then composited once.</summary>
    private sealed class CoverageMask
    {
        private readonly Canvas _canvas;
        private readonly int _x0, _y0, _w, _h;
        private readonly float[] _cov;

        public CoverageMask(Canvas canvas, double x0, double y0, double x1, double y1)
        {
            _canvas = canvas;
            _x0 = Math.Max(0, (int)Math.Floor(x0));
            _y0 = Math.Max(0, (int)Math.Floor(y0));
            int xe = Math.Min(canvas.Width, (int)Math.Ceiling(x1)), ye = Math.Min(canvas.Height, (int)Math.Ceiling(y1));
            _w = Math.Max(0, xe - _x0); _h = Math.Max(0, ye - _y0);
            _cov = new float[_w * _h];
        }

        private void Max(int x, int y, double v)
        {
            int i = (y - _y0) * _w + (x - _x0);
            if (v > _cov[i]) _cov[i] = (float)Math.Min(v, 1.0);
        }

        public void AddRect(double x0, double y0, double x1, double y1)
        {
            if (x1 <= x0 || y1 <= y0) return;
            int ix0 = Math.Max(_x0, (int)Math.Floor(x0)), iy0 = Math.Max(_y0, (int)Math.Floor(y0));
            int ix1 = Math.Min(_x0 + _w, (int)Math.Ceiling(x1)), iy1 = Math.Min(_y0 + _h, (int)Math.Ceiling(y1));
            for (int y = iy0; y < iy1; y++)
            {
                double cy = Math.Min(y + 1, y1) - Math.Max(y, y0);
                if (cy <= 0) continue;
                for (int x = ix0; x < ix1; x++)
                {
                    double cx = Math.Min(x + 1, x1) - Math.Max(x, x0);
                    if (cx > 0) Max(x, y, cx * cy);
                }
            }
        }

        /// <summary>The points within <paramref name="r"/> of segment a–b, with one pixel of linear falloff at the edge.</summary>
        public void AddCapsule((double X, double Y) a, (double X, double Y) b, double r)
        {
            int ix0 = Math.Max(_x0, (int)Math.Floor(Math.Min(a.X, b.X) - r - 1)), ix1 = Math.Min(_x0 + _w, (int)Math.Ceiling(Math.Max(a.X, b.X) + r + 1));
            int iy0 = Math.Max(_y0, (int)Math.Floor(Math.Min(a.Y, b.Y) - r - 1)), iy1 = Math.Min(_y0 + _h, (int)Math.Ceiling(Math.Max(a.Y, b.Y) + r + 1));
            double dx = b.X - a.X, dy = b.Y - a.Y, len2 = dx * dx + dy * dy;
            for (int y = iy0; y < iy1; y++)
                for (int x = ix0; x < ix1; x++)
                {
                    double px = x + 0.5 - a.X, py = y + 0.5 - a.Y;
                    double t = len2 > 0 ? Math.Clamp((px * dx + py * dy) / len2, 0, 1) : 0;
                    double ex = px - t * dx, ey = py - t * dy;
                    double d = Math.Sqrt(ex * ex + ey * ey);
                    double cov = r + 0.5 - d;
                    if (r < 0.5) cov *= 2 * r;   // thinner than a pixel: fainter, not wider
                    if (cov > 0) Max(x, y, cov);
                }
        }

        public void Fill(Rgba color)
        {
            for (int y = 0; y < _h; y++)
                for (int x = 0; x < _w; x++)
                {
                    float c = _cov[y * _w + x];
                    if (c > 0) _canvas.Blend(_x0 + x, _y0 + y, color, c);
                }
        }
    }
}
