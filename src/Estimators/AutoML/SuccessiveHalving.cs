using System.Globalization;

namespace MLNet.Attention.AutoML;

/// <summary>One unit of work of successive halving: train candidate <see cref="Candidate"/> from its epoch
/// <see cref="FromEpoch"/> (0: from scratch) to <see cref="ToEpoch"/>, the epochs of rung <see cref="Rung"/>, and score it.</summary>
internal readonly record struct TrialRequest(int Candidate, int Rung, int FromEpoch, int ToEpoch)
{
    public int Epochs => ToEpoch - FromEpoch;
}

/// <summary>What trains and scores the candidates; <see cref="SuccessiveHalving"/> only decides which trial runs next.</summary>
internal interface ITrialRunner
{
    /// <summary>
    /// A relative cost of one epoch of <paramref name="candidate"/> (e.g. multiply-adds per image × training images):
    /// the time of a candidate that has not run yet is estimated from the measured time per cost unit of those that have.
    /// </summary>
    double EpochCost(int candidate);

    /// <summary>
    /// Trains and scores one trial; returns the score, higher is better (the experiment negates losses). A promoted
    /// candidate continues from <see cref="TrialRequest.FromEpoch"/> rather than starting over. Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires or when the trial runs
    /// past <paramref name="timeLimit"/>; any other exception marks the candidate as failed.
    /// </summary>
    double Run(TrialRequest request, TimeSpan timeLimit, CancellationToken cancellationToken);
}

/// <summary>How a trial ended.</summary>
internal enum TrialState
{
    /// <summary>Trained and scored.</summary>
    Completed,
    /// <summary>Threw: the candidate is out.</summary>
    Failed,
    /// <summary>Stopped by the wall-clock budget while it ran.</summary>
    Interrupted,
    /// <summary>Stopped by the caller's cancellation while it ran.</summary>
    Cancelled,
}

/// <summary>One trial that ran.</summary>
internal sealed record TrialRecord(TrialRequest Request, TrialState State, double? Score, TimeSpan Started, TimeSpan Duration, Exception? Error);

/// <summary>Why the schedule ended.</summary>
internal enum ScheduleStop
{
    /// <summary>Every rung ran.</summary>
    Completed,
    /// <summary>The next trial would not have finished within the budget (or the budget was spent), so it was not started.</summary>
    BudgetExhausted,
    /// <summary>A trial ran past the budget and was stopped.</summary>
    Interrupted,
    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

/// <summary>Where one candidate ended up.</summary>
internal sealed class CandidateOutcome
{
    public required int Index { get; init; }
    /// <summary>The last rung it completed (-1: none).</summary>
    public int Rung { get; set; } = -1;
    /// <summary>The epochs of that rung (what <see cref="Score"/> was measured after).</summary>
    public int Epochs { get; set; }
    /// <summary>Its score at that rung.</summary>
    public double? Score { get; set; }
    /// <summary>The error that put it out, if one did.</summary>
    public Exception? Error { get; set; }
    /// <summary>Whether it was promoted to a rung it did not complete (budget or cancellation ended the experiment first).</summary>
    public bool Pending { get; set; }
    /// <summary>Wall time of its trials.</summary>
    public TimeSpan Time { get; set; }
}

/// <summary>The outcome of <see cref="SuccessiveHalving.Run"/>.</summary>
internal sealed class ScheduleResult
{
    public required IReadOnlyList<int> RungEpochs { get; init; }
    public required IReadOnlyList<CandidateOutcome> Candidates { get; init; }
    /// <summary>Candidate indices, best first: the rung reached (higher first), then the score (higher first), then the index; failed and never-run candidates last.</summary>
    public required IReadOnlyList<int> Ranking { get; init; }
    public required IReadOnlyList<TrialRecord> Trials { get; init; }
    public required ScheduleStop Stop { get; init; }
    /// <summary>A sentence on why it stopped early (null when every rung ran).</summary>
    public string? StopReason { get; init; }
}

/// <summary>
/// Synchronous successive halving (the rung schedule of ASHA/Hyperband's inner loop). Every candidate trains for the
/// first rung's epochs; the best 1/η (at least one) of those that completed a rung continue to the next rung's epochs,
/// continuing their training, until the last rung trains the survivors to the maximum. Rungs are counted from the top:
/// the last is <c>maxEpoch</c>, each one below it is the next one divided by η (integer division), and there are
/// <c>1 + min(⌊log_η n⌋, ⌊log_η(maxEpoch / minEpoch)⌋)</c> of them for <c>n</c> candidates, so each rung keeps at
/// least one candidate and starts at <c>minEpoch</c> epochs or more. Ties are broken by candidate order.
/// </summary>
/// <remarks>
/// The wall-clock budget: before a trial starts, its time is estimated (the candidate's own measured time per epoch,
/// or for a candidate that has not run, the mean measured time per unit of <see cref="ITrialRunner.EpochCost"/> of
/// those that have); when that estimate exceeds the time left, or no time is left, nothing more is launched. A running
/// trial gets the time left as its limit and is stopped there. The schedule is deterministic given the scores (and,
/// when the budget binds, the measured times).
/// </remarks>
internal sealed class SuccessiveHalving
{
    public SuccessiveHalving(int candidates, int maxEpoch, int eta, int minEpoch = 1)
    {
        if (candidates < 1) throw new ArgumentOutOfRangeException(nameof(candidates), candidates, "at least one candidate is needed");
        if (maxEpoch < 1) throw new ArgumentOutOfRangeException(nameof(maxEpoch), maxEpoch, "must be >= 1");
        if (eta < 2) throw new ArgumentOutOfRangeException(nameof(eta), eta, "the reduction factor must be >= 2");
        if (minEpoch < 1 || minEpoch > maxEpoch) throw new ArgumentOutOfRangeException(nameof(minEpoch), minEpoch, $"must be in [1, maxEpoch = {maxEpoch}]");
        CandidateCount = candidates;
        Eta = eta;
        RungEpochs = Rungs(candidates, maxEpoch, eta, minEpoch);
    }

