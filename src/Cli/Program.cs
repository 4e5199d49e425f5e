using System.CommandLine;
using MLNet.Attention.Cli.Commands;

namespace MLNet.Attention.Cli;

/// <summary>The <c>mlnet-attention</c> executable: every subcommand is listed in <see cref="Commands"/>.</summary>
internal static class Program
{
    /// <summary>
    /// The subcommands of <c>mlnet-attention</c>, in the order <c>--help</c> lists them. Adding a command is one line here:
    /// a static method that builds a <see cref="Command"/> whose action reads <c>parseResult.InvocationConfiguration.Output</c>
    /// and <c>.Error</c> (never <see cref="Console"/>), returns the exit code (0 ok, 1 runtime failure, 2 usage error) and
    /// throws <see cref="UsageException"/> for bad arguments found after parsing.
    /// </summary>
    internal static readonly Func<Command>[] Commands =
    [
        TrainCommand.Create,
        EvaluateCommand.Create,
        PredictCommand.Create,
        InspectCommand.Create,
        ImportCommand.Create,
        CompareCommand.Create,
        ExplainCommand.Create,
        ModelsCommand.Create,
        DemoCommand.Create,
        FashionMnistCommand.Create,
    ];

    private static int Main(string[] args) => CliApp.Run(args, Console.Out, Console.Error);
}
