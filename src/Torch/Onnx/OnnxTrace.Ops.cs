using P = global::Onnx;

namespace MLNet.Attention.Torch.Onnx;

// The ONNX node(s) of every op of Functional and Tensor: each method is called by its op, after the op ran, with the
// op's inputs, arguments and output(s).
internal sealed partial class OnnxTrace
{
    private static long Norm(long dim, int rank) => dim < 0 ? dim + rank : dim;

    private static long[] Pads2d(long[] p) => new[] { p[0], p[1], p[0], p[1] };

    private void Emit(Tensor y, string op, IEnumerable<string> inputs, params P.AttributeProto[] attributes) =>
        Out(y, Node(op, inputs, attributes));

    private string Opt(Tensor? t) => t is null ? "" : In(t);

    /// <summary>An initializer of <paramref name="dims"/> filled with <paramref name="value"/>.</summary>
    private string ConstFull(long[] dims, double value, DType dtype)
    {
        var one = OnnxTensors.Scalar(value, dtype).RawData.ToByteArray();
        long n = dims.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[n * one.Length];
        for (long i = 0; i < n; i++) Buffer.BlockCopy(one, 0, bytes, (int)(i * one.Length), one.Length);
        var t = new P.TensorProto { DataType = OnnxTensors.ElementType(dtype), RawData = Google.Protobuf.ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return ConstTensor(t);
    }

    private string Reduce(string op, string x, long[] axes, bool keepDim)
    {
        var keep = Attr("keepdims", keepDim ? 1L : 0L);
        if (axes.Length == 0) return Node(op, new[] { x }, keep);
        if (op == "ReduceSum" || Opset >= 18) return Node(op, new[] { x, ConstInt64(axes) }, keep);
        return Node(op, new[] { x }, Attr("axes", axes), keep);
    }

    private string CastTo(string x, DType from, DType to) =>
        from == to ? x : Node("Cast", new[] { x }, Attr("to", (long)OnnxTensors.ElementType(to)));

    /// <summary>An op with no ONNX mapping: throws naming it and the module.</summary>
    internal void Unmapped(string op) => throw Unexportable(op);

    /// <summary>An op that writes into <paramref name="t"/> outside autograd (fill, copy, random): not exportable on a graph value.</summary>
    internal void Overwrite(Tensor t, string op)
    {
        if (IsTraced(t)) throw Unexportable(op + " on a value of the graph");
    }

    // ---------------- identity, cast ----------------

    internal void Identity(Tensor y, Tensor x) => Out(y, In(x));

    internal void Cast(Tensor y, Tensor x) => Out(y, CastTo(In(x), x.DType, y.DType));

    // ---------------- convolution, linear, normalisation ----------------

    internal void Conv2d(Tensor y, Tensor x, Tensor w, Tensor? b, long[] stride, long[] padding, long[] dilation, long groups)
    {
        var ws = w.Shape;
        Emit(y, "Conv", b is null ? new[] { In(x), In(w) } : new[] { In(x), In(w), In(b) },
            Attr("kernel_shape", new[] { ws[2], ws[3] }), Attr("strides", stride), Attr("pads", Pads2d(padding)),
            Attr("dilations", dilation), Attr("group", groups));
    }

    internal void Conv1d(Tensor y, Tensor x, Tensor w, Tensor? b, long stride, long padding, long dilation, long groups) =>
        Emit(y, "Conv", b is null ? new[] { In(x), In(w) } : new[] { In(x), In(w), In(b) },
            Attr("kernel_shape", new[] { w.Shape[2] }), Attr("strides", new[] { stride }), Attr("pads", new[] { padding, padding }),
            Attr("dilations", new[] { dilation }), Attr("group", groups));

    internal void Linear(Tensor y, Tensor x, Tensor w, Tensor? b)
    {
        if (x.Dim == 2)
        {
            Emit(y, "Gemm", b is null ? new[] { In(x), In(w) } : new[] { In(x), In(w), In(b) }, Attr("transB", 1L));
            return;
        }
        var wt = Node("Transpose", new[] { In(w) }, Attr("perm", new long[] { 1, 0 }));
        var mm = Node("MatMul", new[] { In(x), wt });
        Out(y, b is null ? mm : Node("Add", new[] { mm, In(b) }));
    }

    internal void BatchNorm(Tensor y, Tensor x, Tensor? mean, Tensor? var, Tensor? w, Tensor? b, bool training, double eps)
    {
        if (training || mean is null || var is null)
            Unmapped("Functional.BatchNorm with batch statistics (training mode or no running statistics)");
        long c = x.Shape[1];
        Emit(y, "BatchNormalization",
            new[] { In(x), w is null ? ConstFull(new[] { c }, 1, x.DType) : In(w), b is null ? ConstFull(new[] { c }, 0, x.DType) : In(b), In(mean!), In(var!) },
            Attr("epsilon", (float)eps));
    }

    internal void LayerNorm(Tensor y, Tensor x, long[] shape, Tensor? w, Tensor? b, double eps) =>
        Emit(y, "LayerNormalization",
            new[] { In(x), w is null ? ConstFull(shape, 1, x.DType) : In(w), b is null ? ConstFull(shape, 0, x.DType) : In(b) },
            Attr("axis", (long)-shape.Length), Attr("epsilon", (float)eps));

    /// <summary>GroupNorm as its definition: per (sample, group) mean and biased variance, then the per-channel affine map.</summary>
    internal void GroupNorm(Tensor y, Tensor x, long groups, Tensor? w, Tensor? b, double eps)
    {
        var xs = x.Shape;
        var xv = In(x);
        var r = Node("Reshape", new[] { xv, ConstInt64(0, groups, -1) });
        var mean = Reduce("ReduceMean", r, new long[] { 2 }, true);
        var d = Node("Sub", new[] { r, mean });
        var var = Reduce("ReduceMean", Node("Mul", new[] { d, d }), new long[] { 2 }, true);
        var n = Node("Div", new[] { d, Node("Sqrt", new[] { Node("Add", new[] { var, ConstScalar(eps, x.DType) }) }) });
        var v = Node("Reshape", new[] { n, Node("Shape", new[] { xv }) });
        var affineShape = new long[xs.Length - 1];
        affineShape[0] = xs[1];
        for (int i = 1; i < affineShape.Length; i++) affineShape[i] = 1;
        if (w is not null) v = Node("Mul", new[] { v, Node("Reshape", new[] { In(w), ConstInt64(affineShape) }) });
        if (b is not null) v = Node("Add", new[] { v, Node("Reshape", new[] { In(b), ConstInt64(affineShape) }) });
        Out(y, v);
    }

    internal void Dropout(Tensor y, Tensor x, double p, bool training)
    {
        if (training && p > 0) Unmapped("Functional.Dropout in training mode");
        Identity(y, x);
    }

    // ---------------- activations ----------------

    internal void Unary(UnaryOp op, Tensor x, Tensor y)
    {
        var v = In(x);
        var dt = x.DType;
        string r = op switch
        {
            UnaryOp.Relu => Node("Relu", new[] { v }),
            UnaryOp.Relu6 => Node("Clip", new[] { v, ConstScalar(0, dt), ConstScalar(6, dt) }),
            UnaryOp.Sigmoid => Node("Sigmoid", new[] { v }),
            UnaryOp.Hardsigmoid => Node("HardSigmoid", new[] { v }, Attr("alpha", 1f / 6), Attr("beta", 0.5f)),
            UnaryOp.Hardswish => Node("HardSwish", new[] { v }),
            UnaryOp.Silu => Node("Mul", new[] { v, Node("Sigmoid", new[] { v }) }),
            UnaryOp.Gelu => Opset >= 20 ? Node("Gelu", new[] { v })
                : Node("Mul", new[] { Node("Mul", new[] { v, ConstScalar(0.5, dt) }),
                    Node("Add", new[] { Node("Erf", new[] { Node("Mul", new[] { v, ConstScalar(1 / Math.Sqrt(2), dt) }) }), ConstScalar(1, dt) }) }),
            UnaryOp.GeluTanh => Opset >= 20 ? Node("Gelu", new[] { v }, Attr("approximate", "tanh")) : GeluTanh(v, dt),
            UnaryOp.Tanh => Node("Tanh", new[] { v }),
            UnaryOp.Exp => Node("Exp", new[] { v }),
            UnaryOp.Log => Node("Log", new[] { v }),
            UnaryOp.Sqrt => Node("Sqrt", new[] { v }),
            UnaryOp.Neg => Node("Neg", new[] { v }),
            UnaryOp.Abs => Node("Abs", new[] { v }),
            UnaryOp.Rsqrt => Node("Reciprocal", new[] { Node("Sqrt", new[] { v }) }),
            UnaryOp.Square => Node("Mul", new[] { v, v }),
            UnaryOp.Reciprocal => Node("Reciprocal", new[] { v }),
            UnaryOp.IsNan => Node("IsNaN", new[] { v }),
            UnaryOp.IsFinite => Node("Not", new[] { Node("Or", new[] { Node("IsInf", new[] { v }), Node("IsNaN", new[] { v }) }) }),
            UnaryOp.LogicalNot => Node("Not", new[] { v }),
            _ => throw Unexportable($"unary op {op}"),
        };
        Out(y, r);
    }

    private string GeluTanh(string v, DType dt)
    {
        var cube = Node("Mul", new[] { Node("Mul", new[] { v, v }), v });
        var inner = Node("Mul", new[] { Node("Add", new[] { v, Node("Mul", new[] { cube, ConstScalar(0.044715, dt) }) }), ConstScalar(Math.Sqrt(2 / Math.PI), dt) });
        var t = Node("Add", new[] { Node("Tanh", new[] { inner }), ConstScalar(1, dt) });
        return Node("Mul", new[] { Node("Mul", new[] { v, ConstScalar(0.5, dt) }), t });
    }

    internal void LeakyRelu(Tensor y, Tensor x, double slope) => Emit(y, "LeakyRelu", new[] { In(x) }, Attr("alpha", (float)slope));

    internal void Softmax(Tensor y, Tensor x, long dim, bool log) =>
        Emit(y, log ? "LogSoftmax" : "Softmax", new[] { In(x) }, Attr("axis", Norm(dim, x.Dim)));

    // ---------------- arithmetic ----------------

    private static string BinaryOpType(BinaryOp op) => op switch
    {
        BinaryOp.Add => "Add", BinaryOp.Sub => "Sub", BinaryOp.Mul => "Mul", BinaryOp.Div => "Div", BinaryOp.Pow => "Pow",
        BinaryOp.Maximum => "Max", BinaryOp.Minimum => "Min", BinaryOp.Eq => "Equal", BinaryOp.Ne => "Equal",
        BinaryOp.Lt => "Less", BinaryOp.Le => "LessOrEqual", BinaryOp.Gt => "Greater", BinaryOp.Ge => "GreaterOrEqual",
        _ => "",
    };

    private static bool IsComparison(BinaryOp op) => op is BinaryOp.Eq or BinaryOp.Ne or BinaryOp.Lt or BinaryOp.Le or BinaryOp.Gt or BinaryOp.Ge;

    private string BinaryNode(BinaryOp op, string a, string b)
    {
        var type = BinaryOpType(op);
        if (type.Length == 0) throw Unexportable($"Tensor.{op}");
        var r = Node(type, new[] { a, b });
        return op == BinaryOp.Ne ? Node("Not", new[] { r }) : r;
    }

    /// <summary>a (op) alpha·b; <paramref name="target"/> is the tensor whose value becomes the result (y, or a for in-place ops).</summary>
    internal void Binary(BinaryOp op, Tensor a, Tensor b, double alpha, Tensor target, DType resultType)
    {
        var compute = IsComparison(op) ? (a.DType.IsFloatingPoint() ? a.DType : b.DType) : resultType;
        var av = CastTo(In(a), a.DType, compute);
        var bv = CastTo(In(b), b.DType, compute);
        if (alpha != 1 && op is BinaryOp.Add or BinaryOp.Sub) bv = Node("Mul", new[] { bv, ConstScalar(alpha, compute) });
        Out(target, BinaryNode(op, av, bv));
    }

    internal void Scalar(BinaryOp op, Tensor a, double s, bool reverse, Tensor target, DType resultType)
    {
        if (op == BinaryOp.Remainder) Unmapped("Tensor.Remainder");
        var compute = IsComparison(op) ? a.DType : resultType;
        var av = CastTo(In(a), a.DType, compute);
        var sv = ConstScalar(s, compute);
        Out(target, reverse ? BinaryNode(op, sv, av) : BinaryNode(op, av, sv));
    }

    internal void Clamp(Tensor y, Tensor x, double? min, double? max) =>
        Emit(y, "Clip", new[] { In(x), min is null ? "" : ConstScalar(min.Value, x.DType), max is null ? "" : ConstScalar(max.Value, x.DType) });

    internal void MaskedFill(Tensor y, Tensor x, Tensor mask, double value) =>
        Emit(y, "Where", new[] { In(mask), ConstScalar(value, x.DType), In(x) });

    internal void Where(Tensor y, Tensor c, Tensor a, Tensor b) => Emit(y, "Where", new[] { In(c), In(a), In(b) });

    internal void MatMul(Tensor y, Tensor a, Tensor b) => Emit(y, "MatMul", new[] { In(a), In(b) });

    // ---------------- reductions ----------------

    internal void Reduce(Tensor y, Tensor x, int op, long[] dims, bool keepDim)
    {
        var type = op switch { 0 => "ReduceSum", 1 => "ReduceMean", 2 => "ReduceMax", 3 => "ReduceMin", _ => null };
        if (type is null) Unmapped(op == 5 ? "Tensor.Std" : op == 6 ? "Tensor.Var" : $"reduction {op}");
        Out(y, Reduce(type!, In(x), dims.Select(d => Norm(d, x.Dim)).ToArray(), keepDim));
    }

    internal void ReduceWithIndices(Tensor values, Tensor indices, Tensor x, bool max, long dim, bool keepDim)
    {
        long d = Norm(dim, x.Dim);
        var v = In(x);
        Out(values, Reduce(max ? "ReduceMax" : "ReduceMin", v, new[] { d }, keepDim));
        Out(indices, Node(max ? "ArgMax" : "ArgMin", new[] { v }, Attr("axis", d), Attr("keepdims", keepDim ? 1L : 0L)));
    }

    internal void ArgMax(Tensor y, Tensor x, long? dim, bool keepDim)
    {
        if (dim is null)
        {
            if (keepDim) Unmapped("Tensor.ArgMax over all elements with keepDim");
            var flat = Node("Reshape", new[] { In(x), ConstInt64(-1) });
            Emit(y, "ArgMax", new[] { flat }, Attr("axis", 0L), Attr("keepdims", 0L));
            return;
        }
        Emit(y, "ArgMax", new[] { In(x) }, Attr("axis", Norm(dim.Value, x.Dim)), Attr("keepdims", keepDim ? 1L : 0L));
    }

    // ---------------- shape ----------------

    internal void Reshape(Tensor y, Tensor x, long[] shape, string op) =>
        Emit(y, "Reshape", new[] { In(x), ShapeArg(shape, op, reshape: true) });

    /// <summary>An op whose output is the input reshaped to the output's shape (flatten).</summary>
    internal void ReshapeToOutput(Tensor y, Tensor x, string op) => Reshape(y, x, y.Shape, op);

    internal void Permute(Tensor y, Tensor x, long[] dims) =>
        Emit(y, "Transpose", new[] { In(x) }, Attr("perm", dims.Select(d => Norm(d, x.Dim)).ToArray()));

    internal void Transpose(Tensor y, Tensor x, long d0, long d1)
    {
        int rank = x.Dim;
        var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        long a = Norm(d0, rank), b = Norm(d1, rank);
        (perm[a], perm[b]) = (perm[b], perm[a]);
        Emit(y, "Transpose", new[] { In(x) }, Attr("perm", perm));
    }

    internal void Expand(Tensor y, Tensor x) => Emit(y, "Expand", new[] { In(x), ShapeArg(y.Shape, "Tensor.Expand", reshape: false) });

    internal void Unsqueeze(Tensor y, Tensor x, long dim) => Emit(y, "Unsqueeze", new[] { In(x), ConstInt64(Norm(dim, x.Dim + 1)) });

    internal void Squeeze(Tensor y, Tensor x, long? dim)
    {
        var shape = x.Shape;
        var axes = dim is null
            ? Enumerable.Range(0, shape.Length).Where(i => shape[i] == 1).Select(i => (long)i).ToArray()
            : shape[Norm(dim.Value, shape.Length)] == 1 ? new[] { Norm(dim.Value, shape.Length) } : Array.Empty<long>();
        if (axes.Length == 0) { Identity(y, x); return; }
        Emit(y, "Squeeze", new[] { In(x), ConstInt64(axes) });
    }

    internal void IndexSelect(Tensor y, Tensor x, long dim, Tensor index) =>
        Emit(y, "Gather", new[] { In(x), In(index) }, Attr("axis", Norm(dim, x.Dim)));

    internal void Narrow(Tensor y, Tensor x, long dim, long start, long length)
    {
        long d = Norm(dim, x.Dim);
        long s = start < 0 ? start + x.Shape[d] : start;
        Emit(y, "Slice", new[] { In(x), ConstInt64(s), ConstInt64(s + length), ConstInt64(d) });
    }

    internal void Select(Tensor y, Tensor x, long dim, long index)
    {
        long d = Norm(dim, x.Dim);
        long i = index < 0 ? index + x.Shape[d] : index;
        Emit(y, "Gather", new[] { In(x), ConstInt64Scalar(i) }, Attr("axis", d));
    }

    internal void Split(Tensor[] outs, Tensor x, long dim)
    {
        long d = Norm(dim, x.Dim);
        var sizes = outs.Select(o => o.Shape[d]).ToArray();
        var names = NodeN("Split", new[] { In(x), ConstInt64(sizes) }, outs.Length, Attr("axis", d));
        for (int i = 0; i < outs.Length; i++) Out(outs[i], names[i]);
    }

    internal void Cat(Tensor y, IReadOnlyList<Tensor> xs, long dim) =>
        Emit(y, "Concat", xs.Select(In).ToArray(), Attr("axis", Norm(dim, xs[0].Dim)));

    internal void Stack(Tensor y, IReadOnlyList<Tensor> xs, long dim)
    {
        long d = Norm(dim, xs[0].Dim + 1);
        var parts = xs.Select(t => Node("Unsqueeze", new[] { In(t), ConstInt64(d) })).ToArray();
        Out(y, Node("Concat", parts, Attr("axis", d)));
    }

    // ---------------- pooling, resampling, padding ----------------

    internal void MaxPool2d(Tensor y, Tensor x, long[] k, long[] s, long[] p, long[] d, bool ceil) =>
        Emit(y, "MaxPool", new[] { In(x) }, Attr("kernel_shape", k), Attr("strides", s), Attr("pads", Pads2d(p)), Attr("dilations", d), Attr("ceil_mode", ceil ? 1L : 0L));

    internal void AvgPool2d(Tensor y, Tensor x, long[] k, long[] s, long[] p, bool ceil, bool countIncludePad)
    {
        if (ceil && (p[0] > 0 || p[1] > 0) && countIncludePad)
            Unmapped("Functional.AvgPool2d with ceilMode, padding and countIncludePad (PyTorch and ONNX count the last window's padding differently)");
        Emit(y, "AveragePool", new[] { In(x) }, Attr("kernel_shape", k), Attr("strides", s), Attr("pads", Pads2d(p)),
            Attr("ceil_mode", ceil ? 1L : 0L), Attr("count_include_pad", countIncludePad ? 1L : 0L));
    }

    internal void AdaptivePool2d(Tensor y, Tensor x, long h, long w, bool max)
    {
        var s = x.Shape;
        long ih = s[^2], iw = s[^1];
        var v = In(x);
        if (h == 1 && w == 1 && s.Length == 4) { Emit(y, max ? "GlobalMaxPool" : "GlobalAveragePool", new[] { v }); return; }
        string reduce = max ? "ReduceMax" : "ReduceMean";
        int rank = s.Length;
        if (h == ih && w == 1) { Out(y, Reduce(reduce, v, new long[] { rank - 1 }, true)); return; }
        if (h == 1 && w == iw) { Out(y, Reduce(reduce, v, new long[] { rank - 2 }, true)); return; }
        if (h == ih && w == iw) { Identity(y, x); return; }
        if (ih % h != 0 || iw % w != 0)
            Unmapped($"Functional.Adaptive{(max ? "Max" : "Avg")}Pool2d from {ih}x{iw} to {h}x{w} (not a whole multiple)");
        var k = new[] { ih / h, iw / w };
        Emit(y, max ? "MaxPool" : "AveragePool", new[] { v }, Attr("kernel_shape", k), Attr("strides", k));
    }

    internal void Interpolate(Tensor y, Tensor x, InterpolationMode mode, bool alignCorners, double scaleH, double scaleW)
    {
        var attrs = mode == InterpolationMode.Nearest
            ? new[] { Attr("mode", "nearest"), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor") }
            : new[] { Attr("mode", "linear"), Attr("coordinate_transformation_mode", alignCorners ? "align_corners" : "pytorch_half_pixel") };
        if (scaleH > 0 && scaleW > 0 && !alignCorners)
        {
            var scales = new P.TensorProto { DataType = (int)P.TensorProto.Types.DataType.Float };
            scales.Dims.Add(4);
            scales.FloatData.AddRange(new[] { 1f, 1f, (float)scaleH, (float)scaleW });
            Emit(y, "Resize", new[] { In(x), "", ConstTensor(scales) }, attrs);
            return;
        }
        Emit(y, "Resize", new[] { In(x), "", "", ShapeArg(y.Shape, "Functional.Interpolate", reshape: false) }, attrs);
    }

    internal void Pad(Tensor y, Tensor x, long[] pads, PaddingMode mode, double value)
    {
        int rank = x.Dim;
        var onnx = new long[2 * rank];
        for (int i = 0; i < pads.Length / 2; i++)
        {
            int d = rank - 1 - i;
            onnx[d] = pads[2 * i];
            onnx[rank + d] = pads[2 * i + 1];
        }
        if (mode == PaddingMode.Circular && Opset < 19) Unmapped("Functional.Pad in circular mode below operator set 19");
        var m = mode switch { PaddingMode.Constant => "constant", PaddingMode.Reflect => "reflect", PaddingMode.Replicate => "edge", _ => "wrap" };
        Emit(y, "Pad", mode == PaddingMode.Constant ? new[] { In(x), ConstInt64(onnx), ConstScalar(value, x.DType) } : new[] { In(x), ConstInt64(onnx) }, Attr("mode", m));
    }
}
