using System.Globalization;
using MLNet.Attention.Backbones.Models;

namespace MLNet.Attention.Cli;

/// <summary><c>mlnet-attention models</c>: the registry with parameter counts and multiply-adds at an input size.</summary>
internal static class ModelsCommand
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        int size = 224, classes = 1000;
        bool markdown = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--image-size": size = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--classes": classes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--markdown": markdown = true; break;
                    default: throw new ArgumentException($"unknown option '{args[i]}'");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                error.WriteLine($"error: {e.Message}");
                return 2;
            }
        }
        if (size < 16 || classes < 1)
        {
            error.WriteLine("error: --image-size must be >= 16 and --classes >= 1");
            return 2;
        }
        var options = new BackboneOptions(NumClasses: classes);
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
        return 0;
    }
}
