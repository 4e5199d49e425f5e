using System.Collections.Concurrent;
using System.Text;

namespace MLNet.Attention.Transforms;

/// <summary>
/// The inputs left out under <see cref="BadInputPolicy.Skip"/>: one entry per input and problem (an input skipped
/// in every epoch is counted once), safe to fill from several threads. <see cref="ToString"/> is the summary a
/// training run prints.
/// </summary>
public sealed class BadInputReport
{
    /// <summary>One skipped input.</summary>
    /// <param name="Source">The file path or row name.</param>
    /// <param name="Kind">The category of problem.</param>
    /// <param name="Reason">The reason, without the file name.</param>
    public sealed record Entry(string Source, BadInputKind Kind, string Reason);

    private readonly ConcurrentDictionary<(string, BadInputKind), Entry> _entries = new();
    private long _events;

    /// <summary>Number of distinct skipped inputs (per problem).</summary>
    public int Count => _entries.Count;

    /// <summary>Number of times an input was skipped (an input skipped in three epochs counts three times).</summary>
    public long SkipEvents => Interlocked.Read(ref _events);

    /// <summary>The skipped inputs, ordered by source.</summary>
    public IReadOnlyList<Entry> Entries =>
        _entries.Values.OrderBy(e => e.Source, StringComparer.Ordinal).ThenBy(e => e.Kind).ToArray();

    /// <summary>How many distinct inputs were skipped for each kind of problem.</summary>
    public IReadOnlyDictionary<BadInputKind, int> CountsByKind =>
        _entries.Values.GroupBy(e => e.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Number of distinct inputs skipped for <paramref name="kind"/>.</summary>
    public int CountOf(BadInputKind kind) => _entries.Values.Count(e => e.Kind == kind);

    /// <summary>Records a skipped input.</summary>
    public void Add(string source, BadInputKind kind, string reason)
    {
        Interlocked.Increment(ref _events);
        _entries.TryAdd((source, kind), new Entry(source, kind, reason));
    }

    /// <summary>Records the input an exception is about.</summary>
    public void Add(ImageDataException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Add(e.Input, e.Kind, e.Reason);
    }

    /// <summary>Adds every entry of <paramref name="other"/>.</summary>
    public void AddRange(BadInputReport other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var e in other._entries.Values) _entries.TryAdd((e.Source, e.Kind), e);
        Interlocked.Add(ref _events, other.SkipEvents);
    }

    /// <summary>"No bad input", or a count per kind followed by one line per input.</summary>
    public override string ToString()
    {
        var entries = Entries;
        if (entries.Count == 0) return "no bad input skipped";
        var sb = new StringBuilder();
        sb.Append(entries.Count).Append(entries.Count == 1 ? " bad input skipped (" : " bad inputs skipped (")
          .Append(string.Join(", ", CountsByKind.Select(p => $"{p.Value} {p.Key}"))).Append(')');
        foreach (var e in entries) sb.Append("\n  ").Append(e.Kind).Append(": '").Append(e.Source).Append("': ").Append(e.Reason);
        return sb.ToString();
    }
}
