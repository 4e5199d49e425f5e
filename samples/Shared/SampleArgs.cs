using System.Globalization;

namespace MLNet.Attention.Samples;

/// <summary>
/// The samples' command line: <c>--name value</c> pairs, each name declared with its default, so that
/// <c>--limit 300 --epochs 1</c> runs any sample on a small subset in seconds. An unknown name, a missing or malformed
/// value is an error naming the option and what was expected; the sample then prints its usage and exits with code 2.
/// </summary>
public sealed class SampleArgs
{
    private readonly Dictionary<string, string> _defaults;
    private readonly Dictionary<string, string> _given = new(StringComparer.Ordinal);

    /// <summary>Parses <paramref name="args"/> against the options in <paramref name="defaults"/> (name → default value as text).</summary>
    public SampleArgs(string[] args, IReadOnlyDictionary<string, string> defaults)
    {
        _defaults = new Dictionary<string, string>(defaults, StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (!_defaults.ContainsKey(name))
                throw new SampleArgumentException($"unknown option '{name}'; expected one of {string.Join(", ", _defaults.Keys)}");
            if (i + 1 >= args.Length) throw new SampleArgumentException($"{name} needs a value");
            _given[name] = args[++i];
        }
    }

    /// <summary>The usage line: every option with its default.</summary>
    public static string Usage(string sample, IReadOnlyDictionary<string, string> defaults) =>
        $"usage: {sample} " + string.Join(" ", defaults.Select(d => $"[{d.Key} {(d.Value.Length == 0 ? "<none>" : d.Value)}]"));

    /// <summary>The option's text (null when neither given nor defaulted).</summary>
    public string? Text(string name) => _given.TryGetValue(name, out var v) ? v : _defaults[name] is { Length: > 0 } d ? d : null;

    /// <summary>The option as an integer >= <paramref name="min"/>; 0 commonly means "all".</summary>
    public int Int(string name, int min = 0)
    {
        var text = Text(name) ?? throw new SampleArgumentException($"{name} needs a value");
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
            throw new SampleArgumentException($"{name} must be an integer >= {min}, got '{text}'");
        return value;
    }

    /// <summary>The option as a number > 0.</summary>
    public double Positive(string name)
    {
        var text = Text(name) ?? throw new SampleArgumentException($"{name} needs a value");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0))
            throw new SampleArgumentException($"{name} must be a number > 0, got '{text}'");
        return value;
    }

    /// <summary>Runs <paramref name="main"/>; a bad option prints the error and the usage and returns 2.</summary>
    public static int Run(string sample, string[] args, IReadOnlyDictionary<string, string> defaults, Func<SampleArgs, int> main)
    {
        if (args is ["-h"] or ["--help"])
        {
            Console.WriteLine(Usage(sample, defaults));
            return 0;
        }
        try
        {
            return main(new SampleArgs(args, defaults));
        }
        catch (SampleArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine(Usage(sample, defaults));
            return 2;
        }
    }
}

/// <summary>A bad sample option (unknown name, missing or malformed value).</summary>
public sealed class SampleArgumentException(string message) : ArgumentException(message);
