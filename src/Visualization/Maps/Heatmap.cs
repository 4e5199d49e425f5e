namespace MLNet.Attention.Visualization;

/// <summary>
/// A 2-D map of values (row-major, <see cref="Height"/> × <see cref="Width"/>): an attention map, a Grad-CAM, a
/// confusion matrix. Immutable; the operations return new maps.
/// </summary>
public sealed class Heatmap
{
    private readonly float[] _values;

    /// <summary>Wraps <paramref name="values"/> (copied) as a <paramref name="height"/> × <paramref name="width"/> map.</summary>
    /// <exception cref="ArgumentException">The sizes are not positive or do not match the number of values.</exception>
    public Heatmap(int width, int height, ReadOnlySpan<float> values)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"map size {width}x{height} must be positive");
        if (values.Length != (long)width * height)
            throw new ArgumentException($"a {height}x{width} map needs {(long)width * height} values, got {values.Length}", nameof(values));
        Width = width; Height = height;
        _values = values.ToArray();
    }

    private Heatmap(int width, int height, float[] values, bool _)
    {
        Width = width; Height = height; _values = values;
    }

    /// <summary>Width (columns).</summary>
    public int Width { get; }
    /// <summary>Height (rows).</summary>
    public int Height { get; }
    /// <summary>The values, row-major.</summary>
    public ReadOnlySpan<float> Values => _values;
    /// <summary>The value at row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    public float this[int y, int x] => _values[y * Width + x];

    /// <summary>The smallest value (NaNs ignored; NaN when all are NaN).</summary>
    public float Min => _values.Where(v => !float.IsNaN(v)).DefaultIfEmpty(float.NaN).Min();
    /// <summary>The largest value (NaNs ignored; NaN when all are NaN).</summary>
    public float Max => _values.Where(v => !float.IsNaN(v)).DefaultIfEmpty(float.NaN).Max();

    /// <summary>The (row, column) of the largest value (the first one on ties).</summary>
    public (int Y, int X) ArgMax()
    {
        int best = 0;
        for (int i = 1; i < _values.Length; i++) if (_values[i] > _values[best]) best = i;
        return (best / Width, best % Width);
    }

    /// <summary>
    /// The map scaled to [0, 1] by (v − min) / (max − min); a constant map becomes all zeros (nothing stands out).
    /// NaN values become 0.
    /// </summary>
    public Heatmap Normalized()
    {
        float lo = Min, hi = Max;
        var r = new float[_values.Length];
        if (float.IsNaN(lo) || !(hi > lo)) return new Heatmap(Width, Height, r, true);
        float k = 1f / (hi - lo);
        for (int i = 0; i < r.Length; i++) r[i] = float.IsNaN(_values[i]) ? 0 : (_values[i] - lo) * k;
        return new Heatmap(Width, Height, r, true);
    }

    /// <summary>
    /// Bilinear resampling to <paramref name="width"/> × <paramref name="height"/> with half-pixel centres and edge
    /// clamping — <c>torch.nn.functional.interpolate(mode="bilinear", align_corners=False)</c> without antialiasing,
    /// and OpenCV's <c>cv2.resize(INTER_LINEAR)</c> when enlarging.
    /// </summary>
    public Heatmap Resize(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"size {width}x{height} must be positive");
        var r = new float[width * height];
        float sx = (float)Width / width, sy = (float)Height / height;
        for (int y = 0; y < height; y++)
        {
            float fy = Math.Max((y + 0.5f) * sy - 0.5f, 0f);
            int y0 = Math.Min((int)fy, Height - 1), y1 = Math.Min(y0 + 1, Height - 1);
            float ty = fy - y0;
            for (int x = 0; x < width; x++)
            {
                float fx = Math.Max((x + 0.5f) * sx - 0.5f, 0f);
                int x0 = Math.Min((int)fx, Width - 1), x1 = Math.Min(x0 + 1, Width - 1);
                float tx = fx - x0;
                float top = _values[y0 * Width + x0] * (1 - tx) + _values[y0 * Width + x1] * tx;
                float bottom = _values[y1 * Width + x0] * (1 - tx) + _values[y1 * Width + x1] * tx;
                r[y * width + x] = top * (1 - ty) + bottom * ty;
            }
        }
        return new Heatmap(width, height, r, true);
    }

    /// <summary>The map's values as a fresh array.</summary>
    public float[] ToArray() => (float[])_values.Clone();

    /// <inheritdoc/>
    public override string ToString() => $"Heatmap({Height}x{Width})";
}
