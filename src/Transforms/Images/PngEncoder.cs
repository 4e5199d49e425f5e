using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNet.Attention.Transforms;

/// <summary>
/// A minimal PNG writer for <see cref="ImageData"/> (8-bit gray, gray+alpha, RGB, RGBA): per row the filter (None,
/// Sub, Up, Average, Paeth) with the smallest sum of absolute values, as libpng chooses, one zlib IDAT chunk.
/// </summary>
public static class PngEncoder
{
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>The PNG file of <paramref name="image"/>.</summary>
    public static byte[] Encode(ImageData image, CompressionLevel level = CompressionLevel.Fastest)
    {
        ArgumentNullException.ThrowIfNull(image);
        int c = image.Channels, w = image.Width, h = image.Height, stride = w * c;
        byte colorType = c switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, level, leaveOpen: true))
        {
            var candidates = new byte[5][];
            for (int f = 0; f < 5; f++) candidates[f] = new byte[stride + 1];
            var px = image.Pixels;
            for (int y = 0; y < h; y++)
            {
                var row = px.AsSpan(y * stride, stride);
                var prev = y > 0 ? px.AsSpan((y - 1) * stride, stride) : default;
                int best = 0;
                long bestScore = long.MaxValue;
                for (int f = 0; f < 5; f++)
                {
                    if (y == 0 && f is 2) continue;   // Up of the first row is None
                    var o = candidates[f];
                    o[0] = (byte)f;
                    long score = 0;
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= c ? row[i - c] : 0, b = y > 0 ? prev[i] : 0, d = i >= c && y > 0 ? prev[i - c] : 0;
                        int pred = f switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, d) };
                        byte v = (byte)(row[i] - pred);
                        o[i + 1] = v;
                        score += v < 128 ? v : 256 - v;
                    }
                    if (score < bestScore) { bestScore = score; best = f; }
                }
                z.Write(candidates[best]);
            }
        }
        using var file = new MemoryStream();
        file.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], h);
        ihdr[8] = 8; ihdr[9] = colorType; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
        Chunk(file, "IHDR", ihdr);
        Chunk(file, "IDAT", idat.GetBuffer().AsSpan(0, (int)idat.Length));
        Chunk(file, "IEND", ReadOnlySpan<byte>.Empty);
        return file.ToArray();
    }

    /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> as PNG.</summary>
    public static void Save(ImageData image, string path, CompressionLevel level = CompressionLevel.Fastest) =>
        File.WriteAllBytes(path, Encode(image, level));

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void Chunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        for (int i = 0; i < 4; i++) head[4 + i] = (byte)type[i];
        s.Write(head);
        s.Write(data);
        uint crc = Crc(0xFFFFFFFFu, head[4..]);
        crc = Crc(crc, data) ^ 0xFFFFFFFFu;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
