using System.Text.Json;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Optim;

namespace MLNet.Attention.Tests.Optim;

/// <summary>
/// Learning-rate schedulers against test/fixtures/schedulers.json, written by
/// test/reference/make_scheduler_fixtures.py from PyTorch 1.13's torch.optim.lr_scheduler with a real SGD / AdamW.
/// </summary>
[TestClass]
public sealed class LRSchedulerTests
{
    private const double RelTol = 1e-9;

    /// <summary>An optimizer without tensors: parameter groups only.</summary>
    private sealed class FakeOptimizer : Optimizer
    {
        public FakeOptimizer(bool usesBetas, params double[] lrs)
            : base(lrs.Select(lr => new ParamGroup(Array.Empty<Tensor>(), lr) { Momentum = usesBetas ? 0 : 0.9 }).ToArray())
        {
            UsesBetas = usesBetas;
        }

        public override bool UsesBetas { get; }

        public int Steps { get; private set; }

        public override void Step() => Steps++;
    }

    private sealed record Case(string Name, string Scheduler, string Optimizer, double[] BaseLrs, JsonElement Args,
        int Steps, double[][] Lr, double[][]? Momentum, double[][]? Beta1, double[][]? Beta2, string? ExtraStepError);

    private static readonly Lazy<Dictionary<string, Case>> s_cases = new(LoadCases);

    public static IEnumerable<object[]> CaseNames => s_cases.Value.Keys.Select(k => new object[] { k });

    private static Dictionary<string, Case> LoadCases()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fixtures", "schedulers.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var cases = new Dictionary<string, Case>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            static double[][]? Rows(JsonElement c, string name)
                => c.TryGetProperty(name, out var rows)
                    ? rows.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray()
                    : null;

