using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using MLNet.Attention.Torch.Nn;
using P = global::Onnx;

namespace MLNet.Attention.Torch.Onnx;

/// <summary>
/// Records the ONNX nodes of one traced forward pass. While a trace is open on a thread (<see cref="Current"/>), every op
/// of <see cref="Functional"/> and <see cref="Tensor"/> reports itself here after it ran: the tracer names its output,
/// looks up the names of its inputs (the graph input, a parameter or buffer by its state-dict key, an earlier output,
/// or a tensor created in the forward pass, which becomes an initializer) and appends the op's ONNX node(s).
/// </summary>
internal sealed partial class OnnxTrace : IDisposable
{
    [ThreadStatic] private static OnnxTrace? _current;

    /// <summary>The trace open on this thread, or null (ops then pay one thread-static read).</summary>
    internal static OnnxTrace? Current => _current;

    private readonly OnnxTrace? _outer;
    private readonly Module _root;
    private readonly Dictionary<Tensor, string> _values = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, string> _stateKeys = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor> _fresh = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _initializerNames = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<long[]>? _referenceShapeArgs;
    private readonly long _batch, _referenceBatch;
    private string? _batchValue;
    private string? _lastStateKey;
    private int _counter;
    private bool _aux;

    internal int Opset { get; }
    internal long Batch => _batch;
    internal List<P.NodeProto> Nodes { get; } = new();
    internal List<P.TensorProto> Initializers { get; } = new();
    internal string InputName { get; }

    /// <summary>The shape arguments (reshape targets, expand shapes, resize sizes ...) in the order the ops met them.</summary>
    internal List<long[]> ShapeArgs { get; } = new();

    /// <summary>One line per recorded node (op type and attributes): two traces at different batch sizes must agree.</summary>
    internal List<string> Signature { get; } = new();

    /// <summary>The shapes of the tensors created in the forward pass that became initializers, in order.</summary>
    internal List<long[]> ConstantShapes { get; } = new();

    /// <param name="root">The traced module (its parameters and buffers become initializers named by their keys).</param>
    /// <param name="input">The sample input.</param>
    /// <param name="inputName">The graph input's name.</param>
    /// <param name="opset">Operator set to write.</param>
    /// <param name="batch">The batch size of this trace.</param>
    /// <param name="reference">A trace of the same forward at another batch size: shape arguments that differ from its are written as functions of the input's batch dimension.</param>
    internal OnnxTrace(Module root, Tensor input, string inputName, int opset, long batch, OnnxTrace? reference)
    {
        _root = root;
        Opset = opset;
        InputName = inputName;
        _batch = batch;
        _referenceShapeArgs = reference?.ShapeArgs;
        _referenceBatch = reference?._batch ?? 0;
        foreach (var (key, t) in root.NamedParameters().Concat(root.NamedBuffers()))
            _stateKeys.TryAdd(t, key);
        // Every state-dict entry is an initializer, used or not (BN's num_batches_tracked): the graph carries the whole
        // state dict, which is what rebuilding the module from the graph needs.
        foreach (var (key, t) in root.StateDict())
            AddInitializer(key, t);
        _values[input] = inputName;
        _outer = _current;
        _current = this;
    }

    /// <summary>Closes the trace.</summary>
    public void Dispose()
    {
        if (ReferenceEquals(_current, this)) _current = _outer;
    }

    // ---------------- tensors met by the ops ----------------

    /// <summary>Every tensor created while the trace is open: an op that does not claim its output is not exportable.</summary>
    internal static void Created(Tensor t)
    {
        var trace = _current;
        trace?._fresh.Add(t);
    }

    /// <summary>A tensor made by a factory (zeros, a copy of managed data ...): a constant of the graph where used.</summary>
    internal void Constant(Tensor t) => _fresh.Remove(t);

    /// <summary>Names <paramref name="t"/> as the value <paramref name="name"/> (an op's output).</summary>
    internal void Out(Tensor t, string name)
    {
        _fresh.Remove(t);
        _values[t] = name;
    }

