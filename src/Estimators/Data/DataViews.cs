using MLNet.Attention.Transforms;

namespace MLNet.Attention.Data;

/// <summary>
/// A view that knows where the images of one of its columns come from without reading the rows (an image folder's
/// files, an IDX file's records): trainers then hand those sources straight to the batch loader.
/// </summary>
internal interface IImageSourceProvider
{
    /// <summary>The image source of every row for <paramref name="column"/> (a path, bytes or image column), or null.</summary>
    IReadOnlyList<ImageSource>? GetImageSources(DataViewSchema.Column column);

    /// <summary>The classes of a label column in their data set's order (an image folder's, an IDX file's), or null.</summary>
    IReadOnlyList<string>? GetClassNames(DataViewSchema.Column column);
}

/// <summary>
/// An <see cref="ImageDataset"/> as a view: a path column (text, for file sources) or an image column (decoded on
/// demand, for other sources), and the label as text (the class name).
/// </summary>
internal sealed class ImageDatasetDataView : IDataView, IImageSourceProvider
{
    private readonly bool _paths;

    public ImageDataset Dataset { get; }

    public ImageDatasetDataView(ImageDataset dataset, string imageColumnName, string labelColumnName, int height = 0, int width = 0, int channels = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrEmpty(imageColumnName);
        ArgumentException.ThrowIfNullOrEmpty(labelColumnName);
        if (imageColumnName == labelColumnName) throw new ArgumentException($"the image and label columns are both named '{labelColumnName}'", nameof(labelColumnName));
        Dataset = dataset;
        _paths = dataset.All(s => s.Source is FileImageSource);
        Schema = new DataViewSchema.Builder()
            .AddColumn(imageColumnName, _paths ? TextDataViewType.Instance : new ImageDataViewType(height, width, channels))
            .AddColumn(labelColumnName, TextDataViewType.Instance)
            .ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => Dataset.Count;

    public IReadOnlyList<ImageSource>? GetImageSources(DataViewSchema.Column column) =>
        column.Index == 0 && Schema[0].Name == column.Name ? Dataset.Select(s => s.Source).ToArray() : null;

    public IReadOnlyList<string>? GetClassNames(DataViewSchema.Column column) =>
        column.Index == 1 && Schema[1].Name == column.Name ? Dataset.ClassNames : null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this, columnsNeeded);

    private sealed class Cursor : RowCursor
    {
        private readonly ImageDatasetDataView _view;
        private int _row = -1;

        public Cursor(ImageDatasetDataView view, IEnumerable<DataViewSchema.Column> active) : base(view.Schema, active) => _view = view;

        protected override bool Advance() => ++_row < _view.Dataset.Count;

        protected override object? GetValue(int col)
        {
            var s = _view.Dataset[_row];
            if (col == 1) return _view.Dataset.ClassNames[s.Label];
            return _view._paths ? ((FileImageSource)s.Source).Path : s.Source.Load(s.Source switch { IdxImageSource => 1, PixelImageSource p => p.Image.Channels, _ => 3 });
        }
    }
}

/// <summary>The rows of a view at the given positions, in increasing order (a split's part).</summary>
internal sealed class RowSubsetDataView : IDataView, IImageSourceProvider
{
    private readonly IDataView _input;
    private readonly int[] _rows;

    public RowSubsetDataView(IDataView input, IEnumerable<int> rows)
    {
        _input = input;
        _rows = rows.Order().ToArray();
    }

    public IDataView Input => _input;

    public DataViewSchema Schema => _input.Schema;

    public bool CanShuffle => false;

    public long? GetRowCount() => _rows.Length;

    public IReadOnlyList<ImageSource>? GetImageSources(DataViewSchema.Column column) =>
        (_input as IImageSourceProvider)?.GetImageSources(column) is { } all ? _rows.Select(r => all[r]).ToArray() : null;