            var kase = new Case(
                c.GetProperty("name").GetString()!,
                c.GetProperty("scheduler").GetString()!,
                c.GetProperty("optimizer").GetString()!,
                c.GetProperty("base_lrs").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
                c.GetProperty("args").Clone(),
                c.GetProperty("steps").GetInt32(),
                Rows(c, "lr")!,
                Rows(c, "momentum"),
                Rows(c, "beta1"),
                Rows(c, "beta2"),
                c.TryGetProperty("extra_step_error", out var e) ? e.GetString() : null);
            cases.Add(kase.Name, kase);
        }
        return cases;
    }

    private static FakeOptimizer MakeOptimizer(Case c) => new(c.Optimizer == "AdamW", c.BaseLrs);

    private static LRScheduler Build(Case c, Optimizer opt)
    {
        var a = c.Args;
        double D(string n) => a.GetProperty(n).GetDouble();
        int I(string n) => a.GetProperty(n).GetInt32();
        bool B(string n) => a.GetProperty(n).GetBoolean();
        switch (c.Scheduler)
        {
            case "StepLR":
                return new StepLR(opt, I("stepSize"), D("gamma"));
            case "MultiStepLR":
                return new MultiStepLR(opt, a.GetProperty("milestones").EnumerateArray().Select(v => v.GetInt32()).ToArray(), D("gamma"));
            case "ExponentialLR":
                return new ExponentialLR(opt, D("gamma"));
            case "CosineAnnealingLR":
                return new CosineAnnealingLR(opt, I("tMax"), D("etaMin"));
            case "LinearLR":
                return new LinearLR(opt, D("startFactor"), D("endFactor"), I("totalIters"));
            case "CosineAnnealingWithWarmupLR":
                return new CosineAnnealingWithWarmupLR(opt, I("warmupSteps"), I("totalSteps"), D("warmupStartFactor"), D("etaMin"));
            case "OneCycleLR":
                var strategy = a.GetProperty("annealStrategy").GetString() switch
                {
                    "cos" => AnnealStrategy.Cos,
                    "linear" => AnnealStrategy.Linear,
                    var s => throw new InvalidDataException($"unknown anneal strategy {s}"),
                };
                var maxLr = a.GetProperty("maxLr");
                return maxLr.ValueKind == JsonValueKind.Array
                    ? new OneCycleLR(opt, maxLr.EnumerateArray().Select(v => v.GetDouble()).ToArray(), I("totalSteps"), D("pctStart"),
                        strategy, B("cycleMomentum"), D("baseMomentum"), D("maxMomentum"), D("divFactor"), D("finalDivFactor"), B("threePhase"))
                    : new OneCycleLR(opt, maxLr.GetDouble(), I("totalSteps"), D("pctStart"),
                        strategy, B("cycleMomentum"), D("baseMomentum"), D("maxMomentum"), D("divFactor"), D("finalDivFactor"), B("threePhase"));
            default:
                throw new InvalidDataException($"unknown scheduler {c.Scheduler}");
        }
    }

    private static void AssertClose(double expected, double actual, string what)
    {
        double tol = RelTol * Math.Max(Math.Abs(expected), Math.Abs(actual));
        Assert.AreEqual(expected, actual, tol, $"{what}: expected {expected:R}, got {actual:R}");
    }

    /// <summary>Checks every group's hyperparameters against fixture row <paramref name="epoch"/>.</summary>
    private static void AssertRow(Case c, FakeOptimizer opt, LRScheduler sched, int epoch)
    {
        Assert.AreEqual(epoch, sched.LastEpoch, $"{c.Name}: LastEpoch");
        var last = sched.GetLastLr();
        Assert.HasCount(c.BaseLrs.Length, last);
        for (int g = 0; g < c.BaseLrs.Length; g++)
        {
            var group = opt.ParamGroups[g];
            string at = $"{c.Name} epoch {epoch} group {g}";
            AssertClose(c.Lr[epoch][g], group.LearningRate, $"{at} lr");
            Assert.AreEqual(group.LearningRate, last[g], $"{at} GetLastLr");
            if (c.Momentum is not null)
                AssertClose(c.Momentum[epoch][g], group.Momentum, $"{at} momentum");
            if (c.Beta1 is not null)
                AssertClose(c.Beta1[epoch][g], group.Beta1, $"{at} beta1");
            if (c.Beta2 is not null)
                AssertClose(c.Beta2[epoch][g], group.Beta2, $"{at} beta2");
        }
    }

    [TestMethod]
    public void FixtureCoversEverySchedulerAndOptimizer()
    {
        var cases = s_cases.Value.Values.ToList();
        string[] expected =
        [
            "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "CosineAnnealingWithWarmupLR", "OneCycleLR",
        ];
        foreach (string s in expected)
            Assert.IsTrue(cases.Any(c => c.Scheduler == s), $"no fixture case for {s}");
        Assert.IsTrue(cases.Any(c => c.Scheduler == "OneCycleLR" && c.Optimizer == "SGD"));
        Assert.IsTrue(cases.Any(c => c.Scheduler == "OneCycleLR" && c.Optimizer == "AdamW"));
        Assert.IsTrue(cases.Any(c => c.BaseLrs.Length > 1));
        foreach (var c in cases)
            Assert.HasCount(c.Steps + 1, c.Lr, c.Name);
    }

    [TestMethod]
    [DynamicData(nameof(CaseNames))]
    public void MatchesPyTorch(string name)
    {
        var c = s_cases.Value[name];
        var opt = MakeOptimizer(c);
        var sched = Build(c, opt);
        AssertRow(c, opt, sched, 0);
        for (int e = 1; e <= c.Steps; e++)
        {
            opt.Step();
            sched.Step();
            AssertRow(c, opt, sched, e);
        }

        if (c.ExtraStepError is not null)
        {
            var before = opt.ParamGroups.Select(g => (g.LearningRate, g.Momentum, g.Beta1)).ToArray();
            var ex = Assert.ThrowsExactly<InvalidOperationException>(sched.Step);
            Assert.AreEqual(c.ExtraStepError, ex.Message);
            Assert.AreEqual(c.Steps, sched.LastEpoch, "a refused step must not advance LastEpoch");
            CollectionAssert.AreEqual(before, opt.ParamGroups.Select(g => (g.LearningRate, g.Momentum, g.Beta1)).ToArray());
        }
    }

    [TestMethod]
    [DynamicData(nameof(CaseNames))]
    public void LoadStateResumesLikeUninterruptedStepping(string name)
    {
        var c = s_cases.Value[name];
        int[] resumeAt = [0, 1, c.Steps / 3, c.Steps / 2 + 1, c.Steps - 1, c.Steps];
        foreach (int k in resumeAt.Distinct())
        {
            // A fresh optimizer and scheduler, as after a restart, restored to epoch k.
            var opt = MakeOptimizer(c);
            var sched = Build(c, opt);
            sched.LoadState(k);
            AssertRow(c, opt, sched, k);
            for (int e = k + 1; e <= c.Steps; e++)
            {
                sched.Step();
                AssertRow(c, opt, sched, e);
            }
        }

        // Going back on the same scheduler also works.
        var o2 = MakeOptimizer(c);
        var s2 = Build(c, o2);
        for (int e = 0; e < c.Steps; e++)
            s2.Step();
        s2.LoadState(1);
        AssertRow(c, o2, s2, 1);
        s2.Step();
        AssertRow(c, o2, s2, 2);
    }

    [TestMethod]
    public void LoadStateRejectsOutOfRangeEpochs()
    {
        var step = new StepLR(new FakeOptimizer(false, 0.1), 3);
        var ex = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => step.LoadState(-1));
        Assert.AreEqual("lastEpoch", ex.ParamName);
        Assert.AreEqual(0, step.LastEpoch);

        var opt = new FakeOptimizer(false, 0.1);
        var cycle = new OneCycleLR(opt, 1.0, 10);
        cycle.LoadState(10);
        Assert.AreEqual(10, cycle.LastEpoch);
        double lr = opt.ParamGroups[0].LearningRate;
        ex = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => cycle.LoadState(11));
        Assert.AreEqual("lastEpoch", ex.ParamName);
        Assert.AreEqual(10, cycle.LastEpoch);
        Assert.AreEqual(lr, opt.ParamGroups[0].LearningRate);
    }

    [TestMethod]
    public void FirstAttachedSchedulerSetsInitialLearningRate()
    {
        // PyTorch: group.setdefault("initial_lr", group["lr"]) -- the lr at attach time, not at group creation.
        var opt = new FakeOptimizer(false, 0.1, 0.2);
        opt.ParamGroups[0].LearningRate = 0.5;
        var step = new StepLR(opt, 2, 0.5);
        Assert.AreEqual(0.5, opt.ParamGroups[0].InitialLearningRate);
        Assert.AreEqual(0.2, opt.ParamGroups[1].InitialLearningRate);
        CollectionAssert.AreEqual(new[] { 0.5, 0.2 }, step.BaseLearningRates.ToArray());

        // A second scheduler keeps initial_lr even though the first changed lr.
        var opt2 = new FakeOptimizer(false, 0.1);
        _ = new LinearLR(opt2, 0.25, 1.0, 4);
        Assert.AreEqual(0.025, opt2.ParamGroups[0].LearningRate, 1e-15);
        var cos = new CosineAnnealingLR(opt2, 10);
        Assert.AreEqual(0.1, opt2.ParamGroups[0].InitialLearningRate);
        Assert.AreEqual(0.1, cos.BaseLearningRates[0]);
    }

    [TestMethod]
    public void OneCycleOverwritesInitialLearningRateAndCyclesTheRightMomentum()
    {
        var sgd = new FakeOptimizer(false, 0.5);
        sgd.ParamGroups[0].Beta1 = 0.42;
        _ = new OneCycleLR(sgd, 2.0, 20, divFactor: 10);
        Assert.AreEqual(0.2, sgd.ParamGroups[0].InitialLearningRate, 1e-15);
        Assert.AreEqual(0.95, sgd.ParamGroups[0].Momentum, 1e-15);
        Assert.AreEqual(0.42, sgd.ParamGroups[0].Beta1, "SGD-style optimizer: beta1 must not be touched");

        var adam = new FakeOptimizer(true, 0.5);
        adam.ParamGroups[0].Momentum = 0.3;
        var s = new OneCycleLR(adam, 2.0, 20, pctStart: 0.5, baseMomentum: 0.8, maxMomentum: 0.9);
        Assert.AreEqual(0.9, adam.ParamGroups[0].Beta1, 1e-15);
        for (int i = 0; i < 9; i++)
            s.Step();
        Assert.AreEqual(2.0, adam.ParamGroups[0].LearningRate, 1e-12, "peak at step pctStart * totalSteps - 1");
        Assert.AreEqual(0.8, adam.ParamGroups[0].Beta1, 1e-12);
        Assert.AreEqual(0.3, adam.ParamGroups[0].Momentum, "Adam-style optimizer: momentum must not be touched");
        Assert.AreEqual(0.999, adam.ParamGroups[0].Beta2);
    }

    [TestMethod]
    public void OneCycleRejectsPhasesOfLengthZero()
    {
        // pct_start * total_steps == 1: PyTorch raises ZeroDivisionError in the constructor.
        var opt = new FakeOptimizer(false, 0.1);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => new OneCycleLR(opt, 1.0, 10, pctStart: 0.1));
        Assert.AreEqual("pctStart", ex.ParamName);
        Assert.AreEqual(0.1, opt.ParamGroups[0].LearningRate, "a rejected scheduler must leave the optimizer alone");
        Assert.AreEqual(0.1, opt.ParamGroups[0].InitialLearningRate);

        // pct_start == 1: PyTorch raises ZeroDivisionError on the step that reaches total_steps.
        var s = new OneCycleLR(opt, 1.0, 10, pctStart: 1.0);
        for (int i = 0; i < 9; i++)
            s.Step();
        Assert.AreEqual(1.0, opt.ParamGroups[0].LearningRate, 1e-12);
        Assert.ThrowsExactly<InvalidOperationException>(s.Step);
        Assert.AreEqual(9, s.LastEpoch);
        Assert.AreEqual(1.0, opt.ParamGroups[0].LearningRate, 1e-12);
    }

    [TestMethod]
    public void OneCycleMaxLrListMustHaveOneValuePerGroup()
    {
        var opt = new FakeOptimizer(false, 0.1, 0.1);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => new OneCycleLR(opt, new[] { 0.1 }, 10));
        Assert.AreEqual("maxLr", ex.ParamName);
        var s = new OneCycleLR(opt, new[] { 0.1, 0.2 }, 10);
        Assert.AreEqual(0.1 / 25, opt.ParamGroups[0].InitialLearningRate, 1e-18);
        Assert.AreEqual(0.2 / 25, opt.ParamGroups[1].InitialLearningRate, 1e-18);
        Assert.AreEqual(0, s.LastEpoch);
    }

    [TestMethod]
    public void GetLastLrIsASnapshot()
    {
        var opt = new FakeOptimizer(false, 0.1);
        var s = new ExponentialLR(opt, 0.5);
        s.Step();
        var last = s.GetLastLr();
        opt.ParamGroups[0].LearningRate = 7;
        Assert.AreEqual(0.05, last[0], 1e-15);
        Assert.AreEqual(0.05, s.GetLastLr()[0], 1e-15);
    }

    private static readonly Dictionary<string, Func<Optimizer, LRScheduler>> s_invalid = new()
    {
        ["StepLR stepSize 0"] = o => new StepLR(o, 0),
        ["StepLR gamma 0"] = o => new StepLR(o, 1, 0),
        ["StepLR gamma NaN"] = o => new StepLR(o, 1, double.NaN),
        ["MultiStepLR negative milestone"] = o => new MultiStepLR(o, [3, -1]),
        ["MultiStepLR gamma -1"] = o => new MultiStepLR(o, [3], -1),
        ["ExponentialLR gamma 0"] = o => new ExponentialLR(o, 0),
        ["ExponentialLR gamma inf"] = o => new ExponentialLR(o, double.PositiveInfinity),
        ["CosineAnnealingLR tMax 0"] = o => new CosineAnnealingLR(o, 0),
        ["CosineAnnealingLR etaMin -1"] = o => new CosineAnnealingLR(o, 5, -1),
        ["LinearLR startFactor 0"] = o => new LinearLR(o, 0),
        ["LinearLR startFactor 1.5"] = o => new LinearLR(o, 1.5),
        ["LinearLR endFactor -0.1"] = o => new LinearLR(o, 0.5, -0.1),
        ["LinearLR endFactor 1.1"] = o => new LinearLR(o, 0.5, 1.1),
        ["LinearLR totalIters 0"] = o => new LinearLR(o, 0.5, 1, 0),
        ["Warmup warmupSteps 0"] = o => new CosineAnnealingWithWarmupLR(o, 0, 10),
        ["Warmup totalSteps = warmupSteps"] = o => new CosineAnnealingWithWarmupLR(o, 10, 10),
        ["Warmup warmupStartFactor 0"] = o => new CosineAnnealingWithWarmupLR(o, 2, 10, 0),
        ["Warmup warmupStartFactor 2"] = o => new CosineAnnealingWithWarmupLR(o, 2, 10, 2),
        ["Warmup etaMin -1"] = o => new CosineAnnealingWithWarmupLR(o, 2, 10, 0.1, -1),
        ["OneCycle maxLr -1"] = o => new OneCycleLR(o, -1, 10),
        ["OneCycle maxLr NaN"] = o => new OneCycleLR(o, double.NaN, 10),
        ["OneCycle totalSteps 0"] = o => new OneCycleLR(o, 1, 0),
        ["OneCycle pctStart -0.1"] = o => new OneCycleLR(o, 1, 10, -0.1),
        ["OneCycle pctStart 1.1"] = o => new OneCycleLR(o, 1, 10, 1.1),
        ["OneCycle annealStrategy 7"] = o => new OneCycleLR(o, 1, 10, annealStrategy: (AnnealStrategy)7),
        ["OneCycle baseMomentum 1.5"] = o => new OneCycleLR(o, 1, 10, baseMomentum: 1.5),
        ["OneCycle maxMomentum -0.5"] = o => new OneCycleLR(o, 1, 10, maxMomentum: -0.5),
        ["OneCycle divFactor 0"] = o => new OneCycleLR(o, 1, 10, divFactor: 0),
        ["OneCycle finalDivFactor -1"] = o => new OneCycleLR(o, 1, 10, finalDivFactor: -1),
    };

    [TestMethod]
    [DataRow("StepLR stepSize 0", "stepSize", ">= 1")]
    [DataRow("StepLR gamma 0", "gamma", "> 0")]
    [DataRow("StepLR gamma NaN", "gamma", "> 0")]
    [DataRow("MultiStepLR negative milestone", "milestones", ">= 0")]
    [DataRow("MultiStepLR gamma -1", "gamma", "> 0")]
    [DataRow("ExponentialLR gamma 0", "gamma", "> 0")]
    [DataRow("ExponentialLR gamma inf", "gamma", "finite")]
    [DataRow("CosineAnnealingLR tMax 0", "tMax", ">= 1")]
    [DataRow("CosineAnnealingLR etaMin -1", "etaMin", ">= 0")]
    [DataRow("LinearLR startFactor 0", "startFactor", "(0, 1]")]
    [DataRow("LinearLR startFactor 1.5", "startFactor", "(0, 1]")]
    [DataRow("LinearLR endFactor -0.1", "endFactor", "[0, 1]")]
    [DataRow("LinearLR endFactor 1.1", "endFactor", "[0, 1]")]
    [DataRow("LinearLR totalIters 0", "totalIters", ">= 1")]
    [DataRow("Warmup warmupSteps 0", "warmupSteps", ">= 1")]
    [DataRow("Warmup totalSteps = warmupSteps", "totalSteps", "> warmupSteps")]
    [DataRow("Warmup warmupStartFactor 0", "warmupStartFactor", "(0, 1]")]
    [DataRow("Warmup warmupStartFactor 2", "warmupStartFactor", "(0, 1]")]
    [DataRow("Warmup etaMin -1", "etaMin", ">= 0")]
    [DataRow("OneCycle maxLr -1", "maxLr", ">= 0")]
    [DataRow("OneCycle maxLr NaN", "maxLr", ">= 0")]
    [DataRow("OneCycle totalSteps 0", "totalSteps", ">= 1")]
    [DataRow("OneCycle pctStart -0.1", "pctStart", "[0, 1]")]
    [DataRow("OneCycle pctStart 1.1", "pctStart", "[0, 1]")]
    [DataRow("OneCycle annealStrategy 7", "annealStrategy", "Cos or Linear")]
    [DataRow("OneCycle baseMomentum 1.5", "baseMomentum", "[0, 1]")]
    [DataRow("OneCycle maxMomentum -0.5", "maxMomentum", "[0, 1]")]
    [DataRow("OneCycle divFactor 0", "divFactor", "> 0")]
    [DataRow("OneCycle finalDivFactor -1", "finalDivFactor", "> 0")]
    public void RejectsOutOfRangeArguments(string name, string paramName, string range)
    {
        var opt = new FakeOptimizer(false, 0.1);
        opt.ParamGroups[0].LearningRate = 0.3;
        var ex = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s_invalid[name](opt));
        Assert.AreEqual(paramName, ex.ParamName);
        Assert.Contains(range, ex.Message);
        // Nothing was attached or changed.
        Assert.AreEqual(0.3, opt.ParamGroups[0].LearningRate);
        Assert.AreEqual(0.1, opt.ParamGroups[0].InitialLearningRate);
        Assert.AreEqual(0.9, opt.ParamGroups[0].Momentum);
    }

    [TestMethod]
    public void EveryInvalidArgumentCaseIsRun()
    {
        var rows = typeof(LRSchedulerTests).GetMethod(nameof(RejectsOutOfRangeArguments))!
            .GetCustomAttributes(typeof(DataRowAttribute), false).Cast<DataRowAttribute>()
            .Select(r => (string)r.Data[0]!).ToHashSet();
        CollectionAssert.AreEquivalent(s_invalid.Keys.ToArray(), rows.ToArray());
    }

    [TestMethod]
    public void NullArgumentsThrow()
    {
        Assert.ThrowsExactly<ArgumentNullException>(() => new StepLR(null!, 1));
        Assert.ThrowsExactly<ArgumentNullException>(() => new MultiStepLR(new FakeOptimizer(false, 0.1), null!));
        Assert.ThrowsExactly<ArgumentNullException>(() => new OneCycleLR(new FakeOptimizer(false, 0.1), (double[])null!, 10));
    }
}
