using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>
/// Replays the native fuzzers' committed corpora (test/fixtures/fuzz/image_header and image_decode: the minimised
/// corpus and every input that once crashed) through the normal Release library, in the modes the libFuzzer
/// harnesses (native/fuzz/image_fuzz.cpp) use, so CI needs no clang. Allowed: a result or an ImageDataException naming
/// the input. (build/fuzz.sh --replay runs the same files through the ASan/UBSan builds.)
/// </summary>
[TestClass]
public sealed class ImageFuzzCorpusTests
{
    private static string[] Inputs(string target)
    {
        var files = ParserFuzzHarness.CommittedInputs(target);
        Assert.IsNotEmpty(files, $"no committed inputs under test/fixtures/fuzz/{target}");
        return files;
    }

    private static void Allowed(Action run, string name)
    {
        try
        {
            run();
        }
        catch (ImageDataException e)
        {
            Assert.AreEqual(name, e.Input, $"{Path.GetFileName(name)}: the error names another input");
        }
    }

    [TestMethod]
    public void HeaderCorpusReplays()
    {
        foreach (var f in Inputs("image_header"))
        {
            var data = File.ReadAllBytes(f);
            foreach (bool orient in new[] { false, true })
                foreach (long limit in new[] { 0L, ImageDecodeOptions.DefaultMaxPixels, 1L })
                    Allowed(() =>
                    {
                        var info = ImageDecoder.GetInfo(data, new ImageDecodeOptions { ApplyExifOrientation = orient, MaxPixels = limit }, f);
                        Assert.IsTrue(info.Width > 0 && info.Height > 0 && info.Channels is >= 1 and <= 4 && info.Orientation is >= 1 and <= 8, $"{f}: {info}");
                        if (limit > 0) Assert.IsLessThanOrEqualTo(limit, (long)info.Width * info.Height, $"{f}: pixel limit");
                    }, f);
        }
    }

    [TestMethod]
    public void DecodeCorpusReplays()
    {
        foreach (var f in Inputs("image_decode"))
        {
            var data = File.ReadAllBytes(f);
            // The harness's mode: channels and orientation from the length, a 4 Mpx limit.
            int channels = 1 + data.Length % 4;
            var options = new ImageDecodeOptions { ApplyExifOrientation = data.Length / 4 % 2 == 1, MaxPixels = 4L << 20 };
            Allowed(() =>
            {
                var info = ImageDecoder.GetInfo(data, options, f);
                var image = ImageDecoder.Decode(data, channels, options, f);
                Assert.AreEqual((info.Width, info.Height, channels), (image.Width, image.Height, image.Channels), f);
            }, f);
        }
    }

    /// <summary>stb 2.27 converted a 16-bit PNM's channels as 8-bit data and read past its buffer (the fuzzer's
    /// pnm-16bit-channel-conversion-overread.pgm); the decoder now converts those itself: every channel count gives
    /// the samples' high bytes (stb's 16-to-8 rule), replicated for RGB, with an opaque alpha.</summary>
    [TestMethod]
    public void SixteenBitPnmConvertsToEveryChannelCount()
    {
        ushort[] samples = [0x0000, 0x12FF, 0xFFFF, 0x8001, 0x7F00, 0x0100];
        var pgm = new List<byte>(System.Text.Encoding.ASCII.GetBytes("P5\n3 2\n65535\n"));
        foreach (var v in samples) { pgm.Add((byte)(v >> 8)); pgm.Add((byte)v); }
        var high = samples.Select(v => (byte)(v >> 8)).ToArray();
        for (int channels = 1; channels <= 4; channels++)
        {
            var image = ImageDecoder.Decode(pgm.ToArray(), channels);
            Assert.AreEqual((3, 2, channels), (image.Width, image.Height, image.Channels));
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < channels; c++)
                {
                    bool alpha = channels is 2 or 4 && c == channels - 1;
                    Assert.AreEqual(alpha ? (byte)255 : high[i], image.Pixels[i * channels + c], $"pixel {i} channel {c} of {channels}");
                }
        }
        // The fuzzer's input itself (a 7x2 P5 with maxval 256) decodes in the harness's mode instead of overreading.
        string path = ParserTargets.Fixture("fuzz", "image_decode", "crashes", "pnm-16bit-channel-conversion-overread.pgm");
        var data = File.ReadAllBytes(path);
        Allowed(() => ImageDecoder.Decode(data, 1 + data.Length % 4, null, path), path);
    }

    /// <summary>The inputs that crashed the sanitizer builds: each is now refused with the reason, not decoded.</summary>
    [TestMethod]
    [DataRow("image_decode/crashes/jpeg-dht-257-codes.jpg", BadInputKind.Corrupt, "Huffman table (DHT)")]
    [DataRow("image_decode/crashes/jpeg-dht-after-padding.jpg", BadInputKind.Corrupt, "Huffman table (DHT)")]
    [DataRow("image_decode/crashes/png-ihdr-2e32-pixels-overflow.png", BadInputKind.TooLarge, "more than 2^63")]
    [DataRow("image_decode/crashes/jpeg-behind-ff-fill-taken-as-tga.jpg", BadInputKind.NotAnImage, "no JPEG, PNG, BMP, GIF, TGA or PNM signature")]
    [DataRow("image_decode/crashes/jpeg-scan-uses-undefined-huffman-table.jpg", BadInputKind.Corrupt, "that no DHT defines before it")]
    [DataRow("image_decode/crashes/pnm-maxval-int-overflow.pgm", BadInputKind.Corrupt, "maximum value is larger than 65535")]
    public void CrashInputsAreRefusedWithTheirReason(string file, BadInputKind kind, string reason)
    {
        string path = ParserTargets.Fixture("fuzz", file);
        var data = File.ReadAllBytes(path);
        foreach (int channels in new[] { 1, 3 })
        {
            var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Decode(data, channels, null, path));
            Assert.AreEqual(kind, e.Kind, e.Message);
            StringAssert.Contains(e.Message, reason);
        }
    }
}
