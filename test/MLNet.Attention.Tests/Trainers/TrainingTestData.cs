using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Trainers;

/// <summary>Small real data (Fashion-MNIST subsets), a tiny registry model, and helpers shared by the engine tests.</summary>
internal static class TrainingTestData
{
    private static readonly Lazy<ImageDataset> s_train = new(() => ImageDataset.FashionMnist(train: true, limit: 256));
    private static readonly Lazy<ImageDataset> s_validation = new(() => ImageDataset.FashionMnist(train: false, limit: 128));

    /// <summary>The first 256 Fashion-MNIST training images.</summary>
    public static ImageDataset Train => s_train.Value;

    /// <summary>The first 128 Fashion-MNIST test images.</summary>
    public static ImageDataset Validation => s_validation.Value;

    /// <summary>The engine tests' settings: batches of 32, 2 epochs, SGD lr 0.05, weight decay 5e-4, seed 3, 2 workers.</summary>
    public static TrainingSettings BaseSettings => new()
    {
        BatchSize = 32, MaxEpoch = 2, LearningRate = 0.05, WeightDecay = 5e-4, Seed = 3, Workers = 2,
    };

    /// <summary>Training pipeline: a random horizontal flip, ToTensor, Fashion-MNIST normalisation.</summary>
    public static ImagePipeline TrainPipeline { get; } = ImagePipeline.FashionMnist(new RandomHorizontalFlip());

    /// <summary>Evaluation pipeline: ToTensor, Fashion-MNIST normalisation.</summary>
    public static ImagePipeline EvalPipeline { get; } = ImagePipeline.FashionMnist();

    /// <summary>ResNet-18 at 1/8 width in its small-image form, one input channel, initialised from <paramref name="seed"/>.</summary>
    public static Module<Tensor, Tensor> NewModel(ulong seed = 7, int classes = 10)
    {
        TorchRuntime.ManualSeed(seed);
        return ModelRegistry.Create("resnet18", new BackboneOptions(NumClasses: classes, InChannels: 1, SmallImage: true, WidthMultiplier: 0.125));
    }

    /// <summary>The bytes of every state-dict tensor, in order.</summary>
    public static byte[][] Snapshot(Module model) => model.StateDict().Select(p => p.Value.ToBytes()).ToArray();

    /// <summary>True when both snapshots are equal byte for byte.</summary>
    public static bool SameWeights(byte[][] a, byte[][] b) => a.Length == b.Length && a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second));

    /// <summary>A fresh folder under the temp folder, deleted on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        public TempFolder() => Directory.CreateDirectory(Path);

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mlnet-trainers-{Guid.NewGuid():N}");

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}

/// <summary>Wraps a model and lets a test act on the n-th forward pass (inject a NaN, cancel a token).</summary>
internal sealed class HookedModel : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> _inner;

    public HookedModel(Module<Tensor, Tensor> inner) => _inner = RegisterModule("inner", inner);

    /// <summary>Forward passes so far.</summary>
    public int Calls { get; private set; }

    /// <summary>Called with the pass number (from 1) and the output; returns the output to use.</summary>
    public Func<int, Tensor, Tensor>? OnForward { get; set; }

    public override Tensor Forward(Tensor input)
    {
        Calls++;
        var y = _inner.Forward(input);
        return OnForward is null ? y : OnForward(Calls, y);
    }
}
