using System.CommandLine;
using System.Globalization;
using MLNet.Attention.Backbones.Models;

namespace MLNet.Attention.Cli.Commands;

/// <summary><c>mlnet-attention models</c>: the registry with parameter counts and multiply-adds at an input size.</summary>
internal static class ModelsCommand
{
    internal static Command Create()
    {
        var size = Opt.Of("--image-size", "Input side in pixels for the multiply-add count.", 224, "PIXELS").AtLeast(16);
        var classes = Opt.Of("--classes", "Classes of the classifier head.", 1000).AtLeast(1);
        var width = Opt.Number("--width", "Width multiplier the counts are measured at.", 1.0).Check(w => w > 0 && w <= 8, "in (0, 8]");
        var small = new Option<bool>("--small-image") { Description = "Measure the small-image form (3x3 stride-1 stem, no max-pool)." };
        var markdown = new Option<bool>("--markdown") { Description = "Print a Markdown table (with descriptions)." };
        var cmd = new Command("models", "List every registry backbone with its family, parameters and GMACs at an input size.")
        {
            size, classes, width, small, markdown,
        };
        cmd.SetAction(r =>
        {
            var (output, _) = r.Writers();
            Run(new BackboneOptions(NumClasses: r.GetValue(classes), SmallImage: r.GetValue(small), WidthMultiplier: r.GetValue(width)), r.GetValue(size), r.GetValue(markdown), output);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    internal static void Run(BackboneOptions options, int size, bool markdown, TextWriter output)
    {
        if (markdown)
        {
            output.WriteLine($"| model | family | params (M) | GMACs @{size} | description |");
            output.WriteLine("|---|---|---:|---:|---|");
        }
        foreach (var m in ModelRegistry.All)
        {
            string p, f;
            try
            {
                var (parameters, macs) = ModelRegistry.Measure(m.Name, options, size);
                p = (parameters / 1e6).ToString("F2", CultureInfo.InvariantCulture);
                f = (macs / 1e9).ToString("F2", CultureInfo.InvariantCulture);
            }
            catch (ArgumentException e)
            {
                p = "-";
                f = $"n/a ({e.Message.Split('.')[0]})";
            }
            output.WriteLine(markdown ? $"| {m.Name} | {m.Family} | {p} | {f} | {m.Description} |" : $"{m.Name,-20} {m.Family,-20} {p,8}M {f,8} GMACs");
        }
    }
}
