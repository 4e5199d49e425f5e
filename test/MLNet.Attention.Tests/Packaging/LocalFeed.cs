using System.IO.Compression;

namespace MLNet.Attention.Tests.Packaging;

/// <summary>
/// The NuGet packages of this checkout, written once per test run by build/pack.sh into a temporary folder (a local
/// feed), and a private global-packages folder: a package restored by an earlier run under the same version 0.1.0 must
/// not stand in for the one just built.
/// </summary>
internal static class LocalFeed
{
    public const string Version = "0.1.0";
    private static readonly Lazy<(string Feed, TimeSpan PackTime)> s_feed = new(Pack, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<string> s_packages = new(() => ExternalProcess.NewTempFolder("nuget-packages"));

    /// <summary>The folder holding the .nupkg files.</summary>
    public static string Folder => s_feed.Value.Feed;

    /// <summary>How long build/pack.sh took.</summary>
    public static TimeSpan PackTime => s_feed.Value.PackTime;

    /// <summary>The environment of a user's dotnet command: a global-packages folder of its own.</summary>
    public static IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["NUGET_PACKAGES"] = s_packages.Value,
        ["MLNET_ATTENTION_NATIVE"] = null, // the package's own native library must be found, not one named by a variable
    };

    /// <summary>The .nupkg file of <paramref name="id"/>.</summary>
    public static string PackagePath(string id) => Path.Combine(Folder, $"{id}.{Version}.nupkg");

    /// <summary>The entries of a package, by path.</summary>
    public static IReadOnlyList<string> Entries(string id)
    {
        using var zip = ZipFile.OpenRead(PackagePath(id));
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    /// <summary>
    /// A nuget.config as a user writes it for a local feed: the folder and nuget.org, with package source mapping so that
    /// MLNet.Attention* and mlnet-attention come only from the folder (never a same-named package from elsewhere).
    /// </summary>
    public static string NuGetConfig(string feed) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <clear />
            <add key="local" value="{feed}" />
            <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
          </packageSources>
          <packageSourceMapping>
            <packageSource key="local">
              <package pattern="MLNet.Attention" />
              <package pattern="MLNet.Attention.*" />
              <package pattern="mlnet-attention" />
            </packageSource>
            <packageSource key="nuget.org">
              <package pattern="*" />
            </packageSource>
          </packageSourceMapping>
        </configuration>
        """;

    private static (string, TimeSpan) Pack()
    {
        var feed = ExternalProcess.NewTempFolder("feed");
        var r = ExternalProcess.Run("bash", [Path.Combine(ExternalProcess.RepoRoot, "build", "pack.sh"), feed], ExternalProcess.RepoRoot,
            TimeSpan.FromMinutes(10), new Dictionary<string, string?> { ["CONFIGURATION"] = "Release" }).ShouldSucceed();
        Console.WriteLine(r.Output);
        return (feed, r.Elapsed);
    }
}
