using CsCheck;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>
/// Property tests over the parsers of untrusted bytes: every generated input must give a result or the parser's
/// documented exception naming the file; never another exception type, a hang, or an allocation far past the input
/// (see <see cref="ParserTarget"/>). In CI each property runs <see cref="CiIterations"/> inputs (a few seconds);
/// build/fuzz.sh runs them for a set time through CsCheck_Time. A failing input is kept (the message says where) and
/// belongs in test/fixtures/fuzz/&lt;target&gt;/crashes/, which <see cref="CommittedInputsGiveAllowedOutcomes"/> replays.
/// </summary>
[TestClass]
public sealed class ParserFuzzTests
{
    private const int CiIterations = 1500;

    private static void Sample(Gen<byte[]> gen, params ParserTarget[] targets) =>
        gen.Sample(input =>
        {
            foreach (var t in targets) ParserFuzzHarness.Check(t, input, "generated input");
        }, iter: CiIterations, threads: 1, print: b => $"{b.Length} bytes: {Convert.ToHexString(b.AsSpan(0, Math.Min(b.Length, 256)))}");

    [TestMethod]
    public void PthFileByteEdits() => Sample(ParserTargets.PthBytes(), ParserTargets.Pth);

    [TestMethod]
    public void PthPickleByteEdits() => Sample(ParserTargets.PthPickleBytes(), ParserTargets.Pth, ParserTargets.PthObject);

    [TestMethod]
    public void PthPickleOpcodePrograms() => Sample(ParserTargets.PthPickleOpcodes(), ParserTargets.PthObject, ParserTargets.Pth);

    [TestMethod]
    public void SafeTensorsFileByteEdits() => Sample(ParserTargets.SafeTensorsBytes(), ParserTargets.SafeTensorsFile);

    [TestMethod]
    public void SafeTensorsHeaderEdits() => Sample(ParserTargets.SafeTensorsHeaders(), ParserTargets.SafeTensorsFile);

    [TestMethod]
    public void ImageDecodeAndResizeByteEdits() => Sample(ParserTargets.ImageBytes(), ParserTargets.Image);

    public static IEnumerable<object[]> Targets =>
        new[] { ParserTargets.Pth, ParserTargets.PthObject, ParserTargets.SafeTensorsFile, ParserTargets.Image }.Select(t => new object[] { t.Name });

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void CommittedInputsGiveAllowedOutcomes(string name)
    {
        var target = new[] { ParserTargets.Pth, ParserTargets.PthObject, ParserTargets.SafeTensorsFile, ParserTargets.Image }.Single(t => t.Name == name);
        var files = ParserFuzzHarness.CommittedInputs(target.CorpusFolders);
        Assert.IsNotEmpty(files, $"no committed inputs under test/fixtures/fuzz/{string.Join(", ", target.CorpusFolders)}");
        foreach (var f in files) ParserFuzzHarness.Check(target, File.ReadAllBytes(f), Path.GetFileName(f));
    }

    [TestMethod]
    public void TheHarnessCatchesWrongExceptionsHangsAndAllocations()
    {
        // The checks themselves, on parsers that misbehave on purpose.
        var wrongType = new ParserTarget("t", ".bin", _ => throw new IndexOutOfRangeException("boom"), typeof(InvalidDataException));
        StringAssert.Contains(ParserFuzzHarness.Violation(wrongType, [1, 2, 3]), "IndexOutOfRangeException instead of a InvalidDataException");
        var unnamed = new ParserTarget("t", ".bin", _ => throw new InvalidDataException("no file name here"), typeof(InvalidDataException));
        Assert.IsNotNull(ParserFuzzHarness.Violation(unnamed, [1]));
        var named = new ParserTarget("t", ".bin", p => throw new InvalidDataException($"invalid '{p}'"), typeof(InvalidDataException));
        Assert.IsNull(ParserFuzzHarness.Violation(named, [1]));
        var hang = new ParserTarget("t", ".bin", _ => { Thread.Sleep(2000); return null; }, typeof(InvalidDataException)) { Timeout = TimeSpan.FromMilliseconds(200) };
        StringAssert.Contains(ParserFuzzHarness.Violation(hang, [1]), "a hang");
        var greedy = new ParserTarget("t", ".bin", _ => new byte[1 << 20], typeof(InvalidDataException)) { AllowedBytes = n => 1000 };
        StringAssert.Contains(ParserFuzzHarness.Violation(greedy, [1]), "bytes allocated");
    }
}