    public int CandidateCount { get; }
    public int Eta { get; }
    /// <summary>The epochs each rung trains a candidate to, ascending; the last is the maximum.</summary>
    public IReadOnlyList<int> RungEpochs { get; }

    /// <summary>The rung epochs (see the class summary).</summary>
    public static IReadOnlyList<int> Rungs(int candidates, int maxEpoch, int eta, int minEpoch = 1)
    {
        int halvings = 0;
        for (long n = candidates, e = maxEpoch / minEpoch; n >= eta && e >= eta; n /= eta, e /= eta) halvings++;
        var rungs = new int[halvings + 1];
        rungs[halvings] = maxEpoch;
        for (int k = halvings - 1; k >= 0; k--) rungs[k] = rungs[k + 1] / eta;
        return rungs;
    }

    /// <summary>How many of <paramref name="completed"/> candidates move up a rung: ⌊completed / η⌋, at least one.</summary>
    public int Promoted(int completed) => completed == 0 ? 0 : Math.Max(1, completed / Eta);

    /// <summary>Runs the schedule. <paramref name="clock"/> gives the time since the experiment started.</summary>
    public ScheduleResult Run(ITrialRunner runner, TimeSpan budget, Func<TimeSpan> clock, CancellationToken cancellationToken = default,
        Action<TrialRecord>? onTrial = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(clock);
        if (budget <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(budget), budget, "the budget must be positive");
        var ic = CultureInfo.InvariantCulture;
        var outcomes = Enumerable.Range(0, CandidateCount).Select(i => new CandidateOutcome { Index = i }).ToArray();
        var secondsPerEpoch = new double?[CandidateCount];
        var trials = new List<TrialRecord>();
        var stop = ScheduleStop.Completed;
        string? reason = null;
        IReadOnlyList<int> participants = Enumerable.Range(0, CandidateCount).ToArray();

        for (int rung = 0; rung < RungEpochs.Count && stop == ScheduleStop.Completed; rung++)
        {
            int target = RungEpochs[rung];
            foreach (int c in participants)
            {
                var o = outcomes[c];
                var request = new TrialRequest(c, rung, o.Epochs, target);
                if (cancellationToken.IsCancellationRequested)
                {
                    stop = ScheduleStop.Cancelled;
                    reason = "cancelled";
                    break;
                }
                var now = clock();
                var left = budget - now;
                if (left <= TimeSpan.Zero)
                {
                    stop = ScheduleStop.BudgetExhausted;
                    reason = string.Create(ic, $"the budget of {Format(budget)} was spent after {Format(now)}; candidate {c}'s trial to epoch {target} (rung {rung}) and those after it were not started");
                    break;
                }
                if (Estimate(runner, c, request.Epochs, secondsPerEpoch) is { } estimate && estimate > left)
                {
                    stop = ScheduleStop.BudgetExhausted;
                    reason = string.Create(ic, $"candidate {c}'s trial to epoch {target} (rung {rung}) would take about {Format(estimate)} but {Format(left)} of the {Format(budget)} budget was left; it and the trials after it were not started");
                    break;
                }

                TrialRecord record;
                try
                {
                    double score = runner.Run(request, left, cancellationToken);
                    var duration = clock() - now;
                    if (double.IsNaN(score)) throw new InvalidOperationException($"candidate {c} scored NaN at epoch {target}");
                    record = new TrialRecord(request, TrialState.Completed, score, now, duration, null);
                    o.Rung = rung;
                    o.Epochs = target;
                    o.Score = score;
                    o.Pending = false;
                    secondsPerEpoch[c] = duration.TotalSeconds / Math.Max(1, request.Epochs);
                }
                catch (OperationCanceledException e)
                {
                    bool byCaller = cancellationToken.IsCancellationRequested;
                    record = new TrialRecord(request, byCaller ? TrialState.Cancelled : TrialState.Interrupted, null, now, clock() - now, e);
                    o.Pending = true;
                    stop = byCaller ? ScheduleStop.Cancelled : ScheduleStop.Interrupted;
                    reason = byCaller
                        ? "cancelled"
                        : string.Create(ic, $"candidate {c}'s trial to epoch {target} (rung {rung}) ran past the {Format(budget)} budget and was stopped; {(o.Rung < 0 ? "it completed no rung" : $"it keeps its rung-{o.Rung} result")}");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    record = new TrialRecord(request, TrialState.Failed, null, now, clock() - now, e);
                    o.Error = e;
                }
                o.Time += record.Duration;
                trials.Add(record);
                onTrial?.Invoke(record);
                if (stop != ScheduleStop.Completed) break;
            }

            // Promotion: the best completed candidates of this rung continue.
            var finished = participants.Where(c => outcomes[c].Error is null && outcomes[c].Rung == rung).ToList();
            if (stop != ScheduleStop.Completed)
            {
                // No promotion was decided for this rung: its candidates were cut off by the budget or the caller.
                foreach (int c in participants)
                    if (outcomes[c].Error is null && outcomes[c].Rung >= 0) outcomes[c].Pending = true;
                break;
            }
            if (rung + 1 < RungEpochs.Count)
            {
                participants = Order(finished, outcomes).Take(Promoted(finished.Count)).ToArray();
                if (participants.Count == 0) break;
            }
        }

        var ranking = Order(outcomes.Where(o => o.Error is null && o.Score is not null).Select(o => o.Index), outcomes)
            .Concat(outcomes.Where(o => o.Error is not null).Select(o => o.Index))
            .Concat(outcomes.Where(o => o.Error is null && o.Score is null).Select(o => o.Index))
            .ToArray();
        return new ScheduleResult
        {
            RungEpochs = RungEpochs,
            Candidates = outcomes,
            Ranking = ranking,
            Trials = trials,
            Stop = stop,
            StopReason = reason,
        };
    }

