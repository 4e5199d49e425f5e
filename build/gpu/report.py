#!/usr/bin/env python3
"""Sets the runner's bench results beside torch_bench.py's and writes the comparison as markdown.

  report.py --mlnet bench-mlnet.json --pytorch bench-pytorch.json [--target 0.95] [--title TEXT] > bench.md

ratio = MLNet.Attention images/s / PyTorch images/s for the same model, precision, mode, memory format, batch and size
(issue 6's target: >= 0.95, i.e. within 5% of PyTorch eager). Exit code 1 when a pair is missing or a ratio is under the
target, so run-on-gpu.sh can say so.
"""
import argparse
import json
import sys


def key(r):
    return (r["Model"], r["Precision"], r["Mode"], r["Format"], r["Batch"], r["Size"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlnet", required=True)
    ap.add_argument("--pytorch", required=True)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--title", default="Throughput: MLNet.Attention vs PyTorch eager, same GPU")
    a = ap.parse_args()
    with open(a.mlnet) as f:
        ours = {key(r): r for r in json.load(f)}
    with open(a.pytorch) as f:
        theirs = {key(r): r for r in json.load(f)}
    ok = True
    lines = [f"## {a.title}", ""]
    any_r = next(iter(theirs.values()), None)
    if any_r:
        lines.append(f"PyTorch {any_r.get('Torch', '?')} on {any_r.get('Device', '?')}, SGD foreach {any_r.get('Foreach', 'default')}; "
                     f"images/s = batch × iterations / time, median of rounds; ratio = MLNet.Attention / PyTorch (target ≥ {a.target}).")
        lines.append("")
    lines.append("| model | precision | mode | format | batch | size | params MLNet / PyTorch (M) | MLNet.Attention images/s | PyTorch images/s | ratio |")
    lines.append("|---|---|---|---|---:|---:|---|---:|---:|---:|")
    for k in sorted(set(ours) | set(theirs)):
        o, t = ours.get(k), theirs.get(k)
        if o is None or t is None:
            ok = False
            lines.append(f"| {' | '.join(map(str, k))} | | {o['ImagesPerSecond']:.1f} |" if o else f"| {' | '.join(map(str, k))} | | | {t['ImagesPerSecond']:.1f} |")
            lines[-1] += " missing |"
            continue
        ratio = o["ImagesPerSecond"] / t["ImagesPerSecond"]
        same = o["Parameters"] == t["Parameters"]
        ok &= ratio >= a.target and same
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {k[5]} | {o['Parameters'] / 1e6:.2f} / {t['Parameters'] / 1e6:.2f}{'' if same else ' DIFFERENT'} "
                     f"| {o['ImagesPerSecond']:.1f} | {t['ImagesPerSecond']:.1f} | {ratio:.3f}{'' if ratio >= a.target else ' (below target)'} |")
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
