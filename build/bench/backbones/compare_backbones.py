#!/usr/bin/env python3
"""Driver of the registry-backbone benchmark (called by run.sh): C# BackboneBench vs torch_backbones.py on the same
libtorch, interleaved, with ../compare.py's protocol: its quiet-machine wait (compare.wait_quiet), its measure of
foreign CPU load during a run (/proc/stat less the run's own CPU time), redoing noisy runs, pinned malloc settings.

Steps:
  1. identity: BackboneBench export (state dict + input + eval output of every benchmarked model) and
     torch_backbones.py check (same keys/shapes, same parameter count, same eval output with the C# weights);
  2. sizes: BackboneBench measure (parameters and multiply-adds at 224 px / 1000 classes, full width);
  3. rounds: two long-lived workers (BackboneBench serve, torch_backbones.py serve); per model, C# and PyTorch run
     back to back (order flipped from one model to the next), each after waiting for a quiet machine; a run that saw
     more foreign CPU load than --max-noise is redone (--retries, until --budget is spent); then the layer
     micro-benchmark the same way. Pairing model by model, with no process start-up in between, keeps both sides
     of a ratio within seconds of each other on a machine shared with other jobs;
  4. results.md: medians of all timed iterations of the kept rounds, ratio = PyTorch ms / C# ms.
Both sides run with glibc's malloc thresholds pinned (../compare.py's "pinned" setting; the C# library pins them
itself at load).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import compare  # noqa: E402  ../compare.py: wait_quiet, busy_fraction, run_measured, PINNED_ENV

CSHARP = os.path.join(HERE, "artifacts", "bin", "BackboneBench", "release", "BackboneBench")
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")
PYBENCH = os.path.join(HERE, "torch_backbones.py")
ART = os.path.join(HERE, "artifacts")
RAW = os.path.join(ART, "raw")
compare.CSHARP, compare.PYTHON, compare.PYBENCH = CSHARP, PYTHON, PYBENCH

# Width 0.5 where a full-width C# train step took > 2 s (batch 32, 32 px, 2 threads): same width on both sides.
HALF = {"attention56", "attention92", "epsanet50", "epsanet101", "epsanet50_large", "epsanet101_large"}
# The benchmark order (grouped by family).
CHUNKS = [
    ["resnet18", "resnet34", "resnet50"],
    ["resnet101", "seresnet50"],
    ["cbam_resnet50", "bam_resnet50"],
    ["eca_resnet50", "ca_resnet50", "gc_resnet50"],
    ["sk_resnet50", "botnet50"],
    ["epsanet50", "epsanet50_large"],
    ["epsanet101"],
    ["epsanet101_large"],
    ["attention56", "attention92"],
    ["mobilenetv2", "mobilenetv2_ca", "mobilevitv2_050", "mobilevitv2_075", "mobilevitv2_100"],
    ["c2f_cls_n", "c2f_ca_cls_n", "c2f_cls_s", "c2f_ca_cls_s"],
]
LAYERS = ["conv3x3", "psa", "se", "cbam", "ca", "eca", "gc", "bam", "sk",
          "psa_conv_1_k3g1", "psa_conv_2_k5g4", "psa_conv_3_k7g8", "psa_conv_4_k9g16"]
LAYER_DESC = {
    "conv3x3": "plain 3x3 conv C->C, no bias (what PSA replaces in a bottleneck)",
    "psa": "PSA module C->C (kernels 3,5,7,9, groups 1,4,8,16, shared SEWeight, softmax)",
    "se": "SE r16 (Linear, no bias)",
    "cbam": "CBAM r16 (channel + 7x7 spatial gate)",
    "ca": "coordinate attention r32",
    "eca": "ECA (adaptive k=5 at C=256)",
    "gc": "global context r16",
    "bam": "BAM r16 (dilated 3x3 convs)",
    "sk": "selective kernel M2 G32 r16 (C->C, replaces a 3x3 conv)",
    "psa_conv_1_k3g1": "PSA branch 1 alone: 3x3, groups 1, C->C/4",
    "psa_conv_2_k5g4": "PSA branch 2 alone: 5x5, groups 4, C->C/4",
    "psa_conv_3_k7g8": "PSA branch 3 alone: 7x7, groups 8, C->C/4",
    "psa_conv_4_k9g16": "PSA branch 4 alone: 9x9, groups 16, C->C/4",
}


def spec(m):
    return f"{m}@0.5" if m in HALF else m


def run_plain(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed (exit {p.returncode}): {' '.join(cmd)}")
    return p.stdout


def identity(models):
    os.makedirs(os.path.join(ART, "export"), exist_ok=True)
    files = []
    for m in models:
        s = spec(m)
        name, _, w = s.partition("@")
        path = os.path.join(ART, "export", f"{name}.safetensors")
        run_plain([CSHARP, "export", "--model", name, "--width", w or "1", "--out", path])
        files += ["--file", path]
    out = os.path.join(ART, "check.json")
    p = subprocess.run([PYTHON, PYBENCH, "check", *files, "--json", out], capture_output=True, text=True)
    if not os.path.exists(out):
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit("identity check failed to run")
    with open(out) as f:
        return {r["model"]: r for r in json.load(f)["results"]}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--no-layers", action="store_true")
    ap.add_argument("--layers", default=",".join(LAYERS), help="layers of the micro-benchmark (comma-separated)")
    ap.add_argument("--quiet", type=float, default=0.15)
    ap.add_argument("--max-noise", type=float, default=0.10)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--quiet-wait", type=float, default=60, help="at most this many seconds of waiting for quiet before a run")
    ap.add_argument("--budget", type=float, default=1200,
                    help="seconds after which no more waiting for quiet, no retries and no new round")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--report-only", action="store_true", help="rebuild results.md from artifacts/raw")
    ap.add_argument("--reuse-identity", action="store_true",
                    help="take the identity check and the sizes from the last run (artifacts/check.json, measure.json) instead of redoing them")
    a = ap.parse_args(argv)

    chunks = CHUNKS
    if a.models:
        want = a.models.split(",")
        chunks = [[m for m in c if m in want] for c in CHUNKS]
        chunks = [c for c in chunks if c]
    if a.report_only:
        with open(os.path.join(RAW, "run.json")) as f:
            return report(json.load(f), a.out)

    models = [m for c in chunks for m in c]
    registered = run_plain([CSHARP, "list"]).split()
    missing = sorted(set(registered) - set(m for c in CHUNKS for m in c))
    started = time.time()
    load_before = compare.busy_fraction(3.0)
    print(f"machine busy {load_before * 100:.0f}% before the run; {len(models)} models; registered but not benchmarked: {missing or 'none'}", flush=True)
    measure_path = os.path.join(ART, "measure.json")
    if a.reuse_identity and os.path.exists(os.path.join(ART, "check.json")) and os.path.exists(measure_path):
        with open(os.path.join(ART, "check.json")) as f:
            ident = {r["model"]: r for r in json.load(f)["results"]}
    else:
        ident = identity(models)
        run_plain([CSHARP, "measure", "--models", ",".join(spec(m) for m in models), "--json", measure_path])
    bad = [m for m, r in ident.items() if not r["ok"]]
    print(f"identity check: {len(ident) - len(bad)}/{len(ident)} identical" + (f"; NOT: {bad}" if bad else ""), flush=True)
    with open(measure_path) as f:
        sizes = {r["model"]: r for r in json.load(f)}

    os.makedirs(RAW, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in compare.PINNED_ENV}
    env.update(compare.PINNED_ENV)
    deadline = started + a.budget
    workers = {"csharp": Worker([CSHARP, "serve", "--threads", str(a.threads)], env),
               "pytorch": Worker([PYTHON, PYBENCH, "serve", "--threads", str(a.threads)], env)}
    it = f"{a.warmup} {a.iters}"
    items = [(m, f"bench {spec(m)} {a.batch} 32 {it}") for c in chunks for m in c]
    if not a.no_layers:
        items += [(f"layer:{l}", f"layer {l} 256 14 {a.batch} {it}") for l in a.layers.split(",") if l]
    runs = []  # {round, job, kind, csharp: doc, pytorch: doc}
    try:
        for rnd in range(a.rounds):
            if rnd > 0 and time.time() > deadline:
                print(f"time budget spent: stopping after {rnd} round(s)", flush=True)
                break
            for j, (label, line) in enumerate(items):
                pair = measure_pair(workers, line, rnd + j, a, deadline)
                pair.update({"round": rnd + 1, "job": j, "kind": line.split()[0]})
                runs.append(pair)
                summary = "  ".join(f"{impl} " + " ".join(f"{r['mode']} {r['median_ms']:.1f}" for r in pair[impl]["results"])
                                    + f" (other {pair[impl]['noise'] * 100:.0f}%)" for impl in ("csharp", "pytorch"))
                print(f"[round {rnd + 1}/{a.rounds} {j + 1}/{len(items)}] {label:<22} {summary}", flush=True)
                with open(os.path.join(RAW, "runs.json"), "w") as f:
                    json.dump(runs, f)
    finally:
        for w in workers.values():
            w.close()
    doc = {"args": vars(a), "elapsed": time.time() - started, "rounds_done": max(p["round"] for p in runs), "load_before": load_before, "identity": ident,
           "sizes": sizes, "runs": runs, "missing": missing, "half": sorted(HALF),
           "cpu": cpu_name(), "ncpu": os.cpu_count(), "when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}
    with open(os.path.join(RAW, "run.json"), "w") as f:
        json.dump(doc, f, indent=1)
    return report(doc, a.out)


class Worker:
    """A BackboneBench / torch_backbones.py `serve` process: one command line in, one JSON line out."""

    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        first = self.p.stdout.readline().strip()
        if first != "ready":
            raise SystemExit(f"{cmd[0]} serve did not start: {first!r}")

    def cpu_ticks(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime + stime of the worker (all its threads)

    def run(self, line):
        """Runs one command; returns its JSON with `noise`: the share of all CPUs used by other processes meanwhile."""
        a, own0, t0 = compare.cpu_times(), self.cpu_ticks(), time.time()
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        wall, b, own1 = time.time() - t0, compare.cpu_times(), self.cpu_ticks()
        doc = json.loads(out)
        if "error" in doc:
            raise SystemExit(f"worker failed on '{line}': {doc['error']}")
        hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
        busy = (b[0] - a[0]) - (b[1] - a[1])
        doc["noise"] = max(0.0, (busy - (own1 - own0)) / hz / (wall * ncpu))
        doc["wall_s"] = wall
        return doc

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.p.kill()


def measure_pair(workers, line, parity, a, deadline):
    """C# and PyTorch on one command, back to back (order flipped by parity), each after waiting for a quiet machine;
    a run that saw more foreign load than --max-noise is redone (up to --retries, while the budget lasts); the
    quietest run of each side is kept."""
    pair = {}
    for impl in (["csharp", "pytorch"] if parity % 2 == 0 else ["pytorch", "csharp"]):
        best = None
        for attempt in range(a.retries + 1):
            if attempt > 0 and time.time() > deadline:
                break
            compare.wait_quiet(a.quiet, a.quiet_wait if time.time() < deadline else 0)
            doc = workers[impl].run(line)
            if best is None or doc["noise"] < best["noise"]:
                best = doc
            if doc["noise"] <= a.max_noise:
                break
        pair[impl] = best
    return pair


def cpu_name():
    with open("/proc/cpuinfo") as f:
        return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")


def pooled(pairs, impl, model, mode):
    rs = [r for p in pairs for r in p[impl]["results"] if r["model"] == model and r["mode"] == mode]
    if not rs:
        return None
    times = [t for r in rs for t in r["times_ms"]]
    return {"median": statistics.median(times), "min": min(times), "rounds": [r["median_ms"] for r in rs], "params": rs[0]["parameters"],
            "width": rs[0]["width"], "macs": rs[0].get("macs", 0), "faults": statistics.fmean(r["minor_faults_per_iter"] for r in rs)}


def report(doc, out):
    a = doc["args"]
    max_noise = a["max_noise"]
    by_job = {}
    for p in doc["runs"]:
        by_job.setdefault(p["job"], []).append(p)
    kept, dropped, noisy_kept = {}, 0, 0
    for j, pairs in by_job.items():
        clean = [p for p in pairs if max(p["csharp"]["noise"], p["pytorch"]["noise"]) <= max_noise]
        if clean:
            dropped += len(pairs) - len(clean)
        else:
            noisy_kept += len(pairs)
        kept[j] = clean or pairs
    noise = [p[i]["noise"] for p in doc["runs"] for i in ("csharp", "pytorch")]

    rows, lrows = [], []
    for j, pairs in sorted(kept.items()):
        kind = pairs[0]["kind"]
        names = []
        for r in pairs[0]["csharp"]["results"]:
            if (r["model"], r["mode"]) not in names:
                names.append((r["model"], r["mode"]))
        if kind == "bench":
            for model in dict.fromkeys(n for n, _ in names):
                cells = {}
                for mode in ("train", "infer"):
                    cs, py = pooled(pairs, "csharp", model, mode), pooled(pairs, "pytorch", model, mode)
                    cells[mode] = (cs, py)
                cs_t, py_t = cells["train"]
                cs_i, py_i = cells["infer"]
                size = doc["sizes"].get(model, {})
                ident = doc["identity"].get(model, {})
                rt, ri = py_t["median"] / cs_t["median"], py_i["median"] / cs_i["median"]
                per = [p / c for p, c in zip(py_t["rounds"], cs_t["rounds"])]
                rows.append(
                    f"| {model} | {cs_t['width']:g} | {size.get('params_224', 0) / 1e6:.2f} | {size.get('macs_224', 0) / 1e9:.2f} "
                    f"| {cs_t['params'] / 1e6:.2f} | {py_t['median']:.1f} | {cs_t['median']:.1f} | **{rt:.3f}** | {min(per):.2f}-{max(per):.2f} "
                    f"| {py_i['median']:.1f} | {cs_i['median']:.1f} | **{ri:.3f}** "
                    f"| {py_t['min'] / cs_t['min']:.3f} / {py_i['min'] / cs_i['min']:.3f} "
                    f"| {'yes' if rt >= 0.97 and ri >= 0.97 else 'NO'} | {'OK' if ident.get('ok') else 'MISMATCH'} |")
    layer_pairs = [p for j, pairs in sorted(kept.items()) if pairs[0]["kind"] == "layer" for p in pairs]
    if layer_pairs:
        base_cs = pooled(layer_pairs, "csharp", "conv3x3", "fwd+bwd")
        base_py = pooled(layer_pairs, "pytorch", "conv3x3", "fwd+bwd")
        for name in dict.fromkeys(r["model"] for p in layer_pairs for r in p["csharp"]["results"]):
            cs, py = pooled(layer_pairs, "csharp", name, "fwd+bwd"), pooled(layer_pairs, "pytorch", name, "fwd+bwd")
            rate = 3 * cs["macs"] / (cs["median"] / 1e3) / 1e9 if cs["macs"] else 0  # fwd+bwd ~ 3x forward MACs
            lrows.append(
                f"| {name} | {LAYER_DESC.get(name, '')} | {cs['params'] / 1e3:.1f} | {cs['macs'] / 1e9:.3f} | {py['median']:.2f} | {cs['median']:.2f} "
                f"| **{py['median'] / cs['median']:.3f}** | {py['median'] / base_py['median']:.3f} | {cs['median'] / base_cs['median']:.3f} "
                f"| {py['min'] / cs['min']:.3f} | {rate:.0f} |")

    md = ["# Registry backbones: C# (MLNet.Attention) vs PyTorch on the same libtorch\n"]
    md.append(f"Generated by `build/bench/backbones/run.sh` on {doc['when']}; {doc['cpu']}, {doc['ncpu']} cores. "
              f"Batch {a['batch']}, {a['threads']} intra-op threads on both sides, float32, 3x32x32 inputs, 10 classes, "
              f"small-image form (3x3 stride-1 stem, no max-pool). Both sides with glibc's malloc thresholds pinned "
              f"(MALLOC_MMAP_THRESHOLD_=32MiB, MALLOC_TRIM_THRESHOLD_=1GiB; ../compare.py's `pinned`). "
              f"{doc['rounds_done']} round(s): one long-lived C# worker and one Python worker; per model, C# and PyTorch back to "
              f"back (order flipped from one model to the next), each after waiting for a quiet machine and redone when "
              f"other processes used more than {max_noise * 100:.0f}% of the CPUs meanwhile; {a['warmup']} warm-up + {a['iters']} "
              f"timed iterations per model and mode; times are the medians of all timed iterations of the kept rounds "
              f"(the ratio of the fastest iterations is given as well: it is the least sensitive to foreign load). Ratio = PyTorch ms / C# ms (>= 0.97: C# within 3 %; > 1: C# faster).\n")
    md.append("- **train**: forward, cross-entropy, backward, SGD (momentum 0.9; PyTorch `foreach=False`) step, zero_grad "
              "(set to none); C# inside a DisposeScope. **infer**: eval mode, forward under inference mode.\n"
              "- **C#**: `ModelRegistry.Create(name, new BackboneOptions(10, 3, SmallImage: true, WidthMultiplier: w))`. "
              "**PyTorch**: the reference classes of test/reference (make_backbone_fixtures.py, make_family_fixtures.py, "
              "make_layer_fixtures.py; torchvision 0.14), see torch_backbones.py.\n"
              f"- **width**: {', '.join(doc['half'])} at WidthMultiplier 0.5 on both sides (a full-width C# train step took "
              "> 2 s); all others at 1. **params (M)** in the table: of the benchmarked model; **params/GMACs @224**: "
              "ModelRegistry.Measure at 224 px, 1000 classes, full width (ImageNet form).\n"
              "- **identity**: C# exports its state dict, an input and its eval output; the PyTorch model has the same keys "
              "and shapes, the same parameter count, and with the C# weights loaded gives the same eval output "
              "(max relative error < 1e-4; measured <= "
              f"{max(r['eval_rel_err'] for r in doc['identity'].values()):.1e}).\n")
    md.append("| model | width | params @224 (M) | GMACs @224 | params bench (M) | PyTorch train ms | C# train ms | train ratio "
              "| per-round train ratios | PyTorch infer ms | C# infer ms | infer ratio | ratio of fastest iterations train / infer | >= 0.97 | identity |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|:---:|:---:|")
    md += rows
    md.append("")
    if lrows:
        md.append("## Layer micro-benchmark\n")
        md.append(f"One layer, forward + backward (upstream gradient given, input gradient computed), train mode, C=256, "
                  f"14x14, batch {a['batch']}, {a['threads']} threads; the same rounds and pairing. "
                  "GMACs: forward multiply-adds (C# FlopCounter: convs and linear layers; elementwise work not counted). "
                  "`x conv3x3`: time relative to a plain 3x3 conv of that width, each side to its own. "
                  "GMAC/s: 3 x forward MACs / C# time.\n")
        md.append("| layer | what | params (K) | GMACs fwd | PyTorch ms | C# ms | ratio (Py/C#) | x conv3x3 (Py) | x conv3x3 (C#) | ratio of fastest iterations | GMAC/s (C#) |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        md += lrows
        md.append("")
    md.append("## Conditions\n")
    md.append(f"Machine busy {doc['load_before'] * 100:.0f}% (all CPUs) in the 3 s before the run. Foreign CPU load during the "
              f"timed processes (share of all CPUs used by other processes, incl. steal): median {statistics.median(noise) * 100:.1f}%, "
              f"max {max(noise) * 100:.1f}%; {dropped} model-round(s) above {max_noise * 100:.0f}% were left out (both sides)"
              + (f", {noisy_kept} kept for want of a quieter one" if noisy_kept else "") + ". "
              f"Total time {doc['elapsed']:.0f} s. Registered but without a benchmark: {doc['missing'] or 'none'}. "
              "Raw JSON: build/bench/backbones/artifacts/raw/.\n")
    findings = os.path.join(HERE, "findings.md")  # hand-written analysis of the numbers, kept across re-renders
    if os.path.exists(findings) and out == os.path.join(HERE, "results.md"):
        with open(findings) as f:
            md.append(f.read())
    text = "\n".join(md)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