    /// <summary>Best first: the rung reached (higher first), the score (higher first), the candidate index.</summary>
    private static IEnumerable<int> Order(IEnumerable<int> candidates, CandidateOutcome[] outcomes) => candidates
        .OrderByDescending(c => outcomes[c].Rung)
        .ThenByDescending(c => outcomes[c].Score ?? double.NegativeInfinity)
        .ThenBy(c => c);

    private static TimeSpan? Estimate(ITrialRunner runner, int candidate, int epochs, double?[] secondsPerEpoch)
    {
        if (secondsPerEpoch[candidate] is { } own) return TimeSpan.FromSeconds(own * epochs);
        double sum = 0;
        int n = 0;
        for (int i = 0; i < secondsPerEpoch.Length; i++)
        {
            if (secondsPerEpoch[i] is not { } s) continue;
            double cost = runner.EpochCost(i);
            if (!(cost > 0) || !double.IsFinite(cost)) continue;
            sum += s / cost;
            n++;
        }
        double mine = runner.EpochCost(candidate);
        if (n == 0 || !(mine > 0) || !double.IsFinite(mine)) return null;
        return TimeSpan.FromSeconds(sum / n * mine * epochs);
    }

    internal static string Format(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h{t.Minutes:D2}m{t.Seconds:D2}s")
        : t.TotalMinutes >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}m{t.Seconds:D2}s")
            : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:F1}s");
}
