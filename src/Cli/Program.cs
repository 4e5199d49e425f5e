using System.Globalization;
using MLNet.Attention.Cli;

// mlnet-attention demo [--epochs N] [--batch-size N] [--lr X] [--train-limit N] [--data FOLDER] [--out FILE] [--seed N] [--threads N]
// The full command line (train/evaluate/predict/compare) arrives with the estimators; this is the foundation's job.
static int Usage(TextWriter w, int code)
{
    w.WriteLine("usage: mlnet-attention models [--image-size 224] [--classes 1000] [--markdown]");
    w.WriteLine("       mlnet-attention fashion-mnist [--model epsanet50] [--width 0.25] [--epochs 1] [--batch-size 128] [--lr 0.1] [--train-limit 0]");
    w.WriteLine("       mlnet-attention demo [--epochs 2] [--batch-size 128] [--lr 0.1] [--train-limit 0 (all)] [--data /usr/share/datasets/fashion-mnist] [--out fashion_mnist_demo.safetensors] [--seed 1] [--threads <cores>]");
    return code;
}

var rest = args.ToList();
if (rest.Count > 0 && (rest[0] is "-h" or "--help" or "help")) return Usage(Console.Out, 0);
if (rest.Count > 0 && rest[0] == "fashion-mnist") return FashionMnistBenchmarkRun.Run(rest.Skip(1).ToArray(), Console.Out, Console.Error);
if (rest.Count > 0 && rest[0] == "models") return ModelsCommand.Run(rest.Skip(1).ToArray(), Console.Out, Console.Error);
if (rest.Count > 0 && rest[0] == "demo") rest.RemoveAt(0);
else if (rest.Count > 0 && !rest[0].StartsWith("--", StringComparison.Ordinal)) { Console.Error.WriteLine($"unknown command '{rest[0]}'"); return Usage(Console.Error, 2); }

int epochs = 2, batch = 128, limit = 0;
double lr = 0.1;
ulong seed = 1;
string? data = null;
string output = "fashion_mnist_demo.safetensors";
try
{
    for (int i = 0; i < rest.Count; i++)
    {
        string Next() => i + 1 < rest.Count ? rest[++i] : throw new ArgumentException($"{rest[i]} needs a value");
        switch (rest[i])
        {
            case "--epochs": epochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--batch-size": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--lr": lr = double.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--train-limit": limit = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--data": data = Next(); break;
            case "--out": output = Next(); break;
            case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--threads": MLNet.Attention.Torch.TorchRuntime.NumThreads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            default: throw new ArgumentException($"unknown option '{rest[i]}'");
        }
    }
    if (epochs < 1) throw new ArgumentException("--epochs must be >= 1");
    if (batch < 1) throw new ArgumentException("--batch-size must be >= 1");
    if (!(lr > 0)) throw new ArgumentException("--lr must be > 0");
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return Usage(Console.Error, 2);
}

try
{
    return FashionMnistDemo.Run(new FashionMnistDemo.Options(epochs, batch, lr, limit, data, output, seed), Console.Out);
}
catch (Exception e) when (e is FileNotFoundException or InvalidDataException or DllNotFoundException or MLNet.Attention.Torch.TorchException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
