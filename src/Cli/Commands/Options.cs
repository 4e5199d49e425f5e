using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace MLNet.Attention.Cli.Commands;

/// <summary>Option builders with range checks whose errors name the option (parse errors: exit code 2).</summary>
internal static class Opt
{
    public static Option<T> Of<T>(string name, string description, T defaultValue, string? helpName = null)
        => new(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = helpName };

    /// <summary>A floating-point option read with the invariant culture and no thousands separators ("1,5" is an error, not 15).</summary>
    public static Option<double> Number(string name, string description, double defaultValue, string? helpName = null)
        => new(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = helpName, CustomParser = r => ParseDouble(r) ?? 0 };

    /// <summary>An optional floating-point option (null when absent).</summary>
    public static Option<double?> MaybeNumber(string name, string description, string? helpName = null)
        => new(name) { Description = description, HelpName = helpName, CustomParser = ParseDouble };

    private static double? ParseDouble(ArgumentResult r)
    {
        if (r.Tokens.Count == 0) return null;
        string text = r.Tokens[^1].Value;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        r.AddError($"{OptionName(r)} expects a number such as 0.1 or 1e-3 (got '{text}')");
        return null;
    }

    private static string OptionName(ArgumentResult r) => r.Parent is OptionResult o ? o.Option.Name : r.Argument.Name;

    public static Option<T?> Maybe<T>(string name, string description, string? helpName = null)
        => new(name) { Description = description, HelpName = helpName };

    /// <summary>Adds a check that the option's value (when given or defaulted) satisfies <paramref name="ok"/>.</summary>
    public static Option<T> Check<T>(this Option<T> option, Func<T, bool> ok, string expected)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0 && r.Implicit) return;   // the default is valid by construction
            T value;
            try { value = r.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; }   // not convertible: the parser reports that error itself
            if (value is not null && !ok(value))
                r.AddError($"{option.Name} must be {expected} (got {Format(value)})");
        });
        return option;
    }

    /// <summary>Only these values (the error names the option and lists them; the help shows them as the value's name).</summary>
    public static Option<string> OneOf(this Option<string> o, params string[] values)
    {
        o.HelpName = string.Join('|', values);
        o.CompletionSources.Add(values);
        return o.Check(v => values.Contains(v, StringComparer.Ordinal), "one of " + string.Join(", ", values));
    }

    public static Option<int> AtLeast(this Option<int> o, int min) => o.Check(v => v >= min, $">= {min}");
    public static Option<int?> AtLeast(this Option<int?> o, int min) => o.Check(v => v is null || v >= min, $">= {min}");
    public static Option<double> Positive(this Option<double> o) => o.Check(v => double.IsFinite(v) && v > 0, "a finite number > 0");
    public static Option<double?> Positive(this Option<double?> o) => o.Check(v => v is null || (double.IsFinite(v.Value) && v > 0), "a finite number > 0");
    public static Option<double> InRange(this Option<double> o, double min, double maxExclusive)
        => o.Check(v => v >= min && v < maxExclusive, $"in [{Format(min)}, {Format(maxExclusive)})");
    public static Option<double?> InRange(this Option<double?> o, double min, double maxExclusive)
        => o.Check(v => v is null || (v >= min && v < maxExclusive), $"in [{Format(min)}, {Format(maxExclusive)})");

    private static string Format(object? v) => v switch
    {
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        null => "nothing",
        _ => v.ToString() ?? "",
    };

    /// <summary>The writers of this invocation (the tests pass their own; never <see cref="Console"/>).</summary>
    public static (TextWriter Out, TextWriter Err) Writers(this ParseResult r)
        => (r.InvocationConfiguration.Output, r.InvocationConfiguration.Error);
}
