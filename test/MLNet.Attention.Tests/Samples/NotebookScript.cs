using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MLNet.Attention.Tests.Samples;

/// <summary>
/// Turns a Polyglot (.NET Interactive) C# notebook into a .NET 10 file-based app, so that CI runs its code as it stands:
/// <c>#r "nuget: Id, Version"</c> becomes <c>#:package Id@Version</c>; <c>#i "nuget: folder"</c> becomes a package
/// source of the nuget.config written next to the file (relative folders resolved against the notebook's folder, or
/// replaced by a given feed); <c>using</c> directives move to the top; cells that declare types (C# script allows them
/// anywhere, a file's top-level statements must come first) move to the end; markdown cells are dropped.
/// </summary>
internal static partial class NotebookScript
{
    /// <summary>The file-based app's source and the package sources named by <c>#i</c>.</summary>
    public sealed record Result(string Source, IReadOnlyList<string> Sources);

    public static Result Translate(string notebookPath, string? feedOverride = null)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(notebookPath));
        var cells = doc.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => c.GetProperty("source") is { ValueKind: JsonValueKind.Array } s ? string.Concat(s.EnumerateArray().Select(l => l.GetString())) : c.GetProperty("source").GetString() ?? "")
            .ToList();
        var directives = new List<string>();
        var usings = new List<string>();
        var statements = new StringBuilder();
        var declarations = new StringBuilder();
        var sources = new List<string>();
        string folder = Path.GetDirectoryName(Path.GetFullPath(notebookPath))!;
        int index = 0;
        foreach (var cell in cells)
        {
            index++;
            var body = new StringBuilder();
            foreach (var raw in cell.Replace("\r\n", "\n").Split('\n'))
            {
                var line = raw.TrimEnd();
                if (line.StartsWith("#!", StringComparison.Ordinal)) continue;                      // kernel magics (#!csharp)
                if (NuGetReference().Match(line) is { Success: true } r)
                {
                    directives.Add($"#:package {r.Groups[1].Value.Trim()}@{r.Groups[2].Value.Trim()}");
                    continue;
                }
                if (NuGetSource().Match(line) is { Success: true } src)
                {
                    var value = src.Groups[1].Value.Trim();
                    sources.Add(feedOverride ?? (Uri.TryCreate(value, UriKind.Absolute, out var u) && !u.IsFile ? value : Path.GetFullPath(Path.Combine(folder, value))));
                    continue;
                }
                if (line.StartsWith("#r ", StringComparison.Ordinal) || line.StartsWith("#i ", StringComparison.Ordinal))
                    throw new NotSupportedException($"{notebookPath}, code cell {index}: '{line}' — only #r \"nuget: Id, Version\" and #i \"nuget: source\" are translated");
                if (UsingDirective().IsMatch(line)) { if (!usings.Contains(line)) usings.Add(line); continue; }
                body.AppendLine(raw.TrimEnd('\r'));
            }
            var code = body.ToString().Trim();
            if (code.Length == 0) continue;
            var target = TypeDeclaration().IsMatch(code) ? declarations : statements;
            target.AppendLine($"// ---- code cell {index} ----").AppendLine(code).AppendLine();
        }
        var file = new StringBuilder();
        file.AppendLine($"// Generated from {Path.GetFileName(notebookPath)} by NotebookScript (test); do not edit.");
        foreach (var d in directives) file.AppendLine(d);
        file.AppendLine("#:property PublishAot=false");
        foreach (var u in usings) file.AppendLine(u);
        file.AppendLine().Append(statements).Append(declarations);
        return new Result(file.ToString(), sources);
    }

    [GeneratedRegex(@"^#r\s+""nuget:\s*([^,""]+),\s*([^""]+)""\s*$")]
    private static partial Regex NuGetReference();

    [GeneratedRegex(@"^#i\s+""nuget:\s*([^""]+)""\s*$")]
    private static partial Regex NuGetSource();

    [GeneratedRegex(@"^using\s+(static\s+)?[\w.]+(\s*=\s*[\w.<>]+)?\s*;\s*$")]
    private static partial Regex UsingDirective();

    // A cell that starts (after comments and attributes) with a type declaration.
    [GeneratedRegex(@"^(\s*(//[^\n]*|\[[^\n]*\])\n)*\s*((public|internal|sealed|static|abstract|partial|readonly|file)\s+)*(class|record|struct|enum|interface)\s")]
    private static partial Regex TypeDeclaration();
}