    /// <summary>The value name of an op's input.</summary>
    internal string In(Tensor t)
    {
        if (_stateKeys.TryGetValue(t, out var key))
        {
            _lastStateKey = key;
            if (!_initializerNames.Contains(key)) AddInitializer(key, t);
            return key;
        }
        if (_values.TryGetValue(t, out var name)) return name;
        if (_fresh.Contains(t))
            throw Unexportable("an op without an ONNX mapping (its output reached an exported op)");
        // A tensor from outside the trace that is not a parameter or buffer, or one a factory made in the forward pass.
        name = "const_" + (_counter++).ToString(CultureInfo.InvariantCulture);
        ConstantShapes.Add(t.Shape);
        AddInitializer(name, t);
        _values[t] = name;
        return name;
    }

    /// <summary>Whether <paramref name="t"/> was made by an op that did not report itself.</summary>
    internal bool IsFresh(Tensor t) => _fresh.Contains(t);

    /// <summary>Whether <paramref name="t"/> is a value of the graph (not a constant made in the forward pass).</summary>
    internal bool IsTraced(Tensor t) => _values.ContainsKey(t) || _stateKeys.ContainsKey(t);

    private void AddInitializer(string name, Tensor t)
    {
        _initializerNames.Add(name);
        Initializers.Add(OnnxTensors.ToProto(name, t));
    }

    // ---------------- nodes ----------------

    internal string NewName(string op) => op + "_" + (_counter++).ToString(CultureInfo.InvariantCulture);

    /// <summary>Appends a node and returns its (first) output name.</summary>
    internal string Node(string op, IEnumerable<string> inputs, params P.AttributeProto[] attributes) => NodeN(op, inputs, 1, attributes)[0];

    /// <summary>Appends a node with <paramref name="outputs"/> outputs.</summary>
    internal string[] NodeN(string op, IEnumerable<string> inputs, int outputs, params P.AttributeProto[] attributes)
    {
        var node = new P.NodeProto { OpType = op, Name = NewName(op) };
        node.Input.AddRange(inputs);
        var names = new string[outputs];
        for (int i = 0; i < outputs; i++) names[i] = outputs == 1 ? node.Name : node.Name + "_" + i.ToString(CultureInfo.InvariantCulture);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Nodes.Add(node);
        if (!_aux) Signature.Add(op + " " + string.Join(" ", attributes.Select(a => a.ToString())));
        return names;
    }

