#!/usr/bin/python3
"""Writes build/fashion-mnist/results.md from the run JSONs in build/fashion-mnist/results/ (run.sh)."""
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "results", "*.json"))):
        with open(path) as f:
            d = json.load(f)
        name = os.path.basename(path)[:-5]
        fw, rest = name.split("_", 1)
        model, _, epochs = rest.rpartition("_e")
        e = d["epochs"]
        rows.append(dict(fw="C#" if fw == "csharp" else "PyTorch", model=model, epochs=int(epochs), params=d["parameters"],
                         first=e[0]["testAccuracy"], final=d["testAccuracy"], minutes=d["minutes"],
                         ips=sorted(x["imagesPerSecond"] for x in e)[len(e) // 2],
                         best_ips=max(x["imagesPerSecond"] for x in e),
                         curve=" ".join(f"{100 * x['testAccuracy']:.1f}" for x in e)))
    md = ["# Fashion-MNIST: measured runs (issue 5)", "",
          "`build/fashion-mnist/run.sh` on the 2-core development machine (Debian 12, libtorch 1.13.1, 2 threads), "
          "60,000 training images, the 10,000 test images scored after every epoch. Recipe: small-image form, "
          "channels-last, batch 128, SGD Nesterov, one-cycle to lr 0.1, weight decay 5e-4, label smoothing 0.1, "
          "pad-2 random crop + flip, normalised (0.2860/0.3530). images/s: the median epoch. The C# runs "
          "(2026-11-22, after the channels-last stride fix) and the PyTorch EPSANet-14 run had the machine to themselves; "
          "the PyTorch SE-ResNet-18 run (2026-11-21) shared it with other jobs, so its speed is a lower bound (quiet: "
          "1,564 images/s for one epoch). The C# runs before the fix are in results/before-layout-fix/ (93.04 % and "
          "93.17 %).", "",
          "| framework | model | parameters | epochs | test acc. after epoch 1 | final test acc. | minutes | images/s (median / best epoch) | test accuracy per epoch |",
          "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["epochs"], r["fw"])):
        md.append(f"| {r['fw']} | {r['model']} | {r['params']:,} | {r['epochs']} | {100 * r['first']:.2f}% | "
                  f"**{100 * r['final']:.2f}%** | {r['minutes']:.1f} | {r['ips']:.0f} / {r['best_ips']:.0f} | {r['curve']} |")
    pairs = {}
    for r in rows:
        pairs.setdefault((r["model"], r["epochs"]), {})[r["fw"]] = r["final"]
    diffs = [(m, e, 100 * (v["C#"] - v["PyTorch"])) for (m, e), v in sorted(pairs.items()) if len(v) == 2]
    if diffs:
        md += ["", "C# minus PyTorch, same model and recipe: " +
               "; ".join(f"{m} ({e} epochs) {d:+.2f} points" for m, e, d in diffs) + "."]
    out = os.path.join(HERE, "results.md")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(md) + "\n")
    os.replace(out + ".tmp", out)
    print("\n".join(md))


if __name__ == "__main__":
    main()
