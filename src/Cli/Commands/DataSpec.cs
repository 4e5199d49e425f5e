using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Cli.Commands;

/// <summary>Where images come from: an image folder, a CSV/TSV of (ImagePath, Label), or Debian's Fashion-MNIST IDX files.</summary>
internal enum DataKind
{
    /// <summary>One subfolder per class (ML.NET's / torchvision's image-folder layout).</summary>
    Folder,
    /// <summary>A CSV or TSV file with ImagePath and Label columns; relative paths are relative to the file.</summary>
    Csv,
    /// <summary>Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist, or a folder after "fashion-mnist:").</summary>
    FashionMnist,
}

/// <summary>A parsed <c>--data</c> value.</summary>
internal sealed record DataSpec(DataKind Kind, string? Path, string Option)
{
    /// <summary>The column of image paths of folder and CSV data.</summary>
    public const string PathColumn = "ImagePath";
    /// <summary>The column of decoded images of Fashion-MNIST data.</summary>
    public const string ImageColumn = "Image";
    /// <summary>The label column of every source.</summary>
    public const string LabelColumn = DefaultColumnNames.Label;

    private static readonly string[] CsvExtensions = [".csv", ".tsv", ".txt"];

    public const string Expected = "an image folder (one subfolder per class), a .csv/.tsv file with ImagePath,Label columns, or 'fashion-mnist' (optionally 'fashion-mnist:FOLDER' with the IDX files)";

    /// <summary>Reads <paramref name="text"/> (the value of <paramref name="option"/>); a path that does not exist is a <see cref="UsageException"/>.</summary>
    public static DataSpec Parse(string text, string option)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new UsageException($"{option} is empty; expected {Expected}");
        if (text.Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase)) return new DataSpec(DataKind.FashionMnist, null, option);
        if (text.StartsWith("fashion-mnist:", StringComparison.OrdinalIgnoreCase))
        {
            string folder = text["fashion-mnist:".Length..];
            if (!Directory.Exists(folder)) throw new UsageException($"{option} '{text}': folder '{folder}' does not exist (it should hold Fashion-MNIST's IDX files)");
            return new DataSpec(DataKind.FashionMnist, folder, option);
        }
        if (Directory.Exists(text)) return new DataSpec(DataKind.Folder, text, option);
        if (File.Exists(text))
        {
            if (CsvExtensions.Contains(System.IO.Path.GetExtension(text), StringComparer.OrdinalIgnoreCase)) return new DataSpec(DataKind.Csv, text, option);
            throw new UsageException($"{option} '{text}' is a file but not a .csv/.tsv/.txt list of images; expected {Expected}");
        }
        throw new UsageException($"{option} '{text}' does not exist; expected {Expected}");
    }

    /// <summary>What the data is, for messages.</summary>
    public override string ToString() => Kind switch
    {
        DataKind.FashionMnist => Path is null ? "Fashion-MNIST" : $"Fashion-MNIST ({Path})",
        DataKind.Folder => $"image folder '{Path}'",
        _ => $"CSV '{Path}'",
    };

    /// <summary>
    /// The data as a view: <see cref="PathColumn"/> and <see cref="LabelColumn"/> for folders and CSVs,
    /// <see cref="ImageColumn"/> and <see cref="LabelColumn"/> for Fashion-MNIST (its training or test images). With a
    /// <paramref name="limit"/>, Fashion-MNIST gives its first images (the files are shuffled) and folders/CSVs a seeded,
    /// stratified subset (their rows are grouped by class).
    /// </summary>
    public IDataView Load(MLContext ml, bool train, int? limit, int seed)
    {
        if (Kind == DataKind.FashionMnist) return ml.Data.LoadFashionMnist(train, limit, Path, ImageColumn, LabelColumn);
        var view = Kind == DataKind.Folder
            ? ml.Data.LoadFromImageFolder(Path!, PathColumn, LabelColumn)
            : ml.Data.LoadFromTextFile(Path!, imagePathColumnName: PathColumn, labelColumnName: LabelColumn);
        long count = view.GetRowCount() ?? throw new InvalidOperationException($"{this}: the row count is unknown");
        if (count == 0) throw new InvalidDataException($"{this} holds no images");
        if (limit is not { } n || n >= count) return view;
        return ml.Data.TrainTestSplit(view, (double)n / count, seed: seed, stratified: true, labelColumnName: LabelColumn).TestSet;
    }
}

