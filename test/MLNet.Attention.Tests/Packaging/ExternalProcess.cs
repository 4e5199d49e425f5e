using System.Diagnostics;
using System.Text;

namespace MLNet.Attention.Tests.Packaging;

/// <summary>What a finished external command did.</summary>
internal sealed record ProcessResult(string Command, int ExitCode, string Output, TimeSpan Elapsed)
{
    /// <summary>The last lines of the output, for assertion messages.</summary>
    public string Tail(int lines = 40) => string.Join('\n', Output.Split('\n').TakeLast(lines));

    /// <summary>Fails the test unless the command exited with 0, showing the command and its output's tail.</summary>
    public ProcessResult ShouldSucceed()
    {
        Assert.AreEqual(0, ExitCode, $"'{Command}' exited with {ExitCode} after {Elapsed.TotalSeconds:F0} s:\n{Tail()}");
        return this;
    }

    /// <summary>The lines that start with <paramref name="prefix"/>.</summary>
    public IReadOnlyList<string> Lines(string prefix) =>
        Output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToList();
}

/// <summary>
/// Runs the dotnet CLI and other commands as a user would, from tests. The output goes to a file, not a pipe: dotnet
/// build leaves MSBuild nodes and the compiler server running, and a pipe they inherit would never reach its end.
/// The repository's test host environment (MSBuild variables set by dotnet test) is not passed on.
/// </summary>
internal static class ExternalProcess
{
    /// <summary>The repository root (the folder of MLNet.Attention.sln above the test assembly).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The build configuration of this test assembly (Release or Debug), used for the samples too.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name is { } c && c.Length > 0 ? c : "Release";

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MLNet.Attention.sln"))) return d.FullName;
        throw new InvalidOperationException($"no MLNet.Attention.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>
    /// MLNET_TEST_TIMEOUT_SCALE multiplies every command's time limit (e.g. 5 on a machine whose cores other jobs hold).
    /// </summary>
    private static double TimeoutScale =>
        double.TryParse(System.Environment.GetEnvironmentVariable("MLNET_TEST_TIMEOUT_SCALE"), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 1;

    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="args"/> in <paramref name="workingDirectory"/>; kills the
    /// whole process tree after <paramref name="timeout"/> and fails the test with the output so far.
    /// </summary>
    public static ProcessResult Run(string fileName, IEnumerable<string> args, string workingDirectory, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var argList = args.ToList();
        var log = Path.Combine(Path.GetTempPath(), $"mlnet-proc-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >\"$MLNET_TEST_LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add(fileName);
        foreach (var a in argList) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.ToList())
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || key.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
                psi.Environment.Remove(key);
        psi.Environment["MLNET_TEST_LOG"] = log;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment != null)
            foreach (var (k, v) in environment)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;

        string command = fileName + " " + string.Join(' ', argList.Select(a => a.Contains(' ') ? $"\"{a}\"" : a));
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {command}");
        timeout *= TimeoutScale;
        bool exited = p.WaitForExit(timeout);
        if (!exited)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(10_000);
        }
        sw.Stop();
        string output = File.Exists(log) ? File.ReadAllText(log, Encoding.UTF8) : "";
        try { File.Delete(log); } catch (IOException) { }
        if (!exited) Assert.Fail($"'{command}' did not finish in {timeout.TotalSeconds:F0} s (killed):\n{string.Join('\n', output.Split('\n').TakeLast(40))}");
        Console.WriteLine($"[{sw.Elapsed.TotalSeconds:F1} s] {command} -> {p.ExitCode}");
        return new ProcessResult(command, p.ExitCode, output, sw.Elapsed);
    }

    /// <summary>Runs the dotnet CLI.</summary>
    public static ProcessResult Dotnet(string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment, params string[] args) =>
        Run("dotnet", args, workingDirectory, timeout, environment);

    private static readonly System.Collections.Concurrent.ConcurrentBag<string> s_tempFolders = new();

    /// <summary>A new empty folder under the system temp folder, removed when the test run ends (<see cref="TestRunCleanup"/>).</summary>
    public static string NewTempFolder(string tag)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlnet-{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        s_tempFolders.Add(path);
        return path;
    }

    /// <summary>Removes every folder made by <see cref="NewTempFolder"/>.</summary>
    internal static void DeleteTempFolders()
    {
        while (s_tempFolders.TryTake(out var path))
        {
            try { Directory.Delete(path, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.WriteLine($"could not remove {path}: {e.Message}"); }
        }
    }
}

/// <summary>
/// End-of-run cleanup of the test assembly (MSTest allows one [AssemblyCleanup] per assembly: add other cleanups here).
/// A ProcessExit handler is not enough: the test platform may end the test host without running it.
/// </summary>
[TestClass]
public static class TestRunCleanup
{
    /// <summary>Removes the temporary folders of the packaging and samples tests (feed, NuGet cache, consumer apps, sample outputs).</summary>
    [AssemblyCleanup]
    public static void Cleanup() => ExternalProcess.DeleteTempFolders();
}
