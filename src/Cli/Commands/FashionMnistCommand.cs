using System.CommandLine;

namespace MLNet.Attention.Cli.Commands;

/// <summary>
/// <c>mlnet-attention fashion-mnist</c>: issue 5's measured run. Its options belong to <see cref="FashionMnistBenchmarkRun"/>,
/// which parses them itself; this command passes every token after the command name through unchanged.
/// </summary>
internal static class FashionMnistCommand
{
    internal static Command Create()
    {
        var cmd = new Command("fashion-mnist", "Issue 5's measured run: a registry backbone trained through the ML.NET-style pipeline "
            + "on all 60,000 Fashion-MNIST images and evaluated on the 10,000 test images after every epoch. Its options (--model, "
            + "--width, --epochs, --batch-size, --lr, --train-limit, --json, --out, ...) are read by the run itself; an unknown option "
            + "prints the complete usage line with the defaults.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        cmd.SetAction(r =>
        {
            var (output, error) = r.Writers();
            return FashionMnistBenchmarkRun.Run([.. r.UnmatchedTokens], output, error);
        });
        return cmd;
    }
}
