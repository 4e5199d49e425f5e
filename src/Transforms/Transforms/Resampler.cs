using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MLNet.Attention.Transforms;

/// <summary>
/// Separable bilinear resampling with antialiasing on downscale, computed as libtorch 1.13's
/// <c>_upsample_bilinear2d_aa</c> (what torchvision's <c>F.resize(tensor, size, antialias=True)</c> runs): per output
/// pixel a triangle filter whose support grows with the scale factor, weights normalised to 1, the width pass first
/// and then the height pass, in float32; uint8 images are resized in float and rounded half-to-even at the end.
/// </summary>
internal static class Resampler
{
    /// <summary>The taps of one axis: for output i, <c>Count[i]</c> weights from input <c>Start[i]</c>.</summary>
    internal sealed class Axis
    {
        public required int[] Start;
        public required int[] Count;
        public required float[] Weights;   // Taps per output, zero padded
        public required int Taps;
    }

    internal static Axis Compute(int inSize, int outSize)
    {
        float scale = (float)inSize / outSize;
        float support = scale >= 1f ? scale : 1f;   // interp_size (2) * 0.5 * scale on downscale
        float invscale = scale >= 1f ? 1f / scale : 1f;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[outSize];
        var count = new int[outSize];
        var w = new float[outSize * taps];
        for (int i = 0; i < outSize; i++)
        {
            float center = (float)(scale * (i + 0.5));
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xsize = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            if (xsize > taps) xsize = taps;
            float total = 0;
            for (int j = 0; j < xsize; j++)
            {
                float x = (float)((j + xmin - center + 0.5) * invscale);
                float v = x < 0 ? -x : x;
                float f = v < 1f ? 1f - v : 0f;
                w[i * taps + j] = f;
                total += f;
            }
            if (total != 0)
                for (int j = 0; j < xsize; j++) w[i * taps + j] /= total;
            start[i] = xmin;
            count[i] = xsize;
        }
        return new Axis { Start = start, Count = count, Weights = w, Taps = taps };
    }

