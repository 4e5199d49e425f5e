using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using CsCheck;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>
/// The parsers of untrusted bytes and how their inputs are generated. Each target's generator mutates committed
/// seeds (or, for the pickle, writes programs of opcodes); <see cref="ParserFuzzTests"/> samples them with CsCheck.
/// The ONNX reader joins as one more <see cref="ParserTarget"/> (Parse = its loader, documented exception = its
/// error type) and a generator over its seed models.
/// </summary>
internal static class ParserTargets
{
    public static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "fixtures", .. parts]);

    // ------------------------------------------------------------------ targets

    /// <summary><c>torch.save</c> checkpoints: the zip reader, the unpickler and the state-dict search.</summary>
    public static readonly ParserTarget Pth = new("pth", ".pth", path => PyTorchCheckpoint.LoadStateDict(path), typeof(InvalidDataException));

    /// <summary>Whole objects (any root, storages saved on their own): <see cref="PyTorchCheckpoint.LoadObject"/>.</summary>
    public static readonly ParserTarget PthObject = new("pth_object", ".pth", PyTorchCheckpoint.LoadObject, typeof(InvalidDataException));

    /// <summary>safetensors files.</summary>
    public static readonly ParserTarget SafeTensorsFile = new("safetensors", ".safetensors", path => SafeTensors.Read(path, out _), typeof(InvalidDataException));

    /// <summary>The decoder as the loader uses it, then the resizes that follow it (managed code on whatever the
    /// decoder returns). Documented failure: an <see cref="ImageDataException"/> whose Input is the file.</summary>
    public static readonly ParserTarget Image = new("image_resize", ".img", DecodeAndResize, typeof(ImageDataException))
    {
        IsDocumented = (e, path) => e is ImageDataException ide && ide.Input == path,
        // Its own findings, and the native decode corpus (libFuzzer's coverage-guided inputs) through the resizes.
        CorpusFolders = ["image_resize", "image_decode"],
        // Decoded pixels: up to the 4 Mpx limit used here times 4 channels, plus the resized copies.
        AllowedBytes = n => 64 * n + (96L << 20),
    };

    private static readonly ImageDecodeOptions ImageLimits = new() { MaxPixels = 4L << 20 };

    private static object? DecodeAndResize(string path)
    {
        int channels = 1 + (int)(new FileInfo(path).Length % 4);
        var image = ImageDecoder.Load(path, channels, ImageLimits);
        foreach (var resize in new[]
                 {
                     new ResizeImages(24, 24), new ResizeImages(7, 31, ResizingKind.IsoPad, Anchor.Left),
                     new ResizeImages(33, 5, ResizingKind.Fill), ResizeImages.ShorterSide(9),
                 })
        {
            var r = resize.Transform(image);
            if (r.Width <= 0 || r.Height <= 0 || r.Channels != channels)
                throw new InvalidOperationException($"{resize} made a {r.Width}x{r.Height}x{r.Channels} image from {image.Width}x{image.Height}x{channels}");
        }
        return image;
    }

    // ------------------------------------------------------------------ generators

    private static byte[][] Read(params string[] files) => files.Select(File.ReadAllBytes).ToArray();

    private static byte[][] Ascii(params string[] tokens) => tokens.Select(Encoding.UTF8.GetBytes).ToArray();

    public static readonly string[] PthSeeds =
        ["bare_state_dict.pth", "wrapped_state_dict.pth", "dtypes.pth"];

    /// <summary>Byte edits of whole checkpoint files (mostly exercises the zip layer and its CRC checks).</summary>
    public static Gen<byte[]> PthBytes()
    {
        var seeds = Read(PthSeeds.Select(f => Fixture("serialization", f)).ToArray());
        var tokens = Ascii("PK\u0003\u0004", "PK\u0001\u0002", "PK\u0005\u0006", "data.pkl", "data/0", "byteorder", "little", "big");
        return Mutation.Edits(seeds.Length).Select(e => Mutation.ApplyAll(seeds[e.Seed], e.Edits, tokens));
    }

    /// <summary>Byte edits of the data.pkl inside a checkpoint, zipped again with valid CRCs (the unpickler proper).</summary>
    public static Gen<byte[]> PthPickleBytes()
    {
        var zips = Read(PthSeeds.Select(f => Fixture("serialization", f)).ToArray()).Select(Unzip).ToArray();
        var tokens = Ascii("ctorch._utils\n_rebuild_tensor_v2\n", "ccollections\nOrderedDict\n", "ctorch\nFloatStorage\n",
            "cos\nsystem\n", "(X\u0007\0\0\0storageq\u0000", "Q", "R", "b", "\u0085", "\u0086", "\u0087", "(", "t", "u", "s", "a", "e",
            "h\u0000", "j\u0000\u0000\u0000\u0000", "\u0094", "\u0093", "N", "\u0088", "\u0089", "J\u00ff\u00ff\u00ff\u007f", ".");
        return Mutation.Edits(zips.Length).Select(e =>
        {
            var (prefix, entries) = zips[e.Seed];
            var pkl = Mutation.ApplyAll(entries[prefix + "data.pkl"], e.Edits, tokens);
            return Zip(entries.Select(kv => (kv.Key, kv.Key == prefix + "data.pkl" ? pkl : kv.Value)));
        });
    }

    /// <summary>Checkpoints whose data.pkl is a random program of pickle opcodes (with tensor-shaped macros), zipped
    /// with a few storages.</summary>
    public static Gen<byte[]> PthPickleOpcodes() =>
        Gen.Select(PickleOp.Gen.Array[1, 40], Gen.Int[0, 3], Gen.Int[0, 48], (ops, storages, size) =>
        {
            var pkl = new List<byte> { 0x80, 2 };
            foreach (var op in ops) op.Emit(pkl);
            pkl.Add((byte)'.');
            var entries = new List<(string, byte[])> { ("archive/data.pkl", pkl.ToArray()), ("archive/version", "3\n"u8.ToArray()) };
            for (int i = 0; i < storages; i++) entries.Add(($"archive/data/{i}", Enumerable.Range(0, size).Select(b => (byte)(b * 37 + i)).ToArray()));
            return Zip(entries);
        });

    public static (string Prefix, Dictionary<string, byte[]> Entries) Unzip(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var e in archive.Entries)
        {
            using var s = e.Open();
            var ms = new MemoryStream();
            s.CopyTo(ms);
            entries[e.FullName] = ms.ToArray();
        }
        string pkl = entries.Keys.Single(k => k.EndsWith("/data.pkl", StringComparison.Ordinal));
        return (pkl[..^"data.pkl".Length], entries);
    }

    public static byte[] Zip(IEnumerable<(string Name, byte[] Data)> entries)
    {
        var ms = new MemoryStream();
        using (var archive = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in entries)
            {
                using var s = archive.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        return ms.ToArray();
    }

    private static readonly string[] SafeTensorsTokens =
    [
        "{", "}", "[", "]", ",", ":", "\"", "\"dtype\":\"F32\"", "\"dtype\":\"BOOL\"", "\"dtype\":\"F8_E4M3\"", "\"shape\":[",
        "\"data_offsets\":[", "\"__metadata__\":{}", "\"__metadata__\":{\"a\":\"b\"}", "-", "1e999", "null", "true", "\\u0000", "\\ud800",
    ];

    /// <summary>Byte edits of safetensors files (header length, JSON, data).</summary>
    public static Gen<byte[]> SafeTensorsBytes()
    {
        var seeds = SafeTensorsSeeds();
        var tokens = Ascii(SafeTensorsTokens);
        return Mutation.Edits(seeds.Length).Select(e => Mutation.ApplyAll(seeds[e.Seed], e.Edits, tokens));
    }

    /// <summary>Edits of the JSON header only, with the 8-byte length prefix kept right (the header parser proper).</summary>
    public static Gen<byte[]> SafeTensorsHeaders()
    {
        var seeds = SafeTensorsSeeds();
        var tokens = Ascii(SafeTensorsTokens);
        return Mutation.Edits(seeds.Length).Select(e =>
        {
            var seed = seeds[e.Seed];
            int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(seed);
            var header = Mutation.ApplyAll(seed[8..(8 + headerLength)], e.Edits, tokens);
            var data = seed[(8 + headerLength)..];
            var file = new byte[8 + header.Length + data.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
            header.CopyTo(file, 8);
            data.CopyTo(file, 8 + header.Length);
            return file;
        });
    }

    /// <summary>The committed safetensors fixture (small) and a few written here: every dtype, metadata, empty.</summary>
    public static byte[][] SafeTensorsSeeds()
    {
        var seeds = new List<byte[]> { File.ReadAllBytes(Fixture("serialization", "expected.safetensors")) };
        var ms = new MemoryStream();
        SafeTensors.Write(ms, [new("a", new RawTensor(Torch.DType.Float16, [2, 3], new byte[12])), new("b", new RawTensor(Torch.DType.Bool, [0], [])),
            new("c", new RawTensor(Torch.DType.Int64, [], new byte[8]))], new Dictionary<string, string> { ["format"] = "pt" });
        seeds.Add(ms.ToArray());
        ms = new MemoryStream();
        SafeTensors.Write(ms, []);
        seeds.Add(ms.ToArray());
        return seeds.ToArray();
    }

    public static readonly string[] ImageSeeds =
    [
        "baseline.jpg", "progressive.jpg", "exif_6.jpg", "gray.jpg", "rgb.png", "palette_trns.png", "gray16.png", "bilevel.png",
        "gray_alpha.png", "rgb.bmp", "gray.bmp", "animated.gif", "rgb.tga", "rgb_rle.tga", "gray.pgm", "rgb.ppm",
    ];

    /// <summary>Byte edits of the fixture images.</summary>
    public static Gen<byte[]> ImageBytes()
    {
        var seeds = Read(ImageSeeds.Select(f => Fixture("images", f)).ToArray());
        var tokens = Ascii("IHDR", "IDAT", "IEND", "PLTE", "tRNS", "Exif\0\0", "MM\0*", "II*\0", "\u00ff\u00c4", "\u00ff\u00da", "\u00ff\u00d9", "\u00ff\u00e1", "GIF89a", "BM", "P6\n", "255\n", "65535\n");
        return Mutation.Edits(seeds.Length, 6).Select(e => Mutation.ApplyAll(seeds[e.Seed], e.Edits, tokens));
    }
}

/// <summary>One pickle opcode (or a tensor-shaped macro) with its argument, for <see cref="ParserTargets.PthPickleOpcodes"/>.</summary>
internal readonly record struct PickleOp(int Kind, uint Arg)
{
    private static readonly string[] Globals =
    [
        "torch._utils\n_rebuild_tensor_v2\n", "torch._utils\n_rebuild_tensor\n", "collections\nOrderedDict\n", "torch\nFloatStorage\n",
        "torch\nLongStorage\n", "torch\nHalfStorage\n", "torch\nBoolStorage\n", "torch\nBFloat16Storage\n", "torch._utils\n_rebuild_parameter\n",
        "torch._tensor\n_rebuild_from_type_v2\n", "torch\nSize\n", "torch\ndevice\n", "builtins\nset\n", "builtins\ntuple\n", "builtins\nlist\n",
        "builtins\ndict\n", "_codecs\nencode\n", "builtins\nbytearray\n", "os\nsystem\n", "torch.nn.parameter\nParameter\n", "__builtin__\nset\n",
        "torch\n_utils\n", "numpy.core.multiarray\n_reconstruct\n",
    ];
    private static readonly string[] Strings = ["storage", "0", "1", "2", "cpu", "cuda:0", "state_dict", "module.weight", "weight", "", "\u00e9t\u00e9", "version"];
    private const int Kinds = 44;

    public static Gen<PickleOp> Gen { get; } = CsCheck.Gen.Select(CsCheck.Gen.Int[0, Kinds - 1], CsCheck.Gen.UInt, (k, a) => new PickleOp(k, a));

    public override string ToString() => $"({Kind},{Arg})";

    private static void U32(List<byte> o, uint v) { o.Add((byte)v); o.Add((byte)(v >> 8)); o.Add((byte)(v >> 16)); o.Add((byte)(v >> 24)); }

    private static void Str(List<byte> o, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        o.Add(0x8c); o.Add((byte)b.Length); o.AddRange(b);
    }

    private static void Int(List<byte> o, uint v)
    {
        // Small ints mostly, sometimes negative or large.
        switch (v % 4)
        {
            case 0: o.Add((byte)'K'); o.Add((byte)(v >> 8)); break;
            case 1: o.Add((byte)'M'); o.Add((byte)(v >> 8)); o.Add((byte)(v >> 16)); break;
            case 2: o.Add((byte)'J'); U32(o, v >> 2 | (v << 30)); break;
            default: o.Add(0x8a); o.Add(8); U32(o, v); U32(o, v % 3 == 0 ? 0xFFFFFFFF : 0); break;
        }
    }

    public void Emit(List<byte> o)
    {
        uint a = Arg;
        switch (Kind)
        {
            case 0: o.Add((byte)'}'); break;
            case 1: o.Add((byte)']'); break;
            case 2: o.Add((byte)')'); break;
            case 3: o.Add((byte)'('); break;
            case 4: o.Add((byte)'t'); break;
            case 5: o.Add(0x85); break;
            case 6: o.Add(0x86); break;
            case 7: o.Add(0x87); break;
            case 8: o.Add((byte)'s'); break;
            case 9: o.Add((byte)'u'); break;
            case 10: o.Add((byte)'a'); break;
            case 11: o.Add((byte)'e'); break;
            case 12: Int(o, a); break;
            case 13: o.Add((byte)'G'); o.AddRange(BitConverter.GetBytes((double)(int)a).Reverse()); break;
            case 14: Str(o, Strings[a % (uint)Strings.Length]); break;
            case 15: o.Add((byte)'X'); U32(o, a % 5 == 0 ? a : a % 8); for (uint i = 0; i < Math.Min(a % 8, 8u); i++) o.Add((byte)('a' + i)); break;
            case 16: o.Add((byte)'q'); o.Add((byte)(a % 6)); break;
            case 17: o.Add((byte)'r'); U32(o, a % 3 == 0 ? a : a % 6); break;
            case 18: o.Add((byte)'h'); o.Add((byte)(a % 6)); break;
            case 19: o.Add((byte)'j'); U32(o, a % 3 == 0 ? a : a % 6); break;
            case 20: o.Add(0x94); break;
            case 21: o.Add((byte)'c'); o.AddRange(Encoding.ASCII.GetBytes(Globals[a % (uint)Globals.Length])); break;
            case 22: o.Add((byte)'Q'); break;
            case 23: o.Add((byte)'R'); break;
            case 24: o.Add((byte)'b'); break;
            case 25: o.Add(0x81); break;
            case 26: o.Add(0x92); break;
            case 27: o.Add((byte)'N'); break;
            case 28: o.Add(0x88); break;
            case 29: o.Add(0x89); break;
            case 30: o.Add((byte)'0'); break;
            case 31: o.Add((byte)'1'); break;
            case 32: o.Add((byte)'2'); break;
            case 33: o.Add(0x93); break;
            case 34: o.Add((byte)'C'); o.Add((byte)(a % 9)); for (uint i = 0; i < a % 9; i++) o.Add((byte)i); break;
            case 35: o.Add((byte)'B'); U32(o, a); break; // claims a length, usually far more than remains
            case 36: o.Add(0x8b); U32(o, a); break;     // LONG4 likewise
            case 37: o.Add(0x8f); break;
            case 38: o.Add(0x90); break;
            case 39: o.Add(0x91); break;
            case 40: o.Add(0x95); U32(o, a); U32(o, 0); break;
            case 41: // ('storage', <Storage>, key, 'cpu', numel) BINPERSID: a storage reference
                o.Add((byte)'('); Str(o, "storage"); o.Add((byte)'c'); o.AddRange(Encoding.ASCII.GetBytes(Globals[3 + (int)(a % 5)]));
                Str(o, (a >> 4 & 3).ToString(System.Globalization.CultureInfo.InvariantCulture)); Str(o, "cpu"); Int(o, a >> 6);
                o.Add((byte)'t'); o.Add((byte)'Q');
                break;
            case 42: // _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) around the storage on the stack
                o.Add((byte)'c'); o.AddRange(Encoding.ASCII.GetBytes(Globals[0]));
                o.Add((byte)'('); new PickleOp(41, a).Emit(o); Int(o, a >> 3 & 0x300);
                o.Add((byte)'('); for (int i = 0; i < (int)(a % 4); i++) Int(o, a >> (4 + i * 3) & 0x700); o.Add((byte)'t');
                o.Add((byte)'('); for (int i = 0; i < (int)(a % 4); i++) Int(o, a >> (5 + i * 3) & 0x700); o.Add((byte)'t');
                o.Add(0x89); o.Add((byte)'c'); o.AddRange(Encoding.ASCII.GetBytes(Globals[2])); o.Add((byte)')'); o.Add((byte)'R');
                o.Add((byte)'t'); o.Add((byte)'R');
                break;
            default: // nest: a tuple of the two items on top, repeated (deep and shared structures)
                for (int i = 0; i < (int)(a % 24); i++) { o.Add((byte)'2'); o.Add(0x86); }
                break;
        }
    }
}
