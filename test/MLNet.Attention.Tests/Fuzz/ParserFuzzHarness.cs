using System.Security.Cryptography;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>
/// One parser of untrusted bytes, as the fuzz properties see it: a name (the folder of its committed inputs under
/// test/fixtures/fuzz/), the file extension its inputs get, the call that parses a file, and which exception is the
/// parser's documented one. The only outcomes allowed are a result or that exception naming the file: any other
/// exception type, a run longer than <see cref="Timeout"/> or more than <see cref="AllowedBytes"/> allocated fails.
/// Adding a parser (the ONNX reader, say) is one more instance in <see cref="ParserTargets"/> plus its seeds.
/// </summary>
internal sealed record ParserTarget(string Name, string Extension, Func<string, object?> Parse, Type DocumentedException)
{
    /// <summary>Folders under test/fixtures/fuzz/ whose inputs are replayed through this target (default: its name).</summary>
    public string[] CorpusFolders { get; init; } = [Name];

    /// <summary>True when <paramref name="e"/> is the documented failure for <paramref name="path"/> (type and file named).</summary>
    public Func<Exception, string, bool> IsDocumented { get; init; } =
        (e, path) => e.GetType() == typeof(InvalidDataException) && e.Message.Contains(path, StringComparison.Ordinal);

    /// <summary>Wall-clock limit of one parse (a hang fails the property).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes one parse of an input of the given length may allocate (managed heap, the parsing thread).</summary>
    public Func<long, long> AllowedBytes { get; init; } = n => 64 * n + (32L << 20);
}

/// <summary>Runs one input through a <see cref="ParserTarget"/> and says what happened.</summary>
internal static class ParserFuzzHarness
{
    private static readonly string Scratch = Path.Combine(Path.GetTempPath(), $"mlnet-fuzz-{Environment.ProcessId}");

    /// <summary>Where inputs that break a property are kept (printed in the failure) to be committed as regressions.</summary>
    public static readonly string FailuresFolder = Path.Combine(Path.GetTempPath(), "mlnet-fuzz-failures");

    /// <summary>Null when <paramref name="input"/> gives an allowed outcome, otherwise what went wrong (and where the
    /// input was saved).</summary>
    public static string? Violation(ParserTarget target, byte[] input)
    {
        Directory.CreateDirectory(Scratch);
        string path = Path.Combine(Scratch, $"{target.Name}-{Environment.CurrentManagedThreadId}{target.Extension}");
        File.WriteAllBytes(path, input);
        Exception? error = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                target.Parse(path);
            }
            catch (Exception e)
            {
                error = e;
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 16 << 20) { IsBackground = true, Name = $"fuzz {target.Name}" };
        thread.Start();
        string? problem = null;
        if (!thread.Join(target.Timeout))
            problem = $"no result after {target.Timeout.TotalSeconds:F0} s (a hang)";
        else if (error is not null && !target.IsDocumented(error, path))
            problem = $"{error.GetType().FullName} instead of a {target.DocumentedException.Name} naming the file: {error}";
        else if (allocated > target.AllowedBytes(input.Length))
            problem = $"{allocated:N0} bytes allocated for a {input.Length:N0}-byte input (allowed {target.AllowedBytes(input.Length):N0})";
        if (problem is null) return null;
        Directory.CreateDirectory(FailuresFolder);
        string kept = Path.Combine(FailuresFolder, $"{target.Name}-{Convert.ToHexString(SHA1.HashData(input))[..16].ToLowerInvariant()}{target.Extension}");
        File.WriteAllBytes(kept, input);
        return $"{target.Name}: {problem} (input of {input.Length} bytes kept in {kept})";
    }

    /// <summary>Asserts an allowed outcome.</summary>
    public static void Check(ParserTarget target, byte[] input, string what)
    {
        string? v = Violation(target, input);
        if (v is not null) Assert.Fail($"{what}: {v}");
    }

    /// <summary>The committed inputs of targets: test/fixtures/fuzz/&lt;name&gt;/{corpus,crashes}/* for each name.</summary>
    public static string[] CommittedInputs(params string[] names) =>
        names.Select(n => Path.Combine(AppContext.BaseDirectory, "fixtures", "fuzz", n)).Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)).ToArray();
}
