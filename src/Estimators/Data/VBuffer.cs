namespace MLNet.Attention.Data;

/// <summary>
/// A vector value (ML.NET's <c>VBuffer&lt;T&gt;</c>), dense only: <see cref="Length"/> values. Vector getters deliver
/// either this or a plain <c>T[]</c>.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
public readonly struct VBuffer<T>
{
    private readonly T[]? _values;

    /// <summary>A dense vector holding <paramref name="values"/> (not copied).</summary>
    public VBuffer(T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _values = values;
    }

    /// <summary>A dense vector holding the first <paramref name="length"/> of <paramref name="values"/> (not copied).</summary>
    public VBuffer(int length, T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if ((uint)length > (uint)values.Length) throw new ArgumentOutOfRangeException(nameof(length), length, $"must be in [0, {values.Length}]");
        _values = length == values.Length ? values : values.AsSpan(0, length).ToArray();
    }

    /// <summary>Number of elements.</summary>
    public int Length => _values?.Length ?? 0;

    /// <summary>Always true: only dense vectors exist here.</summary>
    public bool IsDense => true;

    /// <summary>The values.</summary>
    public ReadOnlySpan<T> GetValues() => _values;

    /// <summary>The values as an enumerable (ML.NET's <c>DenseValues</c>).</summary>
    public IEnumerable<T> DenseValues() => _values ?? Enumerable.Empty<T>();

    /// <summary>Copies the values into <paramref name="destination"/> (ML.NET's <c>CopyTo</c>).</summary>
    public void CopyTo(Span<T> destination) => GetValues().CopyTo(destination);

    /// <summary>A new array holding the values.</summary>
    public T[] ToArray() => _values is null ? Array.Empty<T>() : (T[])_values.Clone();

    /// <summary>The values without a copy (internal: the array is shared).</summary>
    internal T[] Array_ => _values ?? Array.Empty<T>();

    /// <inheritdoc/>
    public override string ToString() => $"VBuffer<{typeof(T).Name}>[{Length}]";
}