    /// <summary>Resizes the box (x0, y0, cw, ch) of <paramref name="src"/> to outW × outH.</summary>
    internal static ImageData Resize(ImageData src, int x0, int y0, int cw, int ch, int outW, int outH)
    {
        if (outW <= 0 || outH <= 0) throw new ArgumentOutOfRangeException(nameof(outW), $"output size {outW}x{outH} must be positive");
        if (cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > src.Width || y0 + ch > src.Height)
            throw new ArgumentOutOfRangeException(nameof(x0), $"box ({x0}, {y0}, {cw}x{ch}) is not inside the {src.Width}x{src.Height} image");
        int c = src.Channels;
        var dst = PixelArena.Allocate(outW * outH * c);
        if (outW == cw && outH == ch)
        {
            for (int y = 0; y < ch; y++)
                src.Pixels.AsSpan(((y0 + y) * src.Width + x0) * c, cw * c).CopyTo(dst.AsSpan(y * cw * c));
            return new ImageData(outW, outH, c, dst) { Source = src.Source };
        }
        // Rows of the box that the height pass reads.
        var vy = outH == ch ? null : Compute(ch, outH);
        int rowLen = outW * c;
        var tmp = System.Buffers.ArrayPool<float>.Shared.Rent(ch * rowLen);
        try
        {
            if (outW == cw)
            {
                for (int y = 0; y < ch; y++)
                {
                    var s = src.Pixels.AsSpan(((y0 + y) * src.Width + x0) * c, rowLen);
                    var t = tmp.AsSpan(y * rowLen, rowLen);
                    for (int i = 0; i < rowLen; i++) t[i] = s[i];
                }
            }
            else
            {
                var hx = Compute(cw, outW);
                var rowF = System.Buffers.ArrayPool<float>.Shared.Rent(cw * c + 4);
                var outF = System.Buffers.ArrayPool<float>.Shared.Rent(rowLen + 4);
                try
                {
                    for (int y = 0; y < ch; y++)
                    {
                        var srcRow = src.Pixels.AsSpan(((y0 + y) * src.Width + x0) * c, cw * c);
                        if (c >= 3)
                        {
                            ToFloat(srcRow, rowF);
                            HorizontalPixels(rowF, outF, hx, c);
                            outF.AsSpan(0, rowLen).CopyTo(tmp.AsSpan(y * rowLen, rowLen));
                        }
                        else Horizontal(srcRow, tmp.AsSpan(y * rowLen, rowLen), hx, c);
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<float>.Shared.Return(rowF);
                    System.Buffers.ArrayPool<float>.Shared.Return(outF);
                }
            }
            if (vy is null)
            {
                RoundToBytes(tmp.AsSpan(0, outH * rowLen), dst);
            }
            else
            {
                var acc = System.Buffers.ArrayPool<float>.Shared.Rent(rowLen);
                try
                {
                    for (int oy = 0; oy < outH; oy++)
                    {
                        Vertical(tmp, rowLen, vy, oy, acc.AsSpan(0, rowLen));
                        RoundToBytes(acc.AsSpan(0, rowLen), dst.AsSpan(oy * rowLen, rowLen));
                    }
                }
                finally { System.Buffers.ArrayPool<float>.Shared.Return(acc); }
            }
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(tmp); }
        return new ImageData(outW, outH, c, dst) { Source = src.Source };
    }

    /// <summary>Resizes a planar (CHW) float image: the float path of torchvision's resize (no rounding).</summary>
    internal static float[] ResizePlanar(ReadOnlySpan<float> src, int channels, int h, int w, int outH, int outW)
    {
        var dst = new float[channels * outH * outW];
        var hx = Compute(w, outW);
        var vy = Compute(h, outH);
        var tmp = new float[h * outW];
        var acc = new float[outW];
        for (int c = 0; c < channels; c++)
        {
            var plane = src.Slice(c * h * w, h * w);
            for (int y = 0; y < h; y++)
                HorizontalFloat(plane.Slice(y * w, w), tmp.AsSpan(y * outW, outW), hx);
            for (int oy = 0; oy < outH; oy++)
            {
                Vertical(tmp, outW, vy, oy, acc);
                acc.CopyTo(dst.AsSpan(c * outH * outW + oy * outW, outW));
            }
        }
        return dst;
    }

    private static void Horizontal(ReadOnlySpan<byte> row, Span<float> dst, Axis a, int c)
    {
        int taps = a.Taps;
        var wts = a.Weights;
        for (int ox = 0; ox < a.Start.Length; ox++)
        {
            int s = a.Start[ox] * c, n = a.Count[ox], wo = ox * taps;
            for (int k = 0; k < c; k++)
            {
                float acc = row[s + k] * wts[wo];
                for (int j = 1; j < n; j++) acc += row[s + j * c + k] * wts[wo + j];
                dst[ox * c + k] = acc;
            }
        }
    }

    private static void ToFloat(ReadOnlySpan<byte> src, float[] dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= src.Length - 16; i += 16)
            {
                var b = Vector128.Create(src.Slice(i, 16));
                var (lo, hi) = Vector128.Widen(b);
                var (a0, a1) = Vector128.Widen(lo);
                var (a2, a3) = Vector128.Widen(hi);
                Vector128.ConvertToSingle(a0.AsInt32()).CopyTo(dst, i);
                Vector128.ConvertToSingle(a1.AsInt32()).CopyTo(dst, i + 4);
                Vector128.ConvertToSingle(a2.AsInt32()).CopyTo(dst, i + 8);
                Vector128.ConvertToSingle(a3.AsInt32()).CopyTo(dst, i + 12);
            }
        }
        for (; i < src.Length; i++) dst[i] = src[i];
    }

    /// <summary>The width pass for 3 or 4 channels, one pixel (all channels) per vector: per lane the same
    /// multiplications and additions, in the same order, as the scalar loop. <paramref name="row"/> and
    /// <paramref name="dst"/> have 4 spare floats at their ends.</summary>
    private static void HorizontalPixels(float[] row, float[] dst, Axis a, int c)
    {
        if (!Vector128.IsHardwareAccelerated)
        {
            for (int ox = 0; ox < a.Start.Length; ox++)
            {
                int s = a.Start[ox] * c, n = a.Count[ox], wo = ox * a.Taps;
                for (int k = 0; k < c; k++)
                {
                    float acc = row[s + k] * a.Weights[wo];
                    for (int j = 1; j < n; j++) acc += row[s + j * c + k] * a.Weights[wo + j];
                    dst[ox * c + k] = acc;
                }
            }
            return;
        }
        int taps = a.Taps;
        var wts = a.Weights;
        ref float r0 = ref MemoryMarshal.GetArrayDataReference(row);
        ref float d0 = ref MemoryMarshal.GetArrayDataReference(dst);
        for (int ox = 0; ox < a.Start.Length; ox++)
        {
            int s = a.Start[ox] * c, n = a.Count[ox], wo = ox * taps;
            var acc = Vector128.LoadUnsafe(ref r0, (nuint)s) * Vector128.Create(wts[wo]);
            for (int j = 1; j < n; j++)
                acc += Vector128.LoadUnsafe(ref r0, (nuint)(s + j * c)) * Vector128.Create(wts[wo + j]);
            acc.StoreUnsafe(ref d0, (nuint)(ox * c));
        }
    }

    private static void HorizontalFloat(ReadOnlySpan<float> row, Span<float> dst, Axis a)
    {
        int taps = a.Taps;
        var wts = a.Weights;
        for (int ox = 0; ox < a.Start.Length; ox++)
        {
            int s = a.Start[ox], n = a.Count[ox], wo = ox * taps;
            float acc = row[s] * wts[wo];
            for (int j = 1; j < n; j++) acc += row[s + j] * wts[wo + j];
            dst[ox] = acc;
        }
    }

    /// <summary>acc = Σ_j w_j · tmp[row start + j], in the order libtorch sums.</summary>
    private static void Vertical(float[] tmp, int rowLen, Axis a, int oy, Span<float> acc)
    {
        int s = a.Start[oy], n = a.Count[oy], wo = oy * a.Taps;
        var first = tmp.AsSpan(s * rowLen, rowLen);
        float w0 = a.Weights[wo];
        int i = 0;
        int vlen = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated && rowLen >= vlen)
        {
            var vw0 = new Vector<float>(w0);
            for (; i <= rowLen - vlen; i += vlen)
            {
                var v = new Vector<float>(first.Slice(i)) * vw0;
                for (int j = 1; j < n; j++)
                    v += new Vector<float>(tmp, (s + j) * rowLen + i) * new Vector<float>(a.Weights[wo + j]);
                v.CopyTo(acc.Slice(i));
            }
        }
        for (; i < rowLen; i++)
        {
            float v = first[i] * w0;
            for (int j = 1; j < n; j++) v += tmp[(s + j) * rowLen + i] * a.Weights[wo + j];
            acc[i] = v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte RoundToByte(float v)
    {
        float r = MathF.Round(v);   // half to even, as torch.round
        return r <= 0 ? (byte)0 : r >= 255 ? (byte)255 : (byte)r;
    }

    private static void RoundToBytes(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var zero = Vector256<int>.Zero;
            var max = Vector256.Create(255);
            for (; i <= src.Length - 16; i += 16)
            {
                // round half to even (as torch.round), clamp to [0, 255], narrow
                var a = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Create(src.Slice(i, 8)))), zero), max);
                var b = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Create(src.Slice(i + 8, 8)))), zero), max);
                var shorts = Vector256.Narrow(a, b);      // 16 x int16, lanes in order
                var bytes = Vector256.Narrow(shorts, shorts).AsByte();
                bytes.GetLower().CopyTo(dst.Slice(i, 16));
            }
        }
        for (; i < src.Length; i++) dst[i] = RoundToByte(src[i]);
    }
}