/// <summary>What a saved model reads: its first transform's input column, and how to feed it images from files.</summary>
internal sealed class ModelInput
{
    private ModelInput(ITransformer model, AttentionBackboneTransformer backbone, string column, DataViewType type)
    {
        Model = model; Backbone = backbone; Column = column; Type = type;
    }

    /// <summary>The whole pipeline.</summary>
    public ITransformer Model { get; }
    /// <summary>The trained backbone (last step): labels, score column, architecture.</summary>
    public AttentionBackboneTransformer Backbone { get; }
    /// <summary>The column the pipeline reads first.</summary>
    public string Column { get; }
    /// <summary>Its type: text (image paths) or images.</summary>
    public DataViewType Type { get; }

    /// <summary>Reads the pipeline of a loaded model; a model this command line cannot feed is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static ModelInput Of(ITransformer model, DataViewSchema inputSchema, string file)
    {
        var steps = model as IEnumerable<ITransformer> ?? [model];
        var list = steps.ToList();
        var backbone = list.LastOrDefault() as AttentionBackboneTransformer
            ?? throw new InvalidDataException($"model file '{file}': its pipeline does not end with an attention backbone classifier");
        if (list.FirstOrDefault() is not ImageTransformer first)
            throw new InvalidDataException($"model file '{file}': its pipeline does not start with an image transform (LoadImages, ResizeImages, ...); the command line feeds image files only");
        string column = first.InputColumnName;
        var type = inputSchema.GetColumnOrNull(column)?.Type
            ?? (first.OperationName == "LoadImages" ? TextDataViewType.Instance : new ImageDataViewType());
        if (type is TextDataViewType && column != DataSpec.PathColumn || type is ImageDataViewType && column != DataSpec.ImageColumn || type is not (TextDataViewType or ImageDataViewType))
            throw new InvalidDataException(
                $"model file '{file}': its pipeline reads column '{column}' ({type}); the command line feeds image paths as '{DataSpec.PathColumn}' (text) or decoded images as '{DataSpec.ImageColumn}'");
        return new ModelInput(model, backbone, column, type);
    }

    /// <summary>Whether the pipeline decodes images itself from paths (false: it takes decoded images).</summary>
    public bool TakesPaths => Type is TextDataViewType;

    /// <summary>Channels to decode files to for a pipeline that takes decoded images (the model's input channels).</summary>
    public int Channels => Type is ImageDataViewType { Channels: > 0 } t ? t.Channels : Backbone.InputShape.Channels;

    /// <summary>
    /// <paramref name="data"/> (from <see cref="DataSpec.Load"/> or <see cref="Paths"/>) in the form the pipeline reads:
    /// paths stay paths; for a pipeline that takes decoded images, paths are decoded by a LoadImages step first.
    /// </summary>
    public IDataView Adapt(MLContext ml, IDataView data, string what)
    {
        bool hasPaths = data.Schema.GetColumnOrNull(DataSpec.PathColumn) is { Type: TextDataViewType };
        if (TakesPaths)
            return hasPaths ? data : throw new UsageException(
                $"{what} holds decoded images, but this model decodes image files itself (column '{Column}'): give an image folder or a CSV of image paths");
        if (!hasPaths) return data;
        return ml.Transforms.LoadImages(DataSpec.ImageColumn, imageFolder: null, inputColumnName: DataSpec.PathColumn, channels: Channels).Fit(data).Transform(data);
    }

    /// <summary>A view of image files (column <see cref="DataSpec.PathColumn"/>), fed as <see cref="Adapt"/> says.</summary>
    public IDataView Paths(MLContext ml, IReadOnlyList<string> files) =>
        Adapt(ml, ml.Data.LoadFromEnumerable(files.Select(f => new PathRow { ImagePath = f }).ToList()), "the images");

    /// <summary>One image path (a row of <see cref="Paths"/>).</summary>
    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Image file extensions the decoder reads (for folders given to predict).</summary>
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pnm", ".ppm", ".pgm"];
}
