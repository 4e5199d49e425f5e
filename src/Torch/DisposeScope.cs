namespace MLNet.Attention.Torch;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost open scope and disposes them all
/// when it is disposed, so that a training step or a prediction frees its intermediates deterministically
/// instead of waiting for the garbage collector (TorchSharp's <c>NewDisposeScope</c>).
/// Keep a result with <see cref="Tensor.MoveToOuterDisposeScope"/> or <see cref="Tensor.DetachFromDisposeScope"/>.
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? _current;

    private readonly DisposeScope? _outer;
    private readonly List<Tensor?> _tensors = new();
    private readonly int _thread;
    private bool _disposed;

    internal DisposeScope()
    {
        _outer = _current;
        _current = this;
        _thread = Environment.CurrentManagedThreadId;
    }

    /// <summary>The innermost open scope of this thread, if any.</summary>
    public static DisposeScope? Current => _current;

    /// <summary>Number of live tensors this scope will dispose.</summary>
    public int Count
    {
        get
        {
            int n = 0;
            foreach (var t in _tensors) if (t is not null && !t.IsDisposed) n++;
            return n;
        }
    }

    internal static void Register(Tensor t)
    {
        var s = _current;
        if (s is null) return;
        s.Add(t);
    }

    private void Add(Tensor t)
    {
        t.Scope = this;
        t.ScopeIndex = _tensors.Count;
        _tensors.Add(t);
    }

    internal void Remove(Tensor t)
    {
        if (t.ScopeIndex < _tensors.Count && ReferenceEquals(_tensors[t.ScopeIndex], t))
            _tensors[t.ScopeIndex] = null;
        t.Scope = null;
    }

    internal void MoveToOuter(Tensor t)
    {
        Remove(t);
        _outer?.Add(t);
    }

    /// <summary>Disposes every tensor still registered and makes the enclosing scope current again.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        if (Environment.CurrentManagedThreadId != _thread)
            throw new InvalidOperationException("a DisposeScope must be disposed on the thread that opened it");
        if (!ReferenceEquals(_current, this))
            throw new InvalidOperationException("DisposeScopes must be disposed innermost first");
        _disposed = true;
        foreach (var t in _tensors)
        {
            if (t is null) continue;
            t.Scope = null;
            t.Dispose();
        }
        _tensors.Clear();
        _current = _outer;
    }
}