    internal static P.AttributeProto Attr(string name, long value) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = value };
    internal static P.AttributeProto Attr(string name, float value) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = value };
    internal static P.AttributeProto Attr(string name, string value) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    internal static P.AttributeProto Attr(string name, long[] values)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>An int64 1-D initializer.</summary>
    internal string ConstInt64(params long[] values) => ConstTensor(OnnxTensors.Int64(values, new long[] { values.Length }));

    /// <summary>An int64 0-d initializer.</summary>
    internal string ConstInt64Scalar(long value) => ConstTensor(OnnxTensors.Int64(new[] { value }, Array.Empty<long>()));

    /// <summary>A 0-d initializer of <paramref name="dtype"/> holding <paramref name="value"/>.</summary>
    internal string ConstScalar(double value, DType dtype) => ConstTensor(OnnxTensors.Scalar(value, dtype));

    private string ConstTensor(P.TensorProto t)
    {
        t.Name = "const_" + (_counter++).ToString(CultureInfo.InvariantCulture);
        _initializerNames.Add(t.Name);
        Initializers.Add(t);
        return t.Name;
    }

    // ---------------- shape arguments and the dynamic batch ----------------

    /// <summary>
    /// The value of a shape argument (a reshape target, an expand shape, resize sizes): a constant where it does not
    /// depend on the batch size; where entries change between this trace and the reference one (in proportion to the
    /// batch), -1 for the one entry of a reshape, else the input's batch dimension times the entry's factor.
    /// </summary>
    internal string ShapeArg(long[] shape, string op, bool reshape)
    {
        int k = ShapeArgs.Count;
        ShapeArgs.Add((long[])shape.Clone());
        if (_referenceShapeArgs is null) return ConstInt64(shape);
        if (k >= _referenceShapeArgs.Count || _referenceShapeArgs[k].Length != shape.Length)
            throw BatchDependent($"{op}'s shape argument [{string.Join(", ", shape)}] has no counterpart in the trace at batch {_referenceBatch}");
        var r = _referenceShapeArgs[k];
        var dynamic = new List<int>();
        var factor = new long[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == r[i]) continue;
            if (shape[i] <= 0 || r[i] <= 0 || shape[i] % _batch != 0 || r[i] % _referenceBatch != 0 || shape[i] / _batch != r[i] / _referenceBatch)
                throw BatchDependent($"{op}'s shape argument is [{string.Join(", ", shape)}] at batch {_batch} but [{string.Join(", ", r)}] at batch {_referenceBatch}: entry {i} does not follow the batch size");
            dynamic.Add(i);
            factor[i] = shape[i] / _batch;
        }
        if (dynamic.Count == 0) return ConstInt64(shape);
        if (reshape && dynamic.Count == 1 && !shape.Contains(-1) && !shape.Contains(0))
        {
            var c = (long[])shape.Clone();
            c[dynamic[0]] = -1;
            return ConstInt64(c);
        }
        _aux = true;
        try
        {
            var parts = new List<string>();
            var run = new List<long>();
            for (int i = 0; i < shape.Length; i++)
            {
                if (factor[i] == 0) { run.Add(shape[i]); continue; }
                if (run.Count > 0) { parts.Add(ConstInt64(run.ToArray())); run.Clear(); }
                var b = BatchValue();
                parts.Add(factor[i] == 1 ? b : Node("Mul", new[] { b, ConstInt64(factor[i]) }));
            }
            if (run.Count > 0) parts.Add(ConstInt64(run.ToArray()));
            return parts.Count == 1 ? parts[0] : Node("Concat", parts, Attr("axis", 0L));
        }
        finally { _aux = false; }
    }

    /// <summary>The input's batch dimension as a 1-element int64 tensor.</summary>
    private string BatchValue() => _batchValue ??= Node("Shape", new[] { InputName }, Attr("start", 0L), Attr("end", 1L));

    private InvalidOperationException BatchDependent(string what) =>
        new($"ONNX export with a dynamic batch: {what} (in module '{ModulePath()}'). Export with DynamicBatch = false, or make the forward pass's shapes follow the input's");

    // ---------------- errors ----------------

    /// <summary>Thrown by an op that has no ONNX mapping (or not with these arguments).</summary>
    internal NotSupportedException Unexportable(string op)
    {
        var (path, type) = ModuleAt();
        return new NotSupportedException($"ONNX export: {op} has no ONNX mapping; met in module '{(path.Length == 0 ? "<root>" : path)}' ({type})");
    }

    private string ModulePath() => ModuleAt().Path;

    /// <summary>
    /// The module whose forward pass is running: the chain of <c>Forward</c> frames on the stack, matched from the traced
    /// module down to its descendants by type (among siblings of one type, the one holding the parameter the trace met last).
    /// </summary>
    private (string Path, string Type) ModuleAt()
    {
        var types = new List<Type>();
        foreach (var frame in new StackTrace(1, false).GetFrames())
        {
            var m = frame.GetMethod();
            if (m?.Name == "Forward" && m.DeclaringType is { } t && typeof(Module).IsAssignableFrom(t)) types.Add(t);
        }
        types.Reverse();
        string path = "";
        Module current = _root;
        int start = types.Count > 0 && types[0].IsInstanceOfType(_root) ? 1 : 0;
        for (int i = start; i < types.Count; i++)
        {
            var t = types[i];
            var candidates = current.NamedModules().Skip(1).Where(p => t.IsInstanceOfType(p.Value)).ToList();
            if (candidates.Count == 0) continue;
            int depth = candidates.Min(c => c.Key.Count(ch => ch == '.'));
            var nearest = candidates.Where(c => c.Key.Count(ch => ch == '.') == depth).ToList();
            var pick = nearest.FirstOrDefault(c => _lastStateKey is not null && _lastStateKey.StartsWith(Join(path, c.Key) + ".", StringComparison.Ordinal));
            if (pick.Value is null) pick = nearest[0];
            path = Join(path, pick.Key);
            current = pick.Value;
        }
        return (path, current.GetType().Name);
    }

    private static string Join(string a, string b) => a.Length == 0 ? b : a + "." + b;

    /// <summary>Runs <paramref name="action"/> with no trace open (the exporter's own tensor work).</summary>
    internal static T Suspended<T>(Func<T> action)
    {
        var saved = _current;
        _current = null;
        try { return action(); }
        finally { _current = saved; }
    }
}
