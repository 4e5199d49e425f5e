using System.Globalization;
using MLNet.Attention.Data;
using MLNet.Attention.Transforms;

namespace MLNet.Attention;

/// <summary>Loading data into views, splitting them, and reading them back as objects (ML.NET's <c>DataOperationsCatalog</c>).</summary>
public sealed class DataOperationsCatalog
{
    private readonly MLContext _env;

    internal DataOperationsCatalog(MLContext env) => _env = env;

    /// <summary>A train/test pair of views (ML.NET's <c>TrainTestData</c>).</summary>
    public sealed class TrainTestData
    {
        internal TrainTestData(IDataView trainSet, IDataView testSet)
        {
            TrainSet = trainSet; TestSet = testSet;
        }

        /// <summary>The training rows.</summary>
        public IDataView TrainSet { get; }
        /// <summary>The test rows.</summary>
        public IDataView TestSet { get; }
    }

    /// <summary>
    /// An image folder in torchvision's ImageFolder layout (<paramref name="folder"/>/&lt;class&gt;/…/&lt;image&gt;) as a
    /// view of two text columns: the image path and the label (the class folder's name). Nothing is decoded here.
    /// </summary>
    public IDataView LoadFromImageFolder(string folder, string imagePathColumnName = "ImagePath", string labelColumnName = DefaultColumnNames.Label,
        bool recursive = true, IReadOnlyList<string>? classes = null, BadInputPolicy onBadInput = BadInputPolicy.Throw)
    {
        var ds = ImageDataset.FromFolder(folder, new ImageFolderOptions { Recursive = recursive, Classes = classes, OnBadInput = onBadInput });
        Report(ds, folder);
        return new ImageDatasetDataView(ds, imagePathColumnName, labelColumnName);
    }

    /// <summary>
    /// A CSV or TSV file of (image path, label) rows as a view of two text columns; relative paths are resolved against
    /// <paramref name="imageFolder"/> (default: the file's folder). The separator (null: detected) and header (null:
    /// detected) are as <see cref="ImageDataset.FromCsv"/> reads them.
    /// </summary>
    public IDataView LoadFromTextFile(string path, char? separatorChar = null, bool? hasHeader = null, string imagePathColumnName = "ImagePath",
        string labelColumnName = DefaultColumnNames.Label, string? imageFolder = null, BadInputPolicy onBadInput = BadInputPolicy.Throw)
    {
        var ds = ImageDataset.FromCsv(path, new CsvSourceOptions { Separator = separatorChar, HasHeader = hasHeader, ImageFolder = imageFolder, OnBadInput = onBadInput });
        Report(ds, path);
        return new ImageDatasetDataView(ds, imagePathColumnName, labelColumnName);
    }

    /// <summary>
    /// A delimited text file read into the members of <typeparamref name="TInput"/> by their
    /// <see cref="LoadColumnAttribute"/> (ML.NET's generic <c>LoadFromTextFile</c>); read lazily by every cursor.
    /// </summary>
    public IDataView LoadFromTextFile<TInput>(string path, char separatorChar = ',', bool hasHeader = false) where TInput : class, new() =>
        new TextLoaderDataView<TInput>(path, separatorChar, hasHeader);

    /// <summary>Objects in memory as a view (ML.NET's <c>LoadFromEnumerable</c>): one column per public field or property; enumerated again by every cursor.</summary>
    public IDataView LoadFromEnumerable<TRow>(IEnumerable<TRow> data, DataViewSchema? schemaDefinition = null) where TRow : class =>
        new EnumerableDataView<TRow>(data, schemaDefinition);

    /// <summary>IDX files (MNIST layout: N×H×W images, N labels) as a view of an image column (gray, decoded on demand) and a text label column.</summary>
    public IDataView LoadFromIdx(string imagesPath, string labelsPath, IReadOnlyList<string>? classNames = null,
        string imageColumnName = "Image", string labelColumnName = DefaultColumnNames.Label)
    {
        var idx = IdxDataset.Load(imagesPath, labelsPath, classNames);
        return new ImageDatasetDataView(ImageDataset.FromIdx(idx), imageColumnName, labelColumnName, idx.Height, idx.Width, 1);
    }

    /// <summary>Fashion-MNIST (60,000 training or 10,000 test images, 28×28 gray) from Debian's dataset-fashion-mnist or
    /// <paramref name="folder"/>, the first <paramref name="limit"/> images, as <see cref="LoadFromIdx"/> gives them.</summary>
    public IDataView LoadFashionMnist(bool train = true, int? limit = null, string? folder = null,
        string imageColumnName = "Image", string labelColumnName = DefaultColumnNames.Label)
    {
        var idx = IdxDataset.FashionMnist(train, folder);
        if (limit is { } n) idx = idx.Take(n);
        return new ImageDatasetDataView(ImageDataset.FromIdx(idx), imageColumnName, labelColumnName, idx.Height, idx.Width, 1);
    }

    private void Report(ImageDataset ds, string source)
    {
        _env.WriteLog("DataOperationsCatalog", $"'{source}': {ds.Count} images, {ds.ClassNames.Count} classes");
        if (ds.Report.Count > 0) _env.WriteLog("DataOperationsCatalog", $"'{source}': skipped {ds.Report}", LogKind.Warning);
    }

