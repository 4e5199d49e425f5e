using System.Text;

namespace MLNet.Attention.Torch.Nn;

/// <summary>
/// Base of every layer and network, like <c>torch.nn.Module</c>: named parameters, buffers and submodules
/// registered in the order PyTorch registers them, so that <see cref="StateDict"/> keys and their order equal the
/// equivalent PyTorch module's (<c>conv1.weight</c>, <c>layer1.0.bn1.running_mean</c>, …).
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<KeyValuePair<string, Tensor?>> _parameters = new();
    private readonly List<KeyValuePair<string, Tensor?>> _buffers = new();
    private readonly HashSet<string> _nonPersistent = new();
    private readonly List<KeyValuePair<string, Module>> _modules = new();
    private bool _disposed;

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool IsTraining { get; private set; } = true;

    private void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('.')) throw new ArgumentException($"name '{name}' may not contain '.'", nameof(name));
        if (_parameters.Exists(p => p.Key == name) || _buffers.Exists(p => p.Key == name) || _modules.Exists(p => p.Key == name))
            throw new ArgumentException($"{GetType().Name} already has a member named '{name}'", nameof(name));
    }

    /// <summary>Registers a trainable parameter (sets requires_grad and takes it out of any dispose scope). Null registers an absent one (e.g. no bias).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? parameter)
    {
        CheckName(name);
        if (parameter is not null)
        {
            parameter.DetachFromDisposeScope();
            if (!parameter.RequiresGrad) parameter.RequiresGrad = true;
        }
        _parameters.Add(new(name, parameter));
        return parameter;
    }

    /// <summary>Registers a buffer: state that is saved but not trained (running statistics). Non-persistent buffers stay out of the state dict.</summary>
    protected Tensor? RegisterBuffer(string name, Tensor? buffer, bool persistent = true)
    {
        CheckName(name);
        buffer?.DetachFromDisposeScope();
        _buffers.Add(new(name, buffer));
        if (!persistent) _nonPersistent.Add(name);
        return buffer;
    }

    /// <summary>Registers a submodule under <paramref name="name"/> and returns it.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name);
        _modules.Add(new(name, module));
        return module;
    }

    /// <summary>Replaces a registered submodule (e.g. a new classifier head) and disposes the old one.</summary>
    protected T ReplaceModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        int i = _modules.FindIndex(p => p.Key == name);
        if (i < 0) throw new ArgumentException($"{GetType().Name} has no submodule '{name}'", nameof(name));
        var old = _modules[i].Value;
        _modules[i] = new(name, module);
        if (!ReferenceEquals(old, module)) old.Dispose();
        return module;
    }

    /// <summary>The direct submodules, in registration order.</summary>
    public IEnumerable<KeyValuePair<string, Module>> NamedChildren() => _modules;

    /// <summary>This module and all descendants with their dotted names ("" for this one).</summary>
    public IEnumerable<KeyValuePair<string, Module>> NamedModules(string prefix = "")
    {
        yield return new(prefix, this);
        foreach (var (name, m) in _modules)
            foreach (var d in m.NamedModules(prefix.Length == 0 ? name : prefix + "." + name))
                yield return d;
    }

    /// <summary>Parameters with dotted names, this module's first, then each submodule's.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedParameters(bool recurse = true)
    {
        foreach (var (prefix, m) in recurse ? NamedModules() : new[] { new KeyValuePair<string, Module>("", this) })
            foreach (var (name, p) in m._parameters)
                if (p is not null) yield return new(Join(prefix, name), p);
    }

    /// <summary>All trainable parameters (those with <see cref="Tensor.RequiresGrad"/>), as the optimizers take them.</summary>
    public IReadOnlyList<Tensor> Parameters() => NamedParameters().Select(p => p.Value).Where(p => p.RequiresGrad).ToList();

    /// <summary>Buffers with dotted names.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedBuffers()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, b) in m._buffers)
                if (b is not null) yield return new(Join(prefix, name), b);
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>
    /// The state dict: for each module in depth-first order, its parameters then its persistent buffers — the key
    /// order of PyTorch's <c>state_dict()</c>. The tensors are the module's own (not copies).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> StateDict()
    {
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var (name, p) in m._parameters)
                if (p is not null) result.Add(new(Join(prefix, name), p));
            foreach (var (name, b) in m._buffers)
                if (b is not null && !m._nonPersistent.Contains(name)) result.Add(new(Join(prefix, name), b));
        }
        return result;
    }

    /// <summary>Number of trainable parameter elements.</summary>
    public long ParameterCount() => NamedParameters().Sum(p => p.Value.NumElements);

    /// <summary>
    /// Copies values into this module's parameters and buffers. With <paramref name="strict"/>, any missing key,
    /// unexpected key or shape mismatch throws before anything is copied; otherwise matching entries are copied and
    /// the report lists the rest. Values are converted to each target's dtype and device.
    /// </summary>
    public LoadReport LoadStateDict(IEnumerable<KeyValuePair<string, Tensor>> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var own = StateDict().ToDictionary(p => p.Key, p => p.Value);
        var report = new LoadReport();
        var toCopy = new List<(Tensor Dst, Tensor Src)>();
        var seen = new HashSet<string>();
        foreach (var (key, value) in stateDict)
        {
            if (!seen.Add(key)) throw new ArgumentException($"state dict holds '{key}' twice", nameof(stateDict));
            if (!own.TryGetValue(key, out var dst)) { report.UnexpectedKeys.Add(key); continue; }
            var ds = dst.Shape;
            var ss = value.Shape;
            if (!ds.SequenceEqual(ss)) { report.ShapeMismatches.Add(new(key, ds, ss)); continue; }
            toCopy.Add((dst, value));
        }
        foreach (var key in own.Keys)
            if (!seen.Contains(key)) report.MissingKeys.Add(key);
        if (strict && !report.IsClean)
            throw new InvalidOperationException($"state dict does not fit {GetType().Name}: {report}");
        foreach (var (dst, src) in toCopy) dst.Copy_(src);
        return report;
    }

    /// <summary>Sets training mode on this module and every descendant.</summary>
    public virtual Module Train(bool on = true)
    {
        IsTraining = on;
        foreach (var (_, m) in _modules) m.Train(on);
        return this;
    }

    /// <summary>Evaluation mode (<c>Train(false)</c>): batch norm uses running statistics, dropout is off.</summary>
    public Module Eval() => Train(false);

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> (and floating-point ones to <paramref name="dtype"/>), in place.</summary>
    public Module To(Device device, DType? dtype = null)
    {
        foreach (var (_, m) in NamedModules())
        {
            foreach (var list in new[] { m._parameters, m._buffers })
                foreach (var (_, t) in list)
                {
                    if (t is null) continue;
                    var target = dtype is not null && t.DType.IsFloatingPoint() ? dtype : null;
                    if (t.Device == device && (target is null || t.DType == target)) continue;
                    using var moved = t.To(device, target);
                    t.SetData(moved);
                }
        }
        return this;
    }

    /// <summary>Freezes (or unfreezes) every parameter.</summary>
    public Module RequiresGrad(bool requiresGrad)
    {
        foreach (var (_, p) in NamedParameters()) p.RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>An indented tree of submodules, like PyTorch's <c>print(model)</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Describe(sb, 0);
        return sb.ToString();
    }

    private void Describe(StringBuilder sb, int indent)
    {
        sb.Append(GetType().Name).Append('(').Append(ExtraRepr());
        if (_modules.Count > 0)
        {
            sb.AppendLine();
            foreach (var (name, m) in _modules)
            {
                sb.Append(' ', indent + 2).Append('(').Append(name).Append("): ");
                m.Describe(sb, indent + 2);
                sb.AppendLine();
            }
            sb.Append(' ', indent);
        }
        sb.Append(')');
    }

    /// <summary>The layer's settings for <see cref="ToString"/>, e.g. "3, 64, kernel_size=(7, 7)".</summary>
    protected virtual string ExtraRepr() => "";

    /// <summary>Frees every parameter and buffer of this module and its descendants.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees owned tensors.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed || !disposing) return;
        _disposed = true;
        foreach (var (_, p) in _parameters) p?.Dispose();
        foreach (var (_, b) in _buffers) b?.Dispose();
        foreach (var (_, m) in _modules) m.Dispose();
    }
}