    public IReadOnlyList<string>? GetClassNames(DataViewSchema.Column column) => (_input as IImageSourceProvider)?.GetClassNames(column);

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var cols = columnsNeeded.ToArray();
        return new Cursor(this, cols, _input.GetRowCursor(cols));
    }

    private sealed class Cursor : RowCursor
    {
        private readonly RowSubsetDataView _view;
        private readonly DataViewRowCursor _in;
        private readonly Func<object?>[] _getters;
        private int _next;
        private long _inRow = -1;

        public Cursor(RowSubsetDataView view, DataViewSchema.Column[] active, DataViewRowCursor input) : base(view.Schema, active)
        {
            _view = view; _in = input;
            _getters = new Func<object?>[view.Schema.Count];
            foreach (var c in active) _getters[c.Index] = RowAccess.Boxed(input, c);
        }

        protected override bool Advance()
        {
            if (_next >= _view._rows.Length) return false;
            int target = _view._rows[_next++];
            while (_inRow < target)
            {
                if (!_in.MoveNext()) throw new InvalidOperationException($"the data ended after {_inRow + 1} rows, before row {target} of the split");
                _inRow++;
            }
            return true;
        }

        protected override object? GetValue(int col) => _getters[col]();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _in.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Computes new columns from the columns of the input row, one row at a time (the image transforms). A value is
/// computed at most once per row, and only when asked for.
/// </summary>
internal abstract class ColumnMapper
{
    /// <summary>The columns added.</summary>
    public abstract IReadOnlyList<(string Name, DataViewType Type, IReadOnlyDictionary<string, object>? Annotations)> OutputColumns { get; }

    /// <summary>The input columns needed to compute the active outputs.</summary>
    public abstract IEnumerable<DataViewSchema.Column> Dependencies(IReadOnlyList<int> activeOutputs);

    /// <summary>A function computing output <paramref name="output"/> of <paramref name="input"/>'s current row.</summary>
    public abstract Func<object?> MakeGetter(int output, DataViewRow input);
}

/// <summary>The input's columns (those overwritten become hidden) followed by a <see cref="ColumnMapper"/>'s.</summary>
internal sealed class MappedDataView : IDataView, IImageSourceProvider
{
    public IDataView Input { get; }
    public ColumnMapper Mapper { get; }

    public MappedDataView(IDataView input, ColumnMapper mapper)
    {
        Input = input; Mapper = mapper;
        var b = new DataViewSchema.Builder().AddColumns(input.Schema);
        foreach (var (name, type, ann) in mapper.OutputColumns) b.AddColumn(name, type, ann);
        Schema = b.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => Input.GetRowCount();

    public IReadOnlyList<ImageSource>? GetImageSources(DataViewSchema.Column column) =>
        column.Index < Input.Schema.Count ? (Input as IImageSourceProvider)?.GetImageSources(Input.Schema[column.Index]) : null;

    public IReadOnlyList<string>? GetClassNames(DataViewSchema.Column column) =>
        column.Index < Input.Schema.Count ? (Input as IImageSourceProvider)?.GetClassNames(Input.Schema[column.Index]) : null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var cols = columnsNeeded.ToArray();
        int n = Input.Schema.Count;
        var outs = cols.Where(c => c.Index >= n).Select(c => c.Index - n).Distinct().Order().ToArray();
        var need = cols.Where(c => c.Index < n).Select(c => Input.Schema[c.Index]).Concat(Mapper.Dependencies(outs))
            .GroupBy(c => c.Index).Select(g => g.First()).ToArray();
        return new Cursor(this, cols, Input.GetRowCursor(need), outs);
    }

    private sealed class Cursor : RowCursor
    {
        private readonly DataViewRowCursor _in;
        private readonly Func<object?>[] _getters;
        private readonly object?[] _cache;
        private readonly long[] _cachedAt;
        private readonly int _n;

        public Cursor(MappedDataView view, DataViewSchema.Column[] active, DataViewRowCursor input, int[] outputs) : base(view.Schema, active)
        {
            _in = input;
            _n = view.Input.Schema.Count;
            _getters = new Func<object?>[view.Schema.Count];
            _cache = new object?[view.Schema.Count];
            _cachedAt = Enumerable.Repeat(-1L, view.Schema.Count).ToArray();
            foreach (var c in active.Where(c => c.Index < _n)) _getters[c.Index] = RowAccess.Boxed(input, view.Input.Schema[c.Index]);
            foreach (int o in outputs) _getters[_n + o] = view.Mapper.MakeGetter(o, input);
        }

        protected override bool Advance() => _in.MoveNext();

        protected override object? GetValue(int col)
        {
            if (col < _n) return _getters[col]();
            if (_cachedAt[col] != Position)
            {
                _cache[col] = _getters[col]();
                _cachedAt[col] = Position;
            }
            return _cache[col];
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _in.Dispose();
            base.Dispose(disposing);
        }
    }
}
