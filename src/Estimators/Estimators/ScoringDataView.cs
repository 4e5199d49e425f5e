using System.Runtime.ExceptionServices;
using MLNet.Attention.Data;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Estimators;

/// <summary>The input's columns plus Score and PredictedLabel, scored a batch of rows at a time.</summary>
internal sealed class ScoringDataView : IDataView, IImageSourceProvider
{
    private readonly IDataView _input;
    private readonly AttentionBackboneTransformer _model;
    private readonly DataViewSchema.Column _feature;
    private readonly ImagePlan? _plan;
    private readonly ImagePipeline? _pipeline;

    public ScoringDataView(IDataView input, AttentionBackboneTransformer model, DataViewSchema.Column feature)
    {
        _input = input; _model = model; _feature = feature;
        _plan = ImagePlan.Resolve(input, feature);
        _pipeline = _plan?.ToPipeline();
        Schema = model.OutputSchema(input.Schema);
    }

    public DataViewSchema Schema { get; }

    public IDataView Input => _input;

    public bool CanShuffle => false;

    public long? GetRowCount() => _input.GetRowCount();

    public IReadOnlyList<ImageSource>? GetImageSources(DataViewSchema.Column column) =>
        column.Index < _input.Schema.Count ? (_input as IImageSourceProvider)?.GetImageSources(_input.Schema[column.Index]) : null;

    public IReadOnlyList<string>? GetClassNames(DataViewSchema.Column column) =>
        column.Index < _input.Schema.Count ? (_input as IImageSourceProvider)?.GetClassNames(_input.Schema[column.Index]) : null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var cols = columnsNeeded.ToArray();
        int n = _input.Schema.Count;
        bool scoring = cols.Any(c => c.Index >= n);
        var need = cols.Where(c => c.Index < n).Select(c => _input.Schema[c.Index]).ToList();
        if (scoring) need.Add(_plan?.Base ?? _feature);
        return new Cursor(this, cols, _input.GetRowCursor(need.GroupBy(c => c.Index).Select(g => g.First())), scoring);
    }

    private sealed class Cursor : RowCursor
    {
        private readonly ScoringDataView _view;
        private readonly DataViewRowCursor _in;
        private readonly bool _scoring;
        private readonly int _n, _batch, _classes, _per;
        private readonly int[] _activeInputs;
        private readonly Func<object?>[] _getters;
        private readonly Func<object?>? _featureGetter;
        private readonly object?[][] _rows;
        private readonly object?[] _features;
        private readonly long[] _positions;
        private readonly float[] _pixels;
        private readonly float[] _probabilities;
        private int _count, _at = -1;

        public Cursor(ScoringDataView view, DataViewSchema.Column[] active, DataViewRowCursor input, bool scoring) : base(view.Schema, active)
        {
            _view = view; _in = input; _scoring = scoring;
            _n = view._input.Schema.Count;
            _getters = new Func<object?>[_n];
            _activeInputs = active.Where(c => c.Index < _n).Select(c => c.Index).Distinct().ToArray();
            foreach (int i in _activeInputs) _getters[i] = RowAccess.Boxed(input, view._input.Schema[i]);
            var (c, h, w) = view._model.InputShape;
            _per = c * h * w;
            _classes = view._model.Info.NumClasses;
            _batch = scoring ? Math.Max(1, view._model.Info.BatchSize) : 0;
            _rows = new object?[_batch][];
            _features = new object?[_batch];
            _positions = new long[_batch];
            _pixels = scoring ? new float[_batch * _per] : Array.Empty<float>();
            _probabilities = new float[_batch * _classes];
            if (scoring) _featureGetter = RowAccess.Boxed(input, view._plan?.Base ?? view._feature);
        }

        protected override bool Advance()
        {
            if (!_scoring) return _in.MoveNext();
            if (++_at < _count) return true;
            _count = 0;
            _at = 0;
            while (_count < _batch && _in.MoveNext())
            {
                var row = new object?[_n];
                foreach (int i in _activeInputs) row[i] = _getters[i]();
                _rows[_count] = row;
                _features[_count] = _featureGetter!();
                _positions[_count] = _in.Position;
                _count++;
            }
            if (_count == 0) return false;
            Featurize();
            _view._model.Score(_pixels, _count, _probabilities);
            return true;
        }

        private void Featurize()
        {
            var plan = _view._plan;
            var shape = _view._model.InputShape;
            if (plan is null)
            {
                for (int r = 0; r < _count; r++)
                {
                    var v = _features[r] as float[] ?? throw new InvalidOperationException($"feature column '{_view._feature.Name}' is empty (null) in row {_positions[r]}");
                    if (v.Length != _per)
                        throw new InvalidOperationException($"feature column '{_view._feature.Name}' holds {v.Length} values in row {_positions[r]}; the model takes {shape.Channels}x{shape.Height}x{shape.Width} = {_per}");
                    v.CopyTo(_pixels, r * _per);
                }
                return;
            }
            void One(int r) => ImagePlan.RunInto(plan.Source(_features[r], _positions[r]), _view._pipeline!, _pixels.AsMemory(r * _per, _per), shape);
            if (_count == 1)
            {
                One(0);
                return;
            }
            try
            {
                Parallel.For(0, _count, One);
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }

        protected override object? GetValue(int col)
        {
            if (col < _n) return _scoring ? _rows[_at][col] : _getters[col]();
            var p = _probabilities.AsSpan(_at * _classes, _classes);
            if (col == _n) return p.ToArray();
            int best = 0;
            for (int k = 1; k < p.Length; k++) if (p[k] > p[best]) best = k;
            return _view._model.LabelValue(best);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _in.Dispose();
            base.Dispose(disposing);
        }
    }
}
