using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Reflection;

namespace MLNet.Attention.Cli;

/// <summary>An error in the command line found after parsing (a missing file, an inconsistent option): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Exit codes of every command.</summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>A runtime failure: a corrupt model file, an unreadable image, training divergence, libtorch missing.</summary>
    public const int Failure = 1;
    /// <summary>A usage error: an unknown command or option, a missing or invalid value, a file that does not exist.</summary>
    public const int Usage = 2;
}

/// <summary>The command line as a function of its arguments and two writers (what <c>Main</c> and the tests call).</summary>
internal static class CliApp
{
    /// <summary>The root command with every entry of <see cref="Program.Commands"/>.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "mlnet-attention: train, evaluate, inspect and run attention CNN backbones (EPSANet, SE-ResNet, CBAM, ...) on images. "
            + "Exit codes: 0 success, 1 runtime failure (corrupt model, unreadable image, divergence), 2 usage error.");
        foreach (var create in Program.Commands) root.Subcommands.Add(create());
        return root;
    }

    /// <summary>Parses <paramref name="args"/>, runs the command and returns its exit code; writes only to the two writers.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        var root = BuildRoot();
        var parse = root.Parse(args);
        // No process-termination handling here: System.CommandLine listens for signals only once an action's task is pending,
        // and the actions run synchronously (libtorch on the main thread); train handles Ctrl+C/SIGTERM itself.
        var config = new InvocationConfiguration
        {
            Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
        };
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke(config);
            return ExitCodes.Usage;
        }
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            var errors = parse.Errors.Select(e => Describe(e, parse)).ToList();
            if (errors.Count > 1) errors.RemoveAll(m => m.StartsWith("Required command was not provided", StringComparison.Ordinal));
            foreach (var e in errors) error.WriteLine($"error: {e}");
            string path = CommandPath(parse.CommandResult.Command, root);
            error.WriteLine($"Run '{path} --help' for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(config);
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine($"Run '{CommandPath(parse.CommandResult.Command, root)} --help' for usage.");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (Unwrap(e) is var inner && inner is not OutOfMemoryException)
        {
            error.WriteLine($"error: {inner.Message}");
            if (Environment.GetEnvironmentVariable("MLNET_ATTENTION_DEBUG") == "1") error.WriteLine(inner);
            return ExitCodes.Failure;
        }
    }

    /// <summary>A parse error, with System.CommandLine's "Required argument missing for command" turned into one that names the argument.</summary>
    private static string Describe(ParseError e, ParseResult parse)
    {
        if (!e.Message.StartsWith("Required argument missing for command", StringComparison.Ordinal)) return e.Message;
        var missing = parse.CommandResult.Command.Arguments
            .Where(a => a.Arity.MinimumNumberOfValues > 0 && (parse.GetResult(a) is not { } r || r.Tokens.Count == 0))
            .Select(a => $"<{a.Name}>{(a.Description is null ? "" : $" ({a.Description})")}").ToList();
        return missing.Count == 0 ? e.Message : $"missing {string.Join(", ", missing)} for '{parse.CommandResult.Command.Name}'";
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is TargetInvocationException or AggregateException && e.InnerException is not null) e = e.InnerException!;
        return e;
    }

    private static string CommandPath(Command command, RootCommand root)
        => command == root ? "mlnet-attention" : $"mlnet-attention {command.Name}";
}
