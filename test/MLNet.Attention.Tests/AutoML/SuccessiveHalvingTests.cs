using MLNet.Attention.AutoML;

namespace MLNet.Attention.Tests.AutoML;

/// <summary>
/// The successive-halving scheduler on its own, with a deterministic fake trial runner and a fake clock: rung sizes,
/// which candidates are promoted, that promoted candidates continue from their epoch, ties, failures, the budget
/// cut-off (not launching, and interrupting), and cancellation.
/// </summary>
[TestClass]
public sealed class SuccessiveHalvingTests
{
    /// <summary>Scores from a function of (candidate, epoch); each epoch of candidate c takes SecondsPerEpoch[c] of fake time.</summary>
    private sealed class FakeRunner : ITrialRunner
    {
        public TimeSpan Now;
        public required Func<int, int, double> Score { get; init; }
        public required double[] SecondsPerEpoch { get; init; }
        public double[]? Costs { get; init; }
        public HashSet<(int Candidate, int Rung)> Failing { get; init; } = new();
        public Action<TrialRequest>? OnRun { get; init; }
        public List<TrialRequest> Requests { get; } = new();
        public int[] EpochsDone = Array.Empty<int>();

        public double EpochCost(int candidate) => Costs?[candidate] ?? SecondsPerEpoch[candidate];

        public double Run(TrialRequest request, TimeSpan timeLimit, CancellationToken cancellationToken)
        {
            if (EpochsDone.Length == 0) EpochsDone = new int[SecondsPerEpoch.Length];
            Requests.Add(request);
            Assert.AreEqual(EpochsDone[request.Candidate], request.FromEpoch, "a trial continues from the candidate's last epoch");
            OnRun?.Invoke(request);
            cancellationToken.ThrowIfCancellationRequested();
            var needed = TimeSpan.FromSeconds(SecondsPerEpoch[request.Candidate] * request.Epochs);
            if (needed > timeLimit)
            {
                Now += timeLimit;
                throw new OperationCanceledException("time limit");
            }
            Now += needed;
            if (Failing.Contains((request.Candidate, request.Rung))) throw new InvalidOperationException($"candidate {request.Candidate} diverged");
            EpochsDone[request.Candidate] = request.ToEpoch;
            return Score(request.Candidate, request.ToEpoch);
        }
    }

    private static FakeRunner Runner(int n, Func<int, int, double> score, double secondsPerEpoch = 1) =>
        new() { Score = score, SecondsPerEpoch = Enumerable.Repeat(secondsPerEpoch, n).ToArray() };

    private static ScheduleResult Run(SuccessiveHalving sh, FakeRunner r, double budgetSeconds = 1e6, CancellationToken ct = default) =>
        sh.Run(r, TimeSpan.FromSeconds(budgetSeconds), () => r.Now, ct);