    /// <summary>
    /// Splits <paramref name="data"/> into train and test rows (ML.NET's <c>TrainTestSplit</c>), shuffled by
    /// <paramref name="seed"/> (null: the context's). Rows with the same <paramref name="samplingKeyColumnName"/> value
    /// stay on one side. With <paramref name="stratified"/>, every class of <paramref name="labelColumnName"/> is split in
    /// the same proportion. Both parts keep the original row order and are lazy.
    /// </summary>
    public TrainTestData TrainTestSplit(IDataView data, double testFraction = 0.1, string? samplingKeyColumnName = null, int? seed = null,
        bool stratified = false, string labelColumnName = DefaultColumnNames.Label)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!(testFraction > 0 && testFraction < 1)) throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "testFraction must be in (0, 1)");
        if (stratified && samplingKeyColumnName is not null) throw new ArgumentException("choose either a sampling key column or stratification", nameof(stratified));
        var keyName = samplingKeyColumnName ?? (stratified ? labelColumnName : null);
        DataViewSchema.Column? key = null;
        if (keyName is not null)
            key = data.Schema.GetColumnOrNull(keyName)
                ?? throw new ArgumentOutOfRangeException(stratified ? nameof(labelColumnName) : nameof(samplingKeyColumnName),
                    $"TrainTestSplit: column '{keyName}' not found (columns: {data.Schema.Describe()})");
        if (key is { Type: not PrimitiveDataViewType } k)
            throw new ArgumentOutOfRangeException(nameof(samplingKeyColumnName), $"TrainTestSplit: column '{k.Name}' is {k.Type}; a {(stratified ? "label" : "sampling key")} must be a scalar (text or number)");
        var keys = new List<string>();
        using (var cursor = data.GetRowCursor(key is { } c ? new[] { c } : Array.Empty<DataViewSchema.Column>()))
        {
            var get = key is { } kc ? RowAccess.Boxed(cursor, kc) : null;
            while (cursor.MoveNext()) keys.Add(get is null ? cursor.Position.ToString(CultureInfo.InvariantCulture) : Convert.ToString(get(), CultureInfo.InvariantCulture) ?? "");
        }
        if (keys.Count < 2) throw new ArgumentException($"TrainTestSplit: the data has {keys.Count} row(s); nothing to split", nameof(data));
        var rng = new Random(seed ?? _env.Seed ?? _env.NextSeed());
        var test = new List<int>();
        if (stratified)
        {
            var groups = Enumerable.Range(0, keys.Count).GroupBy(i => keys[i], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
            int total = (int)Math.Round(keys.Count * testFraction, MidpointRounding.AwayFromZero);
            var exact = groups.Select(g => g.Length * testFraction).ToArray();
            var counts = exact.Select(e => (int)Math.Floor(e)).ToArray();
            foreach (int g in Enumerable.Range(0, groups.Length).OrderByDescending(g => exact[g] - counts[g]).ThenBy(g => g))
                if (counts.Sum() < total && counts[g] < groups[g].Length) counts[g]++;
            for (int g = 0; g < groups.Length; g++)
            {
                rng.Shuffle(groups[g]);
                test.AddRange(groups[g].Take(counts[g]));
            }
        }
        else
        {
            // Whole groups of equal keys (single rows without a key) in random order until the test part is full.
            var groups = Enumerable.Range(0, keys.Count).GroupBy(i => keys[i], StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
            rng.Shuffle(groups);
            int target = (int)Math.Round(keys.Count * testFraction, MidpointRounding.AwayFromZero);
            foreach (var g in groups)
            {
                if (test.Count >= target) break;
                test.AddRange(g);
            }
        }
        var testSet = test.ToHashSet();
        if (testSet.Count == 0 || testSet.Count == keys.Count)
            throw new ArgumentException($"TrainTestSplit: testFraction {testFraction} of {keys.Count} rows leaves one part empty", nameof(testFraction));
        return new TrainTestData(new RowSubsetDataView(data, Enumerable.Range(0, keys.Count).Where(i => !testSet.Contains(i))), new RowSubsetDataView(data, testSet));
    }

    /// <summary>
    /// The rows of <paramref name="data"/> as objects of <typeparamref name="TRow"/> (ML.NET's <c>CreateEnumerable</c>):
    /// each writable member reads the column of its name (or <see cref="ColumnNameAttribute"/>). A member without a
    /// column is an error naming both unless <paramref name="ignoreMissingColumns"/>; a type mismatch is always one.
    /// </summary>
    public IEnumerable<TRow> CreateEnumerable<TRow>(IDataView data, bool reuseRowObject = false, bool ignoreMissingColumns = false) where TRow : class, new()
    {
        ArgumentNullException.ThrowIfNull(data);
        var mapper = new RowToObjectMapper<TRow>(data.Schema, ignoreMissingColumns);
        return Enumerate(data, mapper, reuseRowObject);
    }

    private static IEnumerable<TRow> Enumerate<TRow>(IDataView data, RowToObjectMapper<TRow> mapper, bool reuse) where TRow : class, new()
    {
        using var cursor = data.GetRowCursor(mapper.Columns);
        var read = mapper.MakeReader(cursor);
        TRow? row = null;
        while (cursor.MoveNext())
        {
            row = read(reuse ? row : null);
            yield return row;
        }
    }
}
