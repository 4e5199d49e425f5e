using System.Globalization;

namespace MLNet.Attention.Transforms;

/// <summary>Options of <see cref="ImageDataset.FromFolder"/>.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>File extensions taken as images (default <see cref="ImageDecoder.Extensions"/>); other files are ignored, as torchvision's ImageFolder does.</summary>
    public IReadOnlySet<string>? Extensions { get; init; }
    /// <summary>The classes and their order (e.g. the training set's, for a validation folder). Null: every subfolder, sorted ordinally.</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary>What to do with a class folder without images, or (with <see cref="Classes"/>) a folder of an unknown class.</summary>
    public BadInputPolicy OnBadInput { get; init; } = BadInputPolicy.Throw;
    /// <summary>Take images from nested folders of a class folder too (default true, as torchvision).</summary>
    public bool Recursive { get; init; } = true;
}

/// <summary>Options of <see cref="ImageDataset.FromCsv"/>.</summary>
public sealed record CsvSourceOptions
{
    /// <summary>The field separator; null: tab for .tsv files, otherwise whichever of ',', ';', tab the first line has.</summary>
    public char? Separator { get; init; }
    /// <summary>Whether the first line names the columns; null: it does when its path field has no image extension.</summary>
    public bool? HasHeader { get; init; }
    /// <summary>The folder relative paths are resolved against; null: the CSV file's folder.</summary>
    public string? ImageFolder { get; init; }
    /// <summary>The path column's name (needs a header) — or null for <see cref="PathColumnIndex"/>.</summary>
    public string? PathColumn { get; init; }
    /// <summary>The label column's name (needs a header) — or null for <see cref="LabelColumnIndex"/>.</summary>
    public string? LabelColumn { get; init; }
    /// <summary>Zero-based index of the path column (default 0).</summary>
    public int PathColumnIndex { get; init; }
    /// <summary>Zero-based index of the label column (default 1).</summary>
    public int LabelColumnIndex { get; init; } = 1;
    /// <summary>The classes and their order (the training set's for validation/test files): a label not among them is
    /// an <see cref="BadInputKind.UnknownLabel"/>. Null: the distinct labels, sorted (numerically when all are integers).</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary>What to do with malformed lines and unknown labels.</summary>
    public BadInputPolicy OnBadInput { get; init; } = BadInputPolicy.Throw;
}

/// <summary>The three parts of a split.</summary>
/// <param name="Train">Training part.</param>
/// <param name="Validation">Validation part (may be empty).</param>
/// <param name="Test">Test part (may be empty).</param>
public sealed record DatasetSplits(ImageDataset Train, ImageDataset Validation, ImageDataset Test);

/// <summary>
/// A labelled image data set: a list of (<see cref="ImageSource"/>, label index) and the class names. Made from an
/// image folder (one subfolder per class), a CSV/TSV of path and label, rows in memory, or IDX files; listing checks
/// the layout, decoding happens when the images are loaded (<see cref="ImageBatchLoader"/>).
/// </summary>
public sealed class ImageDataset : IReadOnlyList<ImageSample>
{
    private readonly ImageSample[] _samples;

    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>What was skipped while listing: with <see cref="BadInputPolicy.Skip"/>, and whatever the policy a FIFO,
    /// device or socket named like an image (reading it could block forever).</summary>
    public BadInputReport Report { get; }

    /// <summary>A data set of <paramref name="samples"/> whose labels index <paramref name="classNames"/>.</summary>
    public ImageDataset(IEnumerable<ImageSample> samples, IReadOnlyList<string> classNames, BadInputReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(classNames);
        _samples = samples.ToArray();
        ClassNames = classNames.ToArray();
        if (ClassNames.Distinct(StringComparer.Ordinal).Count() != ClassNames.Count) throw new ArgumentException("class names must be distinct", nameof(classNames));
        foreach (var s in _samples)
        {
            if (s.Source is null) throw new ArgumentException("a sample has no source", nameof(samples));
            if ((uint)s.Label >= (uint)ClassNames.Count)
                throw new ArgumentException($"'{s.Source.Name}' has label {s.Label}, but there are {ClassNames.Count} classes", nameof(samples));
        }
        Report = report ?? new BadInputReport();
    }

    /// <summary>Number of images.</summary>
    public int Count => _samples.Length;

