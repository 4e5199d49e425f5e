using System.Globalization;
using MLNet.Attention.Trainers;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MLNet.Attention.Cli.Commands;

/// <summary>Spectre.Console output on the invocation's writer: live and coloured on a terminal, plain text otherwise.</summary>
internal static class Render
{
    /// <summary>
    /// Whether <paramref name="writer"/> is the process's standard output on a terminal (not redirected, not a test's
    /// writer): only then do commands show live progress and colours.
    /// </summary>
    public static bool IsTerminal(TextWriter writer) =>
        ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    /// <summary>A Spectre console writing to <paramref name="writer"/>: ANSI and interactive only on a terminal; otherwise plain, 160 columns.</summary>
    public static IAnsiConsole For(TextWriter writer)
    {
        bool terminal = IsTerminal(writer);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 160;
        return console;
    }

    public static string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);

    public static string Pct(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture) + "%";

    /// <summary>The headline metrics of one or more evaluated sets.</summary>
    public static Table Metrics(IEnumerable<(string Name, int Images, MulticlassMetrics M)> sets)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("metrics");
        t.AddColumn("set");
        foreach (var h in new[] { "images", "accuracy (micro)", "accuracy (macro)", "log-loss", "log-loss reduction", "top-k accuracy" })
            t.AddColumn(new TableColumn(h).RightAligned());
        foreach (var (name, n, m) in sets)
            t.AddRow(Markup.Escape(name), n.ToString("N0", CultureInfo.InvariantCulture), Pct(m.MicroAccuracy), Pct(m.MacroAccuracy), F(m.LogLoss),
                F(m.LogLossReduction), m.TopKPredictionCount > 0 ? $"{Pct(m.TopKAccuracy)} (top-{m.TopKPredictionCount})" : "-");
        return t;
    }

    /// <summary>Precision, recall and support of every class.</summary>
    public static Table PerClass(MulticlassMetrics m, string title)
    {
        var c = m.ConfusionMatrix;
        var t = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        t.AddColumn("class");
        t.AddColumn(new TableColumn("images").RightAligned());
        t.AddColumn(new TableColumn("precision").RightAligned());
        t.AddColumn(new TableColumn("recall").RightAligned());
        t.AddColumn(new TableColumn("log-loss").RightAligned());
        for (int i = 0; i < c.NumberOfClasses; i++)
            t.AddRow(Markup.Escape(c.ClassNames[i]), c.Counts[i].Sum().ToString("N0", CultureInfo.InvariantCulture),
                Pct(c.PerClassPrecision[i]), Pct(c.PerClassRecall[i]), F(m.PerClassLogLoss[i]));
        return t;
    }

    /// <summary>The confusion matrix: one row per true class, one column per predicted class, recall per row and precision per column.</summary>
    public static Table Confusion(ConfusionMatrix c)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("confusion matrix (rows: truth, columns: predicted)");
        t.AddColumn("truth \\ predicted");
        bool names = c.ClassNames.All(n => n.Length <= 10);
        for (int j = 0; j < c.NumberOfClasses; j++)
            t.AddColumn(new TableColumn(Markup.Escape(names ? c.ClassNames[j] : j.ToString(CultureInfo.InvariantCulture))).RightAligned());
        t.AddColumn(new TableColumn("recall").RightAligned());
        for (int i = 0; i < c.NumberOfClasses; i++)
        {
            var cells = new List<IRenderable> { new Markup(Markup.Escape($"{i}. {c.ClassNames[i]}")) };
            for (int j = 0; j < c.NumberOfClasses; j++)
            {
                string n = c.Counts[i][j].ToString("0", CultureInfo.InvariantCulture);
                cells.Add(new Markup(i == j ? $"[bold]{n}[/]" : n));
            }
            cells.Add(new Text(Pct(c.PerClassRecall[i])));
            t.AddRow(cells);
        }
        var precision = new List<IRenderable> { new Text("precision") };
        precision.AddRange(c.PerClassPrecision.Select(p => (IRenderable)new Text(Pct(p))));
        precision.Add(new Text(""));
        t.AddRow(precision);
        return t;
    }

    /// <summary>A duration as h:mm:ss (hours beyond a day included).</summary>
    public static string Duration(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}");

    /// <summary>Bytes as "1.2 MB".</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KB",
        _ => (bytes / 1024.0 / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " MB",
    };
}