    [TestMethod]
    public void RungsAreCountedFromTheTopAndKeepACandidateEach()
    {
        CollectionAssert.AreEqual(new[] { 1, 3, 9 }, SuccessiveHalving.Rungs(12, 9, 3).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3, 9 }, SuccessiveHalving.Rungs(9, 9, 3).ToArray());
        CollectionAssert.AreEqual(new[] { 3, 9 }, SuccessiveHalving.Rungs(4, 9, 3).ToArray(), "4 candidates: one halving");
        CollectionAssert.AreEqual(new[] { 3, 9 }, SuccessiveHalving.Rungs(3, 9, 3).ToArray());
        CollectionAssert.AreEqual(new[] { 9 }, SuccessiveHalving.Rungs(2, 9, 3).ToArray(), "fewer candidates than η: one rung");
        CollectionAssert.AreEqual(new[] { 1, 3, 10 }, SuccessiveHalving.Rungs(27, 10, 3).ToArray(), "integer division from the top");
        CollectionAssert.AreEqual(new[] { 2 }, SuccessiveHalving.Rungs(27, 2, 3).ToArray(), "fewer epochs than η: one rung");
        CollectionAssert.AreEqual(new[] { 1, 2, 4, 9 }, SuccessiveHalving.Rungs(8, 9, 2).ToArray());
        CollectionAssert.AreEqual(new[] { 3, 9 }, SuccessiveHalving.Rungs(12, 9, 3, minEpoch: 2).ToArray(), "the first rung has at least minEpoch epochs");
        CollectionAssert.AreEqual(new[] { 9 }, SuccessiveHalving.Rungs(12, 9, 3, minEpoch: 4).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalving(0, 9, 3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalving(3, 9, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalving(3, 0, 3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SuccessiveHalving(3, 9, 3, minEpoch: 10));
    }

    [TestMethod]
    public void TheBestThirdOfEachRungContinuesFromWhereItStopped()
    {
        // 12 candidates; candidate c scores c/100 + epoch/1000, except that candidate 8, fourth at rung 0, leads rung 1.
        var sh = new SuccessiveHalving(12, 9, 3);
        var r = Runner(12, (c, e) => e == 3 && c == 8 ? 1.0 : c / 100.0 + e / 1000.0);
        var result = Run(sh, r);

        Assert.AreEqual(ScheduleStop.Completed, result.Stop);
        Assert.IsNull(result.StopReason);
        var rung0 = r.Requests.Where(q => q.Rung == 0).ToList();
        var rung1 = r.Requests.Where(q => q.Rung == 1).ToList();
        var rung2 = r.Requests.Where(q => q.Rung == 2).ToList();
        CollectionAssert.AreEqual(Enumerable.Range(0, 12).ToArray(), rung0.Select(q => q.Candidate).ToArray(), "every candidate, in order");
        Assert.IsTrue(rung0.All(q => q.FromEpoch == 0 && q.ToEpoch == 1));
        CollectionAssert.AreEqual(new[] { 11, 10, 9, 8 }, rung1.Select(q => q.Candidate).ToArray(), "the best 12/3 = 4, best first");
        Assert.IsTrue(rung1.All(q => q.FromEpoch == 1 && q.ToEpoch == 3), "promoted candidates resume at epoch 1");
        CollectionAssert.AreEqual(new[] { 8 }, rung2.Select(q => q.Candidate).ToArray(), "4/3 = 1 survivor: rung 1's best");
        Assert.AreEqual(3, rung2[0].FromEpoch);
        Assert.AreEqual(9, rung2[0].ToEpoch);
        Assert.AreEqual(17, result.Trials.Count);

        CollectionAssert.AreEqual(new[] { 8, 11, 10, 9, 7, 6, 5, 4, 3, 2, 1, 0 }, result.Ranking.ToArray(), "rung reached first, then score, then order");
        Assert.AreEqual(2, result.Candidates[8].Rung);
        Assert.AreEqual(9, result.Candidates[8].Epochs);
        Assert.AreEqual(1, result.Candidates[11].Rung);
        Assert.AreEqual(3, result.Candidates[11].Epochs);
        Assert.AreEqual(0, result.Candidates[0].Rung);
        Assert.AreEqual(1, result.Candidates[0].Epochs);
        Assert.AreEqual(TimeSpan.FromSeconds(12 * 1 + 4 * 2 + 6), r.Now, "epochs trained: 12×1 + 4×2 + 1×6");
    }

    [TestMethod]
    public void EachRungIsJudgedAloneAndTheHighestRungLeads()
    {
        // 3 candidates: rungs of 3 and 9 epochs. At epoch 3 candidate 1 is best (0.5) and alone continues; at epoch 9 it
        // scores only 0.2, less than the others scored at epoch 3, but it reached the higher rung.
        var sh = new SuccessiveHalving(3, 9, 3);
        var r = Runner(3, (c, e) => e == 3 ? new[] { 0.1, 0.5, 0.3 }[c] : 0.2);
        var result = Run(sh, r);
        Assert.AreEqual(1, r.Requests.Single(q => q.Rung == 1).Candidate);
        CollectionAssert.AreEqual(new[] { 1, 2, 0 }, result.Ranking.ToArray());
    }

    [TestMethod]
    public void TiesArePromotedInCandidateOrder()
    {
        var sh = new SuccessiveHalving(6, 9, 3);
        // Candidates 1, 3 and 4 tie at the top of rung 0; two are promoted: the first two of them in candidate order.
        var r = Runner(6, (c, e) => e == 9 ? 0.5 : c is 1 or 3 or 4 ? 0.7 : 0.1);
        var result = Run(sh, r);
        CollectionAssert.AreEqual(new[] { 1, 3 }, r.Requests.Where(q => q.Rung == 1).Select(q => q.Candidate).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3, 4, 0, 2, 5 }, result.Ranking.ToArray(), "rung-1 tie by order, then rung 0: the tied 0.7 first, then the 0.1s in order");
    }

    [TestMethod]
    public void AFailedCandidateIsOutAndRanksLast()
    {
        var sh = new SuccessiveHalving(4, 9, 3);
        var r = new FakeRunner
        {
            Score = (c, e) => c / 10.0,
            SecondsPerEpoch = [1, 1, 1, 1],
            Failing = { (3, 0) },
        };
        var result = Run(sh, r);
        Assert.AreEqual(TrialState.Failed, result.Trials.Single(t => t.Request.Candidate == 3).State);
        Assert.IsInstanceOfType<InvalidOperationException>(result.Candidates[3].Error);
        Assert.AreEqual(2, r.Requests.Single(q => q.Rung == 1).Candidate, "3 completed rung 0 → 1 promoted: the best of those that did not fail");
        CollectionAssert.AreEqual(new[] { 2, 1, 0, 3 }, result.Ranking.ToArray());
        Assert.AreEqual(BackboneRunStatus.Failed, BackboneExperiment.Status(result.Candidates[3], 1));
        Assert.AreEqual(ScheduleStop.Completed, result.Stop);
    }

    [TestMethod]
    public void AFailureInALaterRungKeepsTheEarlierScoreButRanksLast()
    {
        var sh = new SuccessiveHalving(3, 9, 3);
        var r = new FakeRunner { Score = (c, e) => c / 10.0, SecondsPerEpoch = [1, 1, 1], Failing = { (2, 1) } };
        var result = Run(sh, r);
        Assert.AreEqual(0, result.Candidates[2].Rung, "its rung-0 result stays");
        CollectionAssert.AreEqual(new[] { 1, 0, 2 }, result.Ranking.ToArray(), "the failed one is not the winner");
    }

    [TestMethod]
    public void NoTrialIsStartedThatWouldNotFinishWithinTheBudget()
    {
        // 9 candidates at 1 s/epoch: rung 0 (1 epoch each) takes 9 s, rung 1 (3 candidates × 2 more epochs) 6 s, rung 2 (1 × 6) 6 s.
        var sh = new SuccessiveHalving(9, 9, 3);
        var r = Runner(9, (c, e) => c + e / 100.0);
        var result = Run(sh, r, budgetSeconds: 9 + 6 + 5);
        Assert.AreEqual(ScheduleStop.BudgetExhausted, result.Stop);
        StringAssert.Contains(result.StopReason, "candidate 8's trial to epoch 9 (rung 2) would take about 6.0s but 5.0s");
        Assert.AreEqual(12, result.Trials.Count, "rung 0 and rung 1 ran; rung 2 was not started");
        Assert.AreEqual(TimeSpan.FromSeconds(15), r.Now, "nothing ran after the estimate said no");
        Assert.IsTrue(result.Candidates[8].Pending, "promoted but not trained further");
        Assert.AreEqual(1, result.Candidates[8].Rung);
        Assert.IsFalse(result.Candidates[5].Pending, "eliminated at rung 0");
        CollectionAssert.AreEqual(new[] { 8, 7, 6, 5, 4, 3, 2, 1, 0 }, result.Ranking.ToArray(), "the best of the highest rung reached leads");
        var status = result.Candidates.Select(o => BackboneExperiment.Status(o, 2)).ToArray();
        Assert.AreEqual(BackboneRunStatus.Pending, status[8]);
        Assert.AreEqual(BackboneRunStatus.Eliminated, status[7], "judged at rung 1 and not promoted");
        Assert.AreEqual(BackboneRunStatus.Eliminated, status[0]);
    }

    [TestMethod]
    public void AnUntriedCandidateIsEstimatedFromTheMeasuredTimePerCostUnit()
    {
        // Candidate 0 costs 1 unit and takes 2 s/epoch; candidate 1 costs 10 units: about 20 s for its epoch, over the 10 s left.
        var sh = new SuccessiveHalving(2, 1, 3);
        var r = new FakeRunner { Score = (c, e) => 1, SecondsPerEpoch = [2, 20], Costs = [1, 10] };
        var result = Run(sh, r, budgetSeconds: 12);
        Assert.AreEqual(ScheduleStop.BudgetExhausted, result.Stop);
        Assert.AreEqual(1, result.Trials.Count);
        StringAssert.Contains(result.StopReason, "would take about 20.0s but 10.0s");
        Assert.IsNull(result.Candidates[1].Score);
        CollectionAssert.AreEqual(new[] { 0, 1 }, result.Ranking.ToArray(), "never-run candidates last");
        Assert.AreEqual(BackboneRunStatus.NotRun, BackboneExperiment.Status(result.Candidates[1], 0));
        Assert.AreEqual(BackboneRunStatus.Finished, BackboneExperiment.Status(result.Candidates[0], 0));
    }

    [TestMethod]
    public void ATrialRunningPastTheBudgetIsStoppedAndTheCandidateKeepsItsLastRung()
    {
        // The estimate from candidates 0 and 1 (1 s/epoch, cost 1) says candidate 2 (cost 1) fits in 3 s, but it takes 10 s/epoch.
        var sh = new SuccessiveHalving(3, 9, 3);
        var r = new FakeRunner { Score = (c, e) => c, SecondsPerEpoch = [1, 1, 10], Costs = [1, 1, 1] };
        var result = Run(sh, r, budgetSeconds: 3 + 3 + 4);
        Assert.AreEqual(ScheduleStop.Interrupted, result.Stop, "candidate 2's 3-epoch rung needs 30 s; the trial gets the 4 s left and is stopped");
        Assert.AreEqual(TrialState.Interrupted, result.Trials[^1].State);
        Assert.AreEqual(TimeSpan.FromSeconds(10), r.Now, "stopped at the budget");
        Assert.IsNull(result.Candidates[2].Score, "it completed no rung");
        Assert.IsTrue(result.Candidates[2].Pending);
        Assert.IsTrue(result.Candidates[0].Pending && result.Candidates[1].Pending, "no promotion was decided for the rung");
        StringAssert.Contains(result.StopReason, "ran past the 10.0s budget and was stopped; it completed no rung");
        CollectionAssert.AreEqual(new[] { 1, 0, 2 }, result.Ranking.ToArray());
        CollectionAssert.AreEqual(new[] { BackboneRunStatus.Pending, BackboneRunStatus.Pending, BackboneRunStatus.Pending },
            result.Candidates.Select(o => BackboneExperiment.Status(o, 1)).ToArray(), "stopped before a promotion, or while training: pending");
    }

    [TestMethod]
    public void CancellationStopsBeforeTheNextTrialAndKeepsWhatWasTrained()
    {
        using var cts = new CancellationTokenSource();
        var sh = new SuccessiveHalving(4, 9, 3);
        var r = new FakeRunner
        {
            Score = (c, e) => c,
            SecondsPerEpoch = [1, 1, 1, 1],
            OnRun = q => { if (q.Candidate == 2) cts.Cancel(); },
        };
        var result = Run(sh, r, ct: cts.Token);
        Assert.AreEqual(ScheduleStop.Cancelled, result.Stop);
        Assert.AreEqual(TrialState.Cancelled, result.Trials[^1].State);
        Assert.AreEqual(3, result.Trials.Count, "candidates 0, 1, then 2 was cancelled; 3 never started");
        Assert.AreEqual(0, result.Candidates[1].Rung);
        Assert.IsNull(result.Candidates[3].Score);
        CollectionAssert.AreEqual(new[] { 1, 0, 2, 3 }, result.Ranking.ToArray());
    }

    [TestMethod]
    public void TheBudgetMustBePositive()
    {
        var sh = new SuccessiveHalving(2, 3, 3);
        var r = Runner(2, (c, e) => c);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sh.Run(r, TimeSpan.Zero, () => r.Now));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sh.Run(r, TimeSpan.FromSeconds(-1), () => r.Now));
    }
}
