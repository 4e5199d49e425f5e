namespace MLNet.Attention.Visualization;

/// <summary>
/// A colormap: a value in [0, 1] to a colour (values outside are clamped; NaN maps to the lowest colour).
/// <see cref="Jet"/> is matplotlib's jet evaluated exactly on its piecewise-linear segments; <see cref="Viridis"/>
/// interpolates 33 of the 256 entries of matplotlib's viridis table (every 8th and the last; within 2/255 of the full
/// table everywhere); <see cref="Blues"/> is ColorBrewer's 9-class Blues; <see cref="Gray"/> runs black to white.
/// </summary>
public sealed class Colormap
{
    private readonly (double T, double R, double G, double B)[][] _channels;

    private Colormap(string name, (double T, double R, double G, double B)[][] channels)
    {
        Name = name; _channels = channels;
    }

    /// <summary>The colormap's name ("jet", "viridis", "blues", "gray").</summary>
    public string Name { get; }

    /// <summary>matplotlib's jet: dark blue, blue, cyan, yellow, red, dark red.</summary>
    public static Colormap Jet { get; } = Segmented("jet",
        new[] { (0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5) },
        new[] { (0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0) },
        new[] { (0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0) });

    /// <summary>matplotlib's viridis (perceptually uniform, dark purple to yellow).</summary>
    public static Colormap Viridis { get; } = Listed("viridis", new double[,]
    {
        { 0.267004, 0.004874, 0.329415 }, { 0.277018, 0.050344, 0.375715 }, { 0.282327, 0.094955, 0.417331 },
        { 0.282884, 0.135920, 0.453427 }, { 0.278826, 0.175490, 0.483397 }, { 0.270595, 0.214069, 0.507052 },
        { 0.258965, 0.251537, 0.524736 }, { 0.244972, 0.287675, 0.537260 }, { 0.229739, 0.322361, 0.545706 },
        { 0.214298, 0.355619, 0.551184 }, { 0.199430, 0.387607, 0.554642 }, { 0.185556, 0.418570, 0.556753 },
        { 0.172719, 0.448791, 0.557885 }, { 0.160665, 0.478540, 0.558115 }, { 0.149039, 0.508051, 0.557250 },
        { 0.137770, 0.537492, 0.554906 }, { 0.127568, 0.566949, 0.550556 }, { 0.120565, 0.596422, 0.543611 },
        { 0.120638, 0.625828, 0.533488 }, { 0.132268, 0.655014, 0.519661 }, { 0.157851, 0.683765, 0.501686 },
        { 0.196571, 0.711827, 0.479221 }, { 0.246070, 0.738910, 0.452024 }, { 0.304148, 0.764704, 0.419943 },
        { 0.369214, 0.788888, 0.382914 }, { 0.440137, 0.811138, 0.340967 }, { 0.515992, 0.831158, 0.294279 },
        { 0.595839, 0.848717, 0.243329 }, { 0.678489, 0.863742, 0.189503 }, { 0.762373, 0.876424, 0.137064 },
        { 0.845561, 0.887322, 0.099702 }, { 0.926106, 0.897330, 0.104071 }, { 0.993248, 0.906157, 0.143936 },
    }, Enumerable.Range(0, 32).Select(i => i * 8 / 255.0).Append(1.0).ToArray());

    /// <summary>ColorBrewer's sequential Blues (9 classes), near-white to dark blue.</summary>
    public static Colormap Blues { get; } = Listed("blues", new double[,]
    {
        { 0xf7, 0xfb, 0xff }, { 0xde, 0xeb, 0xf7 }, { 0xc6, 0xdb, 0xef }, { 0x9e, 0xca, 0xe1 }, { 0x6b, 0xae, 0xd6 },
        { 0x42, 0x92, 0xc6 }, { 0x21, 0x71, 0xb5 }, { 0x08, 0x51, 0x9c }, { 0x08, 0x30, 0x6b },
    }, null, scale: 1 / 255.0);

    /// <summary>Black to white.</summary>
    public static Colormap Gray { get; } = Segmented("gray", new[] { (0.0, 0.0), (1.0, 1.0) }, new[] { (0.0, 0.0), (1.0, 1.0) }, new[] { (0.0, 0.0), (1.0, 1.0) });

    /// <summary>The colormap called <paramref name="name"/> (jet, viridis, blues, gray; any case).</summary>
    /// <exception cref="ArgumentException">No colormap has that name.</exception>
    public static Colormap FromName(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "jet" => Jet,
        "viridis" => Viridis,
        "blues" => Blues,
        "gray" or "grey" => Gray,
        _ => throw new ArgumentException($"unknown colormap '{name}': expected jet, viridis, blues or gray", nameof(name)),
    };

    /// <summary>The (r, g, b) in [0, 1] of <paramref name="t"/>.</summary>
    public (double R, double G, double B) Evaluate(double t)
    {
        t = double.IsNaN(t) ? 0 : Math.Clamp(t, 0, 1);
        return (Channel(_channels[0], t), Channel(_channels[1], t), Channel(_channels[2], t));
    }

    /// <summary>The opaque colour of <paramref name="t"/>.</summary>
    public Rgba Map(double t)
    {
        var (r, g, b) = Evaluate(t);
        return Rgba.FromUnit(r, g, b);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    private static double Channel((double T, double R, double G, double B)[] knots, double t)
    {
        // knots hold (t, value) in T and R
        int hi = 1;
        while (hi < knots.Length - 1 && knots[hi].T < t) hi++;
        var (t0, v0, _, _) = knots[hi - 1];
        var (t1, v1, _, _) = knots[hi];
        return t1 > t0 ? v0 + (v1 - v0) * Math.Clamp((t - t0) / (t1 - t0), 0, 1) : v1;
    }

    private static Colormap Segmented(string name, (double, double)[] r, (double, double)[] g, (double, double)[] b) =>
        new(name, new[] { r, g, b }.Select(k => k.Select(p => (p.Item1, p.Item2, 0.0, 0.0)).ToArray()).ToArray());

    private static Colormap Listed(string name, double[,] colors, double[]? positions, double scale = 1)
    {
        int n = colors.GetLength(0);
        positions ??= Enumerable.Range(0, n).Select(i => i / (double)(n - 1)).ToArray();
        var channels = new (double, double, double, double)[3][];
        for (int c = 0; c < 3; c++)
        {
            channels[c] = new (double, double, double, double)[n];
            for (int i = 0; i < n; i++) channels[c][i] = (positions[i], colors[i, c] * scale, 0, 0);
        }
        return new(name, channels);
    }
}
