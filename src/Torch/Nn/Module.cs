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
    // Hooks are copy-on-write arrays, null when none is registered: the forward pass pays one field read.
    private ForwardHook[]? _forwardHooks;
    private IntermediateHook[]? _intermediateHooks;
    private readonly object _hookLock = new();

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

    // ---------------- hooks ----------------

    /// <summary>
    /// Registers <paramref name="hook"/> to run after every forward pass of this module with (module, input, output)
    /// (PyTorch's <c>register_forward_hook</c>); a non-null return value replaces the output the caller receives.
    /// Dispose the returned handle to remove the hook.
    /// </summary>
    /// <remarks>
    /// Which modules fire their hooks: every layer of <c>MLNet.Attention.Torch.Nn</c> (convolutions, linear layers,
    /// norms, activations, pools, <see cref="Sequential"/>), the attention layers of MLNet.Attention.Backbones, and any
    /// module run as an element of a <see cref="Sequential"/> (or another container that runs its children through
    /// <see cref="ForwardChild"/>) — ResNet blocks, for instance. A composite module that its parent calls directly, and
    /// that does not call <see cref="RunForwardHooks"/> itself, does not fire them.
    /// The tensors a hook receives belong to the forward pass and may be freed when it ends: copy what you keep
    /// (<c>Detach().Clone()</c>, <c>ToArray</c>). A hook must not change them in place.
    /// </remarks>
    public IDisposable RegisterForwardHook(ForwardHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        lock (_hookLock) _forwardHooks = Append(_forwardHooks, hook);
        return new HookHandle(() => { lock (_hookLock) _forwardHooks = Remove(_forwardHooks, hook); });
    }

    /// <summary>Registers an observing forward hook (module, input, output) that leaves the output as it is; see <see cref="RegisterForwardHook(ForwardHook)"/>.</summary>
    public IDisposable RegisterForwardHook(Action<Module, Tensor, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterForwardHook((m, i, o) => { hook(m, i, o); return null; });
    }

    /// <summary>
    /// Registers <paramref name="hook"/> to receive the named intermediate tensors this module reports during its forward
    /// pass: the attention layers report their attention maps (SE and CBAM channel weights, PSA's per-branch weights,
    /// CBAM's spatial map, BAM's attention, coordinate attention's maps along H and W, the residual attention soft mask;
    /// each layer's documentation names them). The tensors are valid only during the call: copy what you keep.
    /// Dispose the returned handle to remove the hook.
    /// </summary>
    public IDisposable RegisterIntermediateHook(IntermediateHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        lock (_hookLock) _intermediateHooks = Append(_intermediateHooks, hook);
        return new HookHandle(() => { lock (_hookLock) _intermediateHooks = Remove(_intermediateHooks, hook); });
    }

    /// <summary>True while at least one forward or intermediate hook is registered on this module.</summary>
    public bool HasHooks => _forwardHooks is not null || _intermediateHooks is not null;

    /// <summary>True while an intermediate hook is registered (a layer can skip preparing what it would report).</summary>
    protected bool HasIntermediateHooks => _intermediateHooks is not null;

    /// <summary>
    /// Runs the forward hooks on (<paramref name="input"/>, <paramref name="output"/>) and returns the output the caller
    /// should receive (the last replacement, or <paramref name="output"/>). Modules call it at the end of their forward
    /// pass; without hooks it returns <paramref name="output"/> at the cost of one field read.
    /// </summary>
    protected Tensor RunForwardHooks(Tensor input, Tensor output)
    {
        var hooks = _forwardHooks;
        if (hooks is null) return output;
        foreach (var h in hooks) output = h(this, input, output) ?? output;
        return output;
    }

    /// <summary>Hands <paramref name="value"/> to the intermediate hooks under <paramref name="name"/>; nothing without hooks.</summary>
    protected void ReportIntermediate(string name, Tensor value)
    {
        var hooks = _intermediateHooks;
        if (hooks is null) return;
        foreach (var h in hooks) h(this, name, value);
    }

    /// <summary>
    /// Whether this module's forward pass runs its own hooks (<see cref="RunForwardHooks"/>); containers run the hooks
    /// of children that do not (<see cref="ForwardChild"/>). False unless a subclass says otherwise.
    /// </summary>
    protected virtual bool RunsOwnForwardHooks => false;

    /// <summary>
    /// Runs <paramref name="child"/> on <paramref name="input"/> as a container does: its forward pass, then its forward
    /// hooks when it does not run them itself.
    /// </summary>
    protected static Tensor ForwardChild(Module<Tensor, Tensor> child, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(child);
        var output = child.Forward(input);
        return child.RunsOwnForwardHooks ? output : child.RunForwardHooks(input, output);
    }

    private static T[] Append<T>(T[]? list, T item) => list is null ? new[] { item } : [.. list, item];

    private static T[]? Remove<T>(T[]? list, T item) where T : class
    {
        if (list is null) return null;
        int i = Array.FindIndex(list, h => ReferenceEquals(h, item));
        if (i < 0) return list;
        if (list.Length == 1) return null;
        var copy = new T[list.Length - 1];
        Array.Copy(list, 0, copy, 0, i);
        Array.Copy(list, i + 1, copy, i, list.Length - i - 1);
        return copy;
    }

    private sealed class HookHandle(Action remove) : IDisposable
    {
        private Action? _remove = remove;

        public void Dispose() => Interlocked.Exchange(ref _remove, null)?.Invoke();
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

/// <summary>
/// A forward hook (<see cref="Module.RegisterForwardHook(ForwardHook)"/>): sees a module's input and output after its
/// forward pass; returns a tensor to replace the output, or null to keep it.
/// </summary>
/// <param name="module">The module that ran.</param>
/// <param name="input">Its input.</param>
/// <param name="output">Its output (or the replacement of an earlier hook).</param>
public delegate Tensor? ForwardHook(Module module, Tensor input, Tensor output);

/// <summary>An intermediate hook (<see cref="Module.RegisterIntermediateHook"/>): a named tensor a module reported during its forward pass.</summary>
/// <param name="module">The module that reported it.</param>
/// <param name="name">What it is (e.g. "channel_weights", "spatial_map").</param>
/// <param name="value">The tensor, valid only during the call.</param>
public delegate void IntermediateHook(Module module, string name, Tensor value);

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
