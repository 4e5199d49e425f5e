using System.Globalization;

namespace MLNet.Attention.Transforms;

/// <summary>Writes image data sets out as image folders of PNG files (real files, for the ImageFolder path, demos and benchmarks).</summary>
public static class ImageFolderWriter
{
    /// <summary>
    /// Writes <paramref name="dataset"/> to <paramref name="folder"/>/&lt;NN_class&gt;/&lt;index&gt;.png, class folders prefixed
    /// with the label (zero-padded) so that <see cref="ImageDataset.FromFolder"/> reads the classes back in label order.
    /// Returns the number of files written.
    /// </summary>
    public static int WriteIdx(IdxDataset dataset, string folder, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        int n = Math.Min(limit ?? dataset.Count, dataset.Count);
        var dirs = ClassFolders(folder, dataset.ClassNames);
        int px = dataset.Width * dataset.Height, digits = Math.Max(5, n.ToString(CultureInfo.InvariantCulture).Length);
        Parallel.For(0, n, i =>
        {
            var img = new ImageData(dataset.Width, dataset.Height, 1, dataset.Images.AsSpan(i * px, px).ToArray());
            PngEncoder.Save(img, Path.Combine(dirs[dataset.Labels[i]], i.ToString("D" + digits, CultureInfo.InvariantCulture) + ".png"));
        });
        return n;
    }

    /// <summary>Fashion-MNIST (Debian's dataset-fashion-mnist, or <paramref name="idxFolder"/>) written as an image folder.</summary>
    public static int WriteFashionMnist(string folder, bool train = true, int? limit = null, string? idxFolder = null) =>
        WriteIdx(IdxDataset.FashionMnist(train, idxFolder), folder, limit);

    /// <summary>Creates one folder per class ("0_T-shirt-top", ...) and returns their paths by label.</summary>
    public static string[] ClassFolders(string folder, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        int digits = Math.Max(1, (classNames.Count - 1).ToString(CultureInfo.InvariantCulture).Length);
        var invalid = Path.GetInvalidFileNameChars();
        var dirs = new string[classNames.Count];
        for (int c = 0; c < classNames.Count; c++)
        {
            var safe = new string(classNames[c].Select(ch => invalid.Contains(ch) || ch == '/' || ch == '\\' ? '-' : ch).ToArray());
            dirs[c] = Path.Combine(folder, c.ToString("D" + digits, CultureInfo.InvariantCulture) + "_" + safe);
            Directory.CreateDirectory(dirs[c]);
        }
        return dirs;
    }
}
