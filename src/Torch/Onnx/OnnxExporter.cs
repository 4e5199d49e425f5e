using System.Reflection;
using Module = MLNet.Attention.Torch.Nn.Module;
using Google.Protobuf;
using MLNet.Attention.Torch.Nn;
using P = global::Onnx;

namespace MLNet.Attention.Torch.Onnx;

/// <summary>
/// Exports any <see cref="Module"/> to ONNX by tracing its eval-mode forward pass through the engine's own ops: each op
/// of <see cref="Functional"/> and <see cref="Tensor"/> writes its ONNX node(s), so a new layer needs no exporter code
/// beyond the ops it calls. Parameters and buffers become initializers named by their state-dict keys.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The producer name written into every exported model.</summary>
    public const string ProducerName = "MLNet.Attention";

    /// <summary>The ONNX IR version written (8: operator sets up to 21 are valid under it).</summary>
    public const long IrVersion = 8;

    /// <summary>
    /// Traces <paramref name="forward"/>(input) in eval mode on a sample input of shape <paramref name="inputShape"/>
    /// (N,C,H,W …; N is the traced batch) and returns the ONNX model. <paramref name="forward"/> returns one tensor per
    /// name of <see cref="OnnxExportOptions.OutputNames"/>; the default is the module's own forward pass.
    /// </summary>
    /// <remarks>
    /// With <see cref="OnnxExportOptions.DynamicBatch"/> the forward pass is traced twice, at batch max(N, 2) and one
    /// more: both traces must emit the same ops, and every shape argument (reshape target, expand shape, resize size)
    /// whose entries differ between them is written as a function of the input's batch dimension. The module's training
    /// flags are restored afterwards; the trace runs without autograd. Channels-last modules export the same graph as
    /// NCHW ones (the memory format is not part of the computation).
    /// </remarks>
    /// <exception cref="NotSupportedException">An op of the forward pass has no ONNX mapping (the message names it and the module).</exception>
    public static P.ModelProto Export(Module module, long[] inputShape, OnnxExportOptions? options = null, Func<Tensor, Tensor[]>? forward = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(inputShape);
        options ??= new OnnxExportOptions();
        options.Validate();
        if (inputShape.Length < 1 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(", ", inputShape)}] must have positive sizes, batch first", nameof(inputShape));
        if (forward is null)
        {
            if (module is not Module<Tensor, Tensor> typed)
                throw new ArgumentException($"{module.GetType().Name} has no Tensor→Tensor forward pass: pass the forward function", nameof(forward));
            forward = x => new[] { typed.Forward(x) };
        }

        var training = module.NamedModules().Select(m => (m.Value, m.Value.IsTraining)).ToList();
        module.Eval();
        try
        {
            using var noGrad = TorchRuntime.NoGrad();
            if (!options.DynamicBatch) return Build(module, Trace(module, inputShape, inputShape[0], options, forward, null), inputShape, options, false);
            long b1 = Math.Max(2, inputShape[0]), b2 = b1 + 1;
            var first = Trace(module, inputShape, b1, options, forward, null);
            var second = Trace(module, inputShape, b2, options, forward, first);
            Compare(first, second, b1, b2);
            return Build(module, second, inputShape, options, true);
        }
        finally
        {
            // Train(t) recurses into the subtree; replayed parents first (NamedModules' pre-order), each module ends
            // with its own flag.
            foreach (var (m, t) in training) m.Train(t);
        }
    }

    private sealed record TraceResult(OnnxTrace Trace, string[] Outputs, (DType DType, long[] Shape)[] OutputTypes);

    private static TraceResult Trace(Module module, long[] inputShape, long batch, OnnxExportOptions options, Func<Tensor, Tensor[]> forward, TraceResult? reference)
    {
        var shape = (long[])inputShape.Clone();
        shape[0] = batch;
        using var scope = Tensor.NewDisposeScope();
        var input = Tensor.Randn(shape);
        using var trace = new OnnxTrace(module, input, options.InputName, options.Opset, batch, reference?.Trace);
        var outputs = forward(input) ?? throw new InvalidOperationException("the forward function returned null");
        if (outputs.Length != options.OutputNames.Count)
            throw new InvalidOperationException($"the forward function returned {outputs.Length} tensors for {options.OutputNames.Count} output names ({string.Join(", ", options.OutputNames)})");
        var names = new string[outputs.Length];
        var types = new (DType, long[])[outputs.Length];
        for (int i = 0; i < outputs.Length; i++)
        {
            var o = outputs[i] ?? throw new InvalidOperationException($"the forward function returned null for output '{options.OutputNames[i]}'");
            if (!trace.IsTraced(o))
            {
                if (trace.IsFresh(o)) throw trace.Unexportable($"the op that made output '{options.OutputNames[i]}'");
                throw new InvalidOperationException($"output '{options.OutputNames[i]}' does not depend on the input (a constant)");
            }
            names[i] = trace.In(o);
            types[i] = (o.DType, o.Shape);
        }
        return new TraceResult(trace, names, types);
    }

    private static void Compare(TraceResult a, TraceResult b, long b1, long b2)
    {
        var sa = a.Trace.Signature;
        var sb = b.Trace.Signature;
        for (int i = 0; i < Math.Min(sa.Count, sb.Count); i++)
            if (sa[i] != sb[i])
                throw new InvalidOperationException($"ONNX export with a dynamic batch: node {i} is '{sa[i]}' at batch {b1} but '{sb[i]}' at batch {b2}; the forward pass must run the same ops with the same arguments at every batch size (or export with DynamicBatch = false)");
        if (sa.Count != sb.Count)
            throw new InvalidOperationException($"ONNX export with a dynamic batch: the forward pass runs {sa.Count} ops at batch {b1} but {sb.Count} at batch {b2}");
        var ca = a.Trace.ConstantShapes;
        var cb = b.Trace.ConstantShapes;
        for (int i = 0; i < Math.Min(ca.Count, cb.Count); i++)
            if (!ca[i].SequenceEqual(cb[i]))
                throw new InvalidOperationException($"ONNX export with a dynamic batch: a tensor created in the forward pass has shape [{string.Join(", ", ca[i])}] at batch {b1} but [{string.Join(", ", cb[i])}] at batch {b2}; create it from the input (e.g. with Expand) or export with DynamicBatch = false");
    }

    private static P.ModelProto Build(Module module, TraceResult result, long[] inputShape, OnnxExportOptions options, bool dynamic)
    {
        var trace = result.Trace;
        var graph = new P.GraphProto { Name = options.GraphName ?? module.GetType().Name };
        graph.Node.AddRange(trace.Nodes);
        for (int i = 0; i < result.Outputs.Length; i++)
        {
            var identity = new P.NodeProto { OpType = "Identity", Name = "output_" + i, Input = { result.Outputs[i] }, Output = { options.OutputNames[i] } };
            graph.Node.Add(identity);
        }
        graph.Initializer.AddRange(trace.Initializers);
        graph.Input.Add(ValueInfo(options.InputName, DType.Float32, inputShape, dynamic));
        for (int i = 0; i < result.Outputs.Length; i++)
        {
            var (dt, shape) = result.OutputTypes[i];
            graph.Output.Add(ValueInfo(options.OutputNames[i], dt, shape, dynamic && shape.Length > 0 && shape[0] == trace.Batch));
        }
        var model = new P.ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = PackageVersion,
            Graph = graph,
        };
        model.OpsetImport.Add(new P.OperatorSetIdProto { Domain = "", Version = options.Opset });
        foreach (var (k, v) in options.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            model.MetadataProps.Add(new P.StringStringEntryProto { Key = k, Value = v });
        return model;
    }

    private static P.ValueInfoProto ValueInfo(string name, DType dtype, long[] shape, bool dynamicBatch)
    {
        var tensorType = new P.TypeProto.Types.Tensor { ElemType = OnnxTensors.ElementType(dtype), Shape = new P.TensorShapeProto() };
        for (int i = 0; i < shape.Length; i++)
            tensorType.Shape.Dim.Add(i == 0 && dynamicBatch ? new P.TensorShapeProto.Types.Dimension { DimParam = "batch" } : new P.TensorShapeProto.Types.Dimension { DimValue = shape[i] });
        return new P.ValueInfoProto { Name = name, Type = new P.TypeProto { TensorType = tensorType } };
    }

    /// <summary>The version of this package (written as the producer version).</summary>
    public static string PackageVersion { get; } =
        typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically (a temporary file beside it, then a rename).</summary>
    public static void Save(P.ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                model.WriteTo(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Reads an ONNX model; throws <see cref="InvalidDataException"/> naming the file when it is not ONNX or is truncated.</summary>
    public static P.ModelProto Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' does not exist", path);
        var bytes = File.ReadAllBytes(path);
        P.ModelProto model;
        try
        {
            model = P.ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"'{path}' is not a readable ONNX model ({bytes.Length} bytes): {Describe(e)}", e);
        }
        if (model.IrVersion <= 0 || model.Graph is null)
            throw new InvalidDataException($"'{path}' is not an ONNX model ({bytes.Length} bytes): " +
                (model.IrVersion <= 0 ? "it has no IR version" : "it has no graph"));
        return model;
    }

    private static string Describe(InvalidProtocolBufferException e) =>
        e.Message.Contains("truncated", StringComparison.OrdinalIgnoreCase)
            ? "the file ends inside a message (truncated?)"
            : "its bytes are not a protobuf ModelProto (" + e.Message + ")";

    /// <summary>The initializers of <paramref name="model"/> as (name, tensor) pairs, in graph order: a state dict when the model was exported here.</summary>
    public static IReadOnlyList<KeyValuePair<string, Tensor>> ReadInitializers(P.ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Graph is null) throw new InvalidDataException("the ONNX model has no graph");
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (var init in model.Graph.Initializer)
            result.Add(new(init.Name, OnnxTensors.FromProto(init)));
        return result;
    }

    /// <summary>The value of <paramref name="key"/> in the model's metadata_props, or null.</summary>
    public static string? Metadata(P.ModelProto model, string key)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var p in model.MetadataProps)
            if (p.Key == key) return p.Value;
        return null;
    }
}
