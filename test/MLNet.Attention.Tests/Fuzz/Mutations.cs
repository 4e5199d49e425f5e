using System.Buffers.Binary;
using System.Text;
using CsCheck;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>One edit of an input (AFL/libFuzzer-style); positions are taken modulo the input's length when applied,
/// so any list of edits applies to any input and CsCheck can shrink the list.</summary>
internal readonly record struct Mutation(int Kind, uint A, uint B)
{
    public const int Kinds = 11;

    private static readonly byte[] Bytes = [0, 1, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x40, 0xFE, 0x0A, (byte)'"', (byte)'0', (byte)'9'];
    private static readonly ulong[] Ints =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
        0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x40000000, 1UL << 40,
    ];
    private static readonly string[] Numbers =
    [
        "0", "-1", "1", "255", "65536", "2147483647", "2147483648", "4294967296", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "99999999999999999999999", "1e300", "-0", "1.5",
    ];

    public override string ToString() => $"({Kind},{A},{B})";

    /// <summary>Applies the edit; <paramref name="tokens"/> are the format's dictionary (JSON keys, chunk names, ...).</summary>
    public byte[] Apply(byte[] input, IReadOnlyList<byte[]> tokens)
    {
        int n = input.Length;
        if (n == 0) return Kind == 4 ? [(byte)B] : input;
        int at = (int)(A % (uint)n);
        var d = (byte[])input.Clone();
        switch (Kind)
        {
            case 0: // flip a bit
                d[at] ^= (byte)(1 << (int)(B % 8));
                return d;
            case 1: // an interesting byte
                d[at] = Bytes[B % (uint)Bytes.Length];
                return d;
            case 2: // an interesting 16/32/64-bit integer, little or big endian
            {
                ulong v = Ints[B % (uint)Ints.Length];
                int width = 2 << (int)((B >> 8) % 3);
                bool big = ((B >> 12) & 1) != 0;
                Span<byte> w = stackalloc byte[8];
                if (big) BinaryPrimitives.WriteUInt64BigEndian(w, v); else BinaryPrimitives.WriteUInt64LittleEndian(w, v);
                var src = big ? w[(8 - width)..] : w[..width];
                for (int i = 0; i < width && at + i < n; i++) d[at + i] = src[i];
                return d;
            }
            case 3: // delete a range
            {
                int len = Math.Min(n - at, 1 + (int)(B % 64));
                return [.. input.AsSpan(0, at), .. input.AsSpan(at + len)];
            }
            case 4: // insert bytes
            {
                var ins = new byte[1 + B % 16];
                uint x = B * 2654435761u + 1;
                for (int i = 0; i < ins.Length; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; ins[i] = (byte)x; }
                int pos = (int)(A % (uint)(n + 1));
                return [.. input.AsSpan(0, pos), .. ins, .. input.AsSpan(pos)];
            }
            case 5: // duplicate a range elsewhere
            {
                int len = Math.Min(n - at, 1 + (int)(B % 256));
                int pos = (int)((B >> 8) % (uint)(n + 1));
                return [.. input.AsSpan(0, pos), .. input.AsSpan(at, len), .. input.AsSpan(pos)];
            }
            case 6: // truncate
                return input[..at];
            case 7: // overwrite a range with another part of the input
            {
                int from = (int)(B % (uint)n);
                int len = Math.Min(Math.Min(n - at, n - from), 1 + (int)((B >> 16) % 64));
                input.AsSpan(from, len).CopyTo(d.AsSpan(at));
                return d;
            }
            case 8: // a random byte
                d[at] = (byte)B;
                return d;
            case 9: // replace the decimal number at or after the position by an interesting one (text formats)
            {
                int s = at;
                while (s < n && !(d[s] is >= (byte)'0' and <= (byte)'9')) s++;
                if (s == n) return d;
                int e = s;
                while (e < n && d[e] is >= (byte)'0' and <= (byte)'9') e++;
                var num = Encoding.ASCII.GetBytes(Numbers[B % (uint)Numbers.Length]);
                return [.. input.AsSpan(0, s), .. num, .. input.AsSpan(e)];
            }
            default: // insert a dictionary token
            {
                if (tokens.Count == 0) return d;
                var t = tokens[(int)(B % (uint)tokens.Count)];
                int pos = (int)(A % (uint)(n + 1));
                return [.. input.AsSpan(0, pos), .. t, .. input.AsSpan(pos)];
            }
        }
    }

    public static Gen<Mutation> Gen { get; } = CsCheck.Gen.Select(CsCheck.Gen.Int[0, Kinds - 1], CsCheck.Gen.UInt, CsCheck.Gen.UInt, (k, a, b) => new Mutation(k, a, b));

    /// <summary>Inputs made from one of <paramref name="seeds"/> by 1 to <paramref name="maxEdits"/> edits.</summary>
    public static Gen<(int Seed, Mutation[] Edits)> Edits(int seeds, int maxEdits = 8) =>
        CsCheck.Gen.Select(CsCheck.Gen.Int[0, seeds - 1], Gen.Array[1, maxEdits]);

    public static byte[] ApplyAll(byte[] seed, IEnumerable<Mutation> edits, IReadOnlyList<byte[]> tokens)
    {
        foreach (var m in edits) seed = m.Apply(seed, tokens);
        return seed;
    }
}
