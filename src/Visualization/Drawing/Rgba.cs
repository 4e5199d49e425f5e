using System.Globalization;

namespace MLNet.Attention.Visualization;

/// <summary>An 8-bit colour with straight (not premultiplied) alpha.</summary>
/// <param name="R">Red, 0–255.</param>
/// <param name="G">Green, 0–255.</param>
/// <param name="B">Blue, 0–255.</param>
/// <param name="A">Opacity, 0 (transparent) – 255 (opaque).</param>
public readonly record struct Rgba(byte R, byte G, byte B, byte A = 255)
{
    /// <summary>Opaque white.</summary>
    public static Rgba White => new(255, 255, 255);
    /// <summary>Opaque black.</summary>
    public static Rgba Black => new(0, 0, 0);
    /// <summary>Fully transparent.</summary>
    public static Rgba Transparent => new(0, 0, 0, 0);

    /// <summary>The colour of a "#rrggbb" or "#rrggbbaa" string.</summary>
    /// <exception cref="FormatException">The text is not of that form.</exception>
    public static Rgba Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var h = hex.StartsWith('#') ? hex[1..] : hex;
        if (h.Length is not (6 or 8) || !uint.TryParse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint v))
            throw new FormatException($"'{hex}' is not a colour of the form #rrggbb or #rrggbbaa");
        if (h.Length == 6) v = (v << 8) | 0xFF;
        return new((byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v);
    }

    /// <summary>The colour from components in [0, 1] (clamped, rounded).</summary>
    public static Rgba FromUnit(double r, double g, double b, double a = 1) => new(ToByte(r), ToByte(g), ToByte(b), ToByte(a));

    internal static byte ToByte(double v) => (byte)Math.Clamp((int)Math.Round(v * 255.0), 0, 255);

    /// <summary>The same colour with opacity <paramref name="alpha"/> (0–1).</summary>
    public Rgba WithAlpha(double alpha) => this with { A = ToByte(alpha) };

    /// <summary>A linear mix: this colour at t = 0, <paramref name="other"/> at t = 1.</summary>
    public Rgba Lerp(Rgba other, double t) => new(
        (byte)Math.Round(R + (other.R - R) * t), (byte)Math.Round(G + (other.G - G) * t),
        (byte)Math.Round(B + (other.B - B) * t), (byte)Math.Round(A + (other.A - A) * t));

    /// <summary>Relative luminance in [0, 1] (Rec. 709 weights on the 8-bit values), to pick a readable text colour.</summary>
    public double Luminance => (0.2126 * R + 0.7152 * G + 0.0722 * B) / 255.0;

    /// <summary>"#rrggbb" (the opacity is written separately in SVG).</summary>
    public string Hex => string.Create(CultureInfo.InvariantCulture, $"#{R:x2}{G:x2}{B:x2}");

    /// <inheritdoc/>
    public override string ToString() => A == 255 ? Hex : string.Create(CultureInfo.InvariantCulture, $"{Hex}{A:x2}");
}