    /// <summary>The sample at <paramref name="index"/>.</summary>
    public ImageSample this[int index] => _samples[index];

    /// <inheritdoc/>
    public IEnumerator<ImageSample> GetEnumerator() => ((IEnumerable<ImageSample>)_samples).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => _samples.GetEnumerator();

    /// <summary>Images per class, indexed by label.</summary>
    public int[] ClassCounts()
    {
        var n = new int[ClassNames.Count];
        foreach (var s in _samples) n[s.Label]++;
        return n;
    }

    /// <summary>The samples at <paramref name="indices"/>, with the same classes.</summary>
    public ImageDataset Subset(IEnumerable<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        return new ImageDataset(indices.Select(i => _samples[i]), ClassNames, Report);
    }

    // ------------------------------------------------------------------ sources

    /// <summary>
    /// torchvision's ImageFolder layout: <paramref name="root"/>/&lt;class&gt;/…/&lt;image&gt;. Classes are the
    /// subfolders sorted ordinally (or <see cref="ImageFolderOptions.Classes"/>); files are sorted by path. A missing
    /// root, a root without class folders or without any image is an <see cref="ImageDataException"/> whatever the
    /// policy (nothing would be left to train on); a class folder without images is one unless skipped. A FIFO, device
    /// or socket with an image extension is left out and recorded in <see cref="Report"/> whatever the policy.
    /// </summary>
    public static ImageDataset FromFolder(string root, ImageFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        options ??= new ImageFolderOptions();
        var ext = options.Extensions ?? ImageDecoder.Extensions;
        if (!Directory.Exists(root))
            throw new ImageDataException(root, File.Exists(root) ? BadInputKind.Unreadable : BadInputKind.Missing,
                File.Exists(root) ? "expected a folder with one subfolder per class, found a file" : "no such folder");
        string[] dirs;
        try
        {
            dirs = Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new ImageDataException(root, BadInputKind.Unreadable, e.Message, e);
        }
        if (dirs.Length == 0)
        {
            int loose = Directory.EnumerateFiles(root).Count(f => ext.Contains(Path.GetExtension(f)));
            throw new ImageDataException(root, BadInputKind.EmptyFolder,
                "no class subfolders (expected root/<class>/<image>, as torchvision's ImageFolder)" + (loose > 0 ? $"; {loose} images lie directly in the root" : ""));
        }
        var report = new BadInputReport();
        var folderClasses = dirs.Select(Path.GetFileName).Select(n => n!).ToArray();
        var classes = options.Classes?.ToArray() ?? folderClasses;
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var samples = new List<ImageSample>();
        var emptyClasses = new List<string>();
        foreach (var dir in dirs)
        {
            string name = Path.GetFileName(dir);
            if (!index.TryGetValue(name, out int label))
            {
                var e = new ImageDataException(dir, BadInputKind.UnknownLabel, $"class folder '{name}' is not one of the {classes.Length} classes ({Preview(classes)})");
                if (options.OnBadInput == BadInputPolicy.Throw) throw e;
                report.Add(e);
                continue;
            }
            string[] files;
            try
            {
                files = Directory.EnumerateFiles(dir, "*", options.Recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
                    .Where(f => ext.Contains(Path.GetExtension(f))).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                var e = new ImageDataException(dir, BadInputKind.Unreadable, ex.Message, ex);
                if (options.OnBadInput == BadInputPolicy.Throw) throw e;
                report.Add(e);
                continue;
            }
            if (files.Length == 0)
            {
                var e = new ImageDataException(dir, BadInputKind.EmptyFolder, $"class '{name}' has no images (extensions {string.Join(" ", ext.Order())})");
                if (options.OnBadInput == BadInputPolicy.Throw) throw e;
                report.Add(e);
                emptyClasses.Add(name);
                continue;
            }
            foreach (var f in files)
            {
                // A FIFO, device or socket named like an image is skipped whatever the policy (opening a FIFO
                // blocks forever) and recorded in the report, which the training engine prints as a warning.
                if (Native.ImageNative.SpecialFileKind(f) is { } special)
                {
                    report.Add(f, BadInputKind.Unreadable, $"{special}, not a regular file: skipped");
                    continue;
                }
                samples.Add(new ImageSample(new FileImageSource(f), label));
            }
        }
        if (samples.Count == 0)
            throw new ImageDataException(root, BadInputKind.EmptyFolder, $"no images in any class folder (extensions {string.Join(" ", ext.Order())})");
        if (options.Classes is null && emptyClasses.Count > 0)
        {
            // Skipped empty classes leave the class list (labels follow the remaining folders' order).
            var kept = classes.Where(c => !emptyClasses.Contains(c)).ToArray();
            var remap = kept.Select((c, i) => (index[c], i)).ToDictionary(p => p.Item1, p => p.i);
            samples = samples.Select(s => s with { Label = remap[s.Label] }).ToList();
            classes = kept;
        }
        return new ImageDataset(samples, classes, report);
    }

    /// <summary>
    /// A CSV or TSV file of (path, label) rows; relative paths are resolved against
    /// <see cref="CsvSourceOptions.ImageFolder"/> (default: the CSV's folder). Quoted fields ("a, b" and "" inside) are
    /// understood. Malformed lines and labels outside <see cref="CsvSourceOptions.Classes"/> are
    /// <see cref="ImageDataException"/>s naming file and line, or skipped and reported.
    /// </summary>
    public static ImageDataset FromCsv(string csvPath, CsvSourceOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(csvPath);
        options ??= new CsvSourceOptions();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(csvPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ImageDataException(csvPath, BadInputKind.Missing, "no such file", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new ImageDataException(csvPath, BadInputKind.Unreadable, e.Message, e);
        }
        int first = 0;
        while (first < lines.Length && string.IsNullOrWhiteSpace(lines[first])) first++;
        if (first == lines.Length) throw new ImageDataException(csvPath, BadInputKind.Empty, "no rows");
        char sep = options.Separator ?? DetectSeparator(csvPath, lines[first]);
        var head = SplitLine(lines[first], sep);
        int pathCol = options.PathColumnIndex, labelCol = options.LabelColumnIndex;
        bool header = options.HasHeader ?? (head.Count > pathCol && !ImageDecoder.Extensions.Contains(Path.GetExtension(head[pathCol].Trim())));
        if (options.PathColumn is not null || options.LabelColumn is not null)
        {
            if (!header) throw new ArgumentException("column names need a header line", nameof(options));
            int Find(string name) => head.FindIndex(h => string.Equals(h.Trim(), name, StringComparison.OrdinalIgnoreCase)) is var i and >= 0
                ? i : throw new ImageDataException(csvPath, BadInputKind.Corrupt, $"no column '{name}' in the header ({string.Join(", ", head)})");
            if (options.PathColumn is not null) pathCol = Find(options.PathColumn);
            if (options.LabelColumn is not null) labelCol = Find(options.LabelColumn);
        }
        string folder = options.ImageFolder ?? Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        var report = new BadInputReport();
        var rows = new List<(string Path, string Label, int Line)>();
        for (int i = header ? first + 1 : first; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var f = SplitLine(lines[i], sep);
            string where = $"{csvPath}:{i + 1}";
            if (f.Count <= Math.Max(pathCol, labelCol) || string.IsNullOrWhiteSpace(f[pathCol]) || string.IsNullOrWhiteSpace(f[labelCol]))
            {
                var e = new ImageDataException(where, BadInputKind.Corrupt,
                    $"expected a path in column {pathCol + 1} and a label in column {labelCol + 1} separated by '{(sep == '\t' ? "\\t" : sep)}', got \"{lines[i]}\"");
                if (options.OnBadInput == BadInputPolicy.Throw) throw e;
                report.Add(e);
                continue;
            }
            string p = f[pathCol].Trim();
            rows.Add((Path.IsPathRooted(p) ? p : Path.Combine(folder, p), f[labelCol].Trim(), i + 1));
        }
        if (rows.Count == 0) throw new ImageDataException(csvPath, BadInputKind.Empty, "no data rows");
        var classes = options.Classes?.ToArray() ?? SortLabels(rows.Select(r => r.Label).Distinct(StringComparer.Ordinal));
        return Build(rows.Select(r => (ImageSource: (ImageSource)new FileImageSource(r.Path), r.Label)), classes, options.OnBadInput, report);
    }

    /// <summary>Encoded images in memory (bytes of JPEG, PNG, ... files) with string labels.</summary>
    public static ImageDataset FromEncoded(IEnumerable<(string Name, byte[] Data, string Label)> rows, IReadOnlyList<string>? classes = null, BadInputPolicy onBadInput = BadInputPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var list = rows.Select(r => ((ImageSource)new EncodedImageSource(r.Data, r.Name), r.Label)).ToArray();
        return Build(list, classes?.ToArray() ?? SortLabels(list.Select(r => r.Label).Distinct(StringComparer.Ordinal)), onBadInput, new BadInputReport());
    }

    /// <summary>Decoded images in memory with string labels.</summary>
    public static ImageDataset FromImages(IEnumerable<(ImageData Image, string Label)> rows, IReadOnlyList<string>? classes = null, BadInputPolicy onBadInput = BadInputPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int n = 0;
        var list = rows.Select(r => ((ImageSource)new PixelImageSource(r.Image, r.Image.Source ?? $"row {n++}"), r.Label)).ToArray();
        return Build(list, classes?.ToArray() ?? SortLabels(list.Select(r => r.Label).Distinct(StringComparer.Ordinal)), onBadInput, new BadInputReport());
    }

    /// <summary>The images of an IDX data set (MNIST, Fashion-MNIST), one gray channel.</summary>
    public static ImageDataset FromIdx(IdxDataset idx)
    {
        ArgumentNullException.ThrowIfNull(idx);
        var samples = new ImageSample[idx.Count];
        for (int i = 0; i < idx.Count; i++) samples[i] = new ImageSample(new IdxImageSource(idx, i), idx.Labels[i]);
        return new ImageDataset(samples, idx.ClassNames);
    }

    /// <summary>Fashion-MNIST (60,000 training or 10,000 test images) from Debian's dataset-fashion-mnist, or <paramref name="folder"/>.</summary>
    public static ImageDataset FashionMnist(bool train = true, string? folder = null, int? limit = null)
    {
        var idx = IdxDataset.FashionMnist(train, folder);
        return FromIdx(limit is { } n ? idx.Take(n) : idx);
    }

    /// <summary>
    /// The same images labelled by <paramref name="classes"/> (the training set's classes, for a validation or test
    /// set listed on its own): a label outside them is an <see cref="ImageDataException"/> of kind
    /// <see cref="BadInputKind.UnknownLabel"/> naming the image, or skipped and reported.
    /// </summary>
    public ImageDataset WithClasses(IReadOnlyList<string> classes, BadInputPolicy onBadInput = BadInputPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var report = new BadInputReport();
        report.AddRange(Report);
        return Build(_samples.Select(s => (s.Source, ClassNames[s.Label])), classes.ToArray(), onBadInput, report);
    }

    private static ImageDataset Build(IEnumerable<(ImageSource Source, string Label)> rows, string[] classes, BadInputPolicy policy, BadInputReport report)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classes.Length; i++)
            if (!index.TryAdd(classes[i], i)) throw new ArgumentException($"class '{classes[i]}' is listed twice");
        var samples = new List<ImageSample>();
        foreach (var (src, label) in rows)
        {
            if (index.TryGetValue(label, out int l)) { samples.Add(new ImageSample(src, l)); continue; }
            var e = new ImageDataException(src.Name, BadInputKind.UnknownLabel, $"label '{label}' was not seen in training (classes: {Preview(classes)})");
            if (policy == BadInputPolicy.Throw) throw e;
            report.Add(e);
        }
        return new ImageDataset(samples, classes, report);
    }