/// <summary>A module with a typed forward pass.</summary>
public abstract class Module<TIn, TOut> : Module
{
    /// <summary>The computation.</summary>
    public abstract TOut Forward(TIn input);

    /// <summary>Runs <see cref="Forward"/> (PyTorch's <c>module(x)</c>).</summary>
    public TOut Call(TIn input) => Forward(input);
}

/// <summary>What <see cref="Module.LoadStateDict"/> found: missing keys, unexpected keys, shape mismatches.</summary>
public sealed class LoadReport
{
    /// <summary>Keys the module has that the state dict lacks.</summary>
    public List<string> MissingKeys { get; } = new();

    /// <summary>Keys of the state dict the module does not have.</summary>
    public List<string> UnexpectedKeys { get; } = new();

    /// <summary>Keys present on both sides with different shapes.</summary>
    public List<ShapeMismatch> ShapeMismatches { get; } = new();

    /// <summary>True when everything matched.</summary>
    public bool IsClean => MissingKeys.Count == 0 && UnexpectedKeys.Count == 0 && ShapeMismatches.Count == 0;

    /// <inheritdoc/>
    public override string ToString()
    {
        if (IsClean) return "all keys matched";
        var parts = new List<string>();
        if (MissingKeys.Count > 0) parts.Add($"missing keys: {string.Join(", ", MissingKeys)}");
        if (UnexpectedKeys.Count > 0) parts.Add($"unexpected keys: {string.Join(", ", UnexpectedKeys)}");
        if (ShapeMismatches.Count > 0) parts.Add($"shape mismatches: {string.Join(", ", ShapeMismatches)}");
        return string.Join("; ", parts);
    }
}

/// <summary>A key whose tensor has another shape in the module than in the state dict.</summary>
/// <param name="Key">The state-dict key.</param>
/// <param name="Expected">The module's shape.</param>
/// <param name="Actual">The state dict's shape.</param>
public sealed record ShapeMismatch(string Key, long[] Expected, long[] Actual)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Key} (module [{string.Join(", ", Expected)}], state dict [{string.Join(", ", Actual)}])";
}
