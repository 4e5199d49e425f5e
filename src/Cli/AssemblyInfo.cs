using System.Runtime.CompilerServices;

// The tests run every command in-process through CliApp.Run(args, output, error).
[assembly: InternalsVisibleTo("MLNet.Attention.Tests")]
