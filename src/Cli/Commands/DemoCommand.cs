using System.CommandLine;
using MLNet.Attention.Torch;

namespace MLNet.Attention.Cli.Commands;

/// <summary><c>mlnet-attention demo</c>: the foundation's main job (<see cref="FashionMnistDemo"/>), options unchanged.</summary>
internal static class DemoCommand
{
    internal static Command Create()
    {
        var epochs = Opt.Of("--epochs", "Training epochs.", 2).AtLeast(1);
        var batch = Opt.Of("--batch-size", "Images per batch.", 128).AtLeast(1);
        var lr = Opt.Number("--lr", "Peak learning rate of the one-cycle schedule.", 0.1).Positive();
        var limit = Opt.Of("--train-limit", "Train on the first N training images (0: all 60,000).", 0).AtLeast(0);
        var data = Opt.Maybe<string>("--data", "Folder with the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist).", "FOLDER");
        var output = Opt.Of("--out", "Where to write the trained weights (safetensors).", "fashion_mnist_demo.safetensors", "FILE");
        var seed = Opt.Of<ulong>("--seed", "Random seed.", 1);
        var threads = Opt.Maybe<int?>("--threads", "libtorch intra-op threads (default: the machine's cores).").AtLeast(1);
        var cmd = new Command("demo", "The main job: a 30,890-parameter SE-CNN trained on Fashion-MNIST with the tensor engine, "
            + "evaluated on the 10,000 test images, weights saved as safetensors.")
        {
            epochs, batch, lr, limit, data, output, seed, threads,
        };
        cmd.SetAction(r =>
        {
            var (log, _) = r.Writers();
            if (r.GetValue(threads) is int t) TorchRuntime.NumThreads = t;
            return FashionMnistDemo.Run(new FashionMnistDemo.Options(r.GetValue(epochs), r.GetValue(batch), r.GetValue(lr),
                r.GetValue(limit), r.GetValue(data), r.GetValue(output)!, r.GetValue(seed)), log);
        });
        return cmd;
    }
}
