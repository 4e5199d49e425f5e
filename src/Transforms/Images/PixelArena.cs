namespace MLNet.Attention.Transforms;

/// <summary>
/// Reuses pixel arrays between the images one loader worker processes. While a worker runs the pipeline on an
/// image, every pixel array the decoder and the built-in transforms allocate comes from its arena; once the image
/// is written into its batch, they all go back (kept by exact length: datasets and transform outputs repeat sizes).
/// Without a current arena (outside the loader) allocation is ordinary. This is why a transform must not keep the
/// images it is given or returns (see <see cref="IImageTransform"/>).
/// </summary>
internal sealed class PixelArena
{
    private const long MaxCachedBytes = 32L << 20;
    private const int MaxPerLength = 4;

    [ThreadStatic] private static PixelArena? _current;

    private readonly Dictionary<int, Stack<byte[]>> _free = new();
    private readonly List<byte[]> _lent = new();
    private long _cachedBytes;
    private byte[] _file = Array.Empty<byte>();

    /// <summary>The arena of the calling thread, if any.</summary>
    internal static PixelArena? Current => _current;

    /// <summary>Makes this the calling thread's arena until the returned scope is disposed.</summary>
    internal Scope Enter() => new(this);

    internal readonly struct Scope : IDisposable
    {
        private readonly PixelArena? _previous;
        internal Scope(PixelArena arena) { _previous = _current; _current = arena; }
        public void Dispose() => _current = _previous;
    }

    /// <summary>An uninitialised array of exactly <paramref name="length"/> bytes, from the current arena when there is one.</summary>
    internal static byte[] Allocate(int length) => _current?.Rent(length) ?? GC.AllocateUninitializedArray<byte>(length);

    /// <summary>A copy of <paramref name="source"/> from the current arena when there is one.</summary>
    internal static byte[] Copy(byte[] source)
    {
        var a = Allocate(source.Length);
        source.AsSpan().CopyTo(a);
        return a;
    }

    private byte[] Rent(int length)
    {
        byte[] a;
        if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
        {
            a = stack.Pop();
            _cachedBytes -= a.Length;
        }
        else a = GC.AllocateUninitializedArray<byte>(length);
        _lent.Add(a);
        return a;
    }

    /// <summary>A scratch buffer of at least <paramref name="length"/> bytes for file contents (valid until the next call).</summary>
    internal byte[] FileBuffer(int length)
    {
        if (_file.Length < length) _file = GC.AllocateUninitializedArray<byte>(Math.Max(length, _file.Length * 2));
        return _file;
    }

    /// <summary>Takes back every array lent since the last call.</summary>
    internal void ReleaseAll()
    {
        foreach (var a in _lent)
        {
            if (_cachedBytes + a.Length > MaxCachedBytes) continue;
            if (!_free.TryGetValue(a.Length, out var stack)) _free[a.Length] = stack = new Stack<byte[]>();
            if (stack.Count >= MaxPerLength) continue;
            stack.Push(a);
            _cachedBytes += a.Length;
        }
        _lent.Clear();
        if (_free.Count > 32)
        {
            // Many distinct sizes (photos of every shape): start over rather than keep the rare ones.
            _free.Clear();
            _cachedBytes = 0;
        }
    }
}