    private static string Preview(IReadOnlyList<string> classes) =>
        string.Join(", ", classes.Take(12)) + (classes.Count > 12 ? $", ... ({classes.Count} in all)" : "");

    /// <summary>Labels in ordinal order, or numeric order when every label is an integer.</summary>
    private static string[] SortLabels(IEnumerable<string> labels)
    {
        var l = labels.ToArray();
        if (l.All(s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
            return l.OrderBy(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return l.OrderBy(s => s, StringComparer.Ordinal).ToArray();
    }

    private static char DetectSeparator(string path, string firstLine)
    {
        if (path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tab", StringComparison.OrdinalIgnoreCase)) return '\t';
        foreach (var c in new[] { '\t', ',', ';' })
            if (firstLine.Contains(c)) return c;
        return ',';
    }

    /// <summary>Splits one line; double quotes protect separators, "" inside quotes is a quote.</summary>
    public static List<string> SplitLine(string line, char sep)
    {
        var fields = new List<string>();
        var sb = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else sb.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == sep) { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(ch);
        }
        fields.Add(sb.ToString());
        return fields;
    }

    // ------------------------------------------------------------------ splits

    /// <summary>
    /// Splits into train/validation/test with fractions <paramref name="trainFraction"/>,
    /// <paramref name="validationFraction"/> and the rest, shuffled by <paramref name="seed"/> (the same seed gives the
    /// same split). Stratified (default): every class is split in the same proportions. Counts are rounded by largest
    /// remainder so that they add up.
    /// </summary>
    public DatasetSplits Split(double trainFraction, double validationFraction = 0, int seed = 0, bool stratified = true)
    {
        double testFraction = 1 - trainFraction - validationFraction;
        if (trainFraction < 0 || validationFraction < 0 || testFraction < -1e-9 || double.IsNaN(trainFraction) || double.IsNaN(validationFraction))
            throw new ArgumentOutOfRangeException(nameof(trainFraction), $"fractions {trainFraction} + {validationFraction} must be >= 0 and add up to at most 1");
        testFraction = Math.Max(0, testFraction);
        var rng = new Random(seed);
        var parts = new[] { new List<int>(), new List<int>(), new List<int>() };
        var fractions = new[] { trainFraction, validationFraction, testFraction };
        var groups = (stratified
            ? Enumerable.Range(0, ClassNames.Count).Select(c => Enumerable.Range(0, Count).Where(i => _samples[i].Label == c).ToArray())
            : new[] { Enumerable.Range(0, Count).ToArray() }).Where(g => g.Length > 0).ToArray();
        foreach (var g in groups) rng.Shuffle(g);
        var counts = Allocate(groups.Select(g => g.Length).ToArray(), Apportion(Count, fractions), fractions);
        for (int k = 0; k < groups.Length; k++)
        {
            int at = 0;
            for (int p = 0; p < 3; p++)
            {
                parts[p].AddRange(groups[k].AsSpan(at, counts[k][p]).ToArray());
                at += counts[k][p];
            }
        }
        // Within each part keep the data set's order (stable, and stratified parts are not grouped by class).
        return new DatasetSplits(Subset(parts[0].Order()), Subset(parts[1].Order()), Subset(parts[2].Order()));
    }

    /// <summary>Per group and part counts: each group's share as close to its exact proportion as the global totals
    /// (already rounded) allow; floors first, then the remaining units by largest remainder.</summary>
    private static int[][] Allocate(int[] sizes, int[] totals, double[] fractions)
    {
        double sum = fractions.Sum();
        var counts = new int[sizes.Length][];
        var rest = new List<(double Remainder, int Group, int Part)>();
        var leftPart = (int[])totals.Clone();
        var leftGroup = (int[])sizes.Clone();
        for (int g = 0; g < sizes.Length; g++)
        {
            counts[g] = new int[fractions.Length];
            for (int p = 0; p < fractions.Length; p++)
            {
                double exact = sum > 0 ? sizes[g] * fractions[p] / sum : 0;
                int f = Math.Min((int)Math.Floor(exact), leftPart[p]);
                counts[g][p] = f; leftPart[p] -= f; leftGroup[g] -= f;
                rest.Add((exact - f, g, p));
            }
        }
        foreach (var (_, g, p) in rest.OrderByDescending(r => r.Remainder).ThenBy(r => r.Group).ThenBy(r => r.Part))
            if (leftGroup[g] > 0 && leftPart[p] > 0) { counts[g][p]++; leftGroup[g]--; leftPart[p]--; }
        for (int g = 0; g < sizes.Length; g++)
            for (int p = 0; p < fractions.Length && leftGroup[g] > 0; p++)
            {
                int k = Math.Min(leftGroup[g], leftPart[p]);
                counts[g][p] += k; leftGroup[g] -= k; leftPart[p] -= k;
            }
        return counts;
    }

    private static int[] Apportion(int n, double[] fractions)
    {
        double total = fractions.Sum();
        var exact = fractions.Select(f => total > 0 ? n * f / total : 0).ToArray();
        var counts = exact.Select(e => (int)Math.Floor(e)).ToArray();
        int left = n - counts.Sum();
        foreach (int i in Enumerable.Range(0, fractions.Length).OrderByDescending(i => exact[i] - counts[i]).ThenBy(i => i))
        {
            if (left == 0) break;
            counts[i]++; left--;
        }
        return counts;
    }
}
