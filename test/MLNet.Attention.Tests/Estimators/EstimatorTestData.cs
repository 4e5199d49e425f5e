using MLNet.Attention.Data;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// Real data for the pipeline tests: Fashion-MNIST subsets written once per test run as PNG image folders
/// (ImageFolderWriter), class-balanced, and the input/output row classes the tests read and write.
/// </summary>
internal static class EstimatorTestData
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"mlnet-estimators-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private static readonly Lazy<string> s_train = new(() => Write("train", train: true, perClass: 30));
    private static readonly Lazy<string> s_test = new(() => Write("test", train: false, perClass: 10));

    static EstimatorTestData()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Root, recursive: true); }
            catch (IOException) { }
        };
    }

    /// <summary>300 Fashion-MNIST training images as PNG files, 30 per class: Root/train/&lt;N_class&gt;/&lt;i&gt;.png.</summary>
    public static string TrainFolder => s_train.Value;

    /// <summary>100 Fashion-MNIST test images as PNG files, 10 per class.</summary>
    public static string TestFolder => s_test.Value;

    /// <summary>A fresh folder under the run's root (removed with it).</summary>
    public static string NewFolder(string tag)
    {
        var p = Path.Combine(Root, $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(p);
        return p;
    }

    private static string Write(string name, bool train, int perClass)
    {
        var idx = IdxDataset.FashionMnist(train);
        // The first perClass images of each class, in file order: a balanced, deterministic subset.
        var taken = new int[idx.ClassNames.Count];
        var keep = new List<int>();
        for (int i = 0; i < idx.Count && keep.Count < perClass * taken.Length; i++)
            if (taken[idx.Labels[i]]++ < perClass) keep.Add(i);
        var folder = Path.Combine(Root, name);
        var dirs = ImageFolderWriter.ClassFolders(folder, idx.ClassNames);
        int px = idx.Width * idx.Height;
        foreach (int i in keep)
            PngEncoder.Save(new ImageData(idx.Width, idx.Height, 1, idx.Images.AsSpan(i * px, px).ToArray()), Path.Combine(dirs[idx.Labels[i]], $"{i:D5}.png"));
        return folder;
    }

    /// <summary>A pipeline's input: an image path.</summary>
    public sealed class ImagePathInput
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>A labelled image path.</summary>
    public sealed class LabelledPath
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    /// <summary>A pipeline's output: the true label (when present), the probabilities and the predicted label.</summary>
    public sealed class Prediction
    {
        public string? Label { get; set; }
        public float[] Score { get; set; } = Array.Empty<float>();
        public string PredictedLabel { get; set; } = "";
    }

    /// <summary>The bytes of an image file, under the column name the pipeline reads its paths from.</summary>
    public sealed class ImageBytesInput
    {
        [ColumnName("ImagePath")]
        public byte[] Bytes { get; set; } = Array.Empty<byte>();
    }
}
