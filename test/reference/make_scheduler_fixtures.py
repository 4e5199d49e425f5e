#!/usr/bin/python3
"""Writes test/fixtures/schedulers.json: learning-rate (and momentum / beta1) sequences produced by the real
torch.optim.lr_scheduler classes of PyTorch 1.13 driving a real torch.optim.SGD (momentum 0.9) or AdamW.

Run with the system interpreter (torch 1.13): /usr/bin/python3 test/reference/make_scheduler_fixtures.py
Deterministic: no randomness is involved; re-running gives a byte-identical file.

Each case holds, for the value set at construction (epoch 0) and after each of `steps` calls of
`scheduler.step()`, one row with one value per parameter group:
  lr        group["lr"]
  momentum  group["momentum"] (SGD) -- recorded so that tests can check it is (or is not) cycled
  beta1     group["betas"][0] (AdamW), beta2 likewise
OneCycle cases also hold `extra_step_error`: the message of the error PyTorch raises on one more step.
CosineAnnealingWithWarmupLR is PyTorch's SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup]).
"""

import json
import os
import warnings

import torch
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "schedulers.json")


def make_optimizer(kind, lrs):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "SGD":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    if kind == "AdamW":
        return torch.optim.AdamW(groups, lr=lrs[0])
    raise ValueError(kind)


def build(name, opt, a):
    if name == "StepLR":
        return S.StepLR(opt, step_size=a["stepSize"], gamma=a["gamma"])
    if name == "MultiStepLR":
        return S.MultiStepLR(opt, milestones=a["milestones"], gamma=a["gamma"])
    if name == "ExponentialLR":
        return S.ExponentialLR(opt, gamma=a["gamma"])
    if name == "CosineAnnealingLR":
        return S.CosineAnnealingLR(opt, T_max=a["tMax"], eta_min=a["etaMin"])
    if name == "LinearLR":
        return S.LinearLR(opt, start_factor=a["startFactor"], end_factor=a["endFactor"], total_iters=a["totalIters"])
    if name == "CosineAnnealingWithWarmupLR":
        w, t = a["warmupSteps"], a["totalSteps"]
        warm = S.LinearLR(opt, start_factor=a["warmupStartFactor"], end_factor=1.0, total_iters=w)
        cos = S.CosineAnnealingLR(opt, T_max=t - w, eta_min=a["etaMin"])
        return S.SequentialLR(opt, schedulers=[warm, cos], milestones=[w])
    if name == "OneCycleLR":
        return S.OneCycleLR(
            opt,
            max_lr=a["maxLr"],
            total_steps=a["totalSteps"],
            pct_start=a["pctStart"],
            anneal_strategy=a["annealStrategy"],
            cycle_momentum=a["cycleMomentum"],
            base_momentum=a["baseMomentum"],
            max_momentum=a["maxMomentum"],
            div_factor=a["divFactor"],
            final_div_factor=a["finalDivFactor"],
            three_phase=a["threePhase"],
        )
    raise ValueError(name)


def snapshot(opt, kind, rows):
    rows["lr"].append([g["lr"] for g in opt.param_groups])
    if kind == "SGD":
        rows["momentum"].append([g["momentum"] for g in opt.param_groups])
    else:
        rows["beta1"].append([g["betas"][0] for g in opt.param_groups])
        rows["beta2"].append([g["betas"][1] for g in opt.param_groups])


def run_case(case):
    opt = make_optimizer(case["optimizer"], case["base_lrs"])
    sched = build(case["scheduler"], opt, case["args"])
    rows = {"lr": []}
    if case["optimizer"] == "SGD":
        rows["momentum"] = []
    else:
        rows["beta1"], rows["beta2"] = [], []
    snapshot(opt, case["optimizer"], rows)
    for _ in range(case["steps"]):
        opt.step()  # no gradients: a no-op, called so that PyTorch sees the recommended order
        sched.step()
        snapshot(opt, case["optimizer"], rows)
        assert sched.get_last_lr() == rows["lr"][-1]
    out = dict(case)
    out.update(rows)
    if case["scheduler"] == "OneCycleLR":
        try:
            opt.step()
            sched.step()
            raise AssertionError("expected OneCycleLR to refuse one more step")
        except ValueError as e:
            out["extra_step_error"] = str(e)
    return out


def onecycle(max_lr, total, **kw):
    a = {
        "maxLr": max_lr,
        "totalSteps": total,
        "pctStart": 0.3,
        "annealStrategy": "cos",
        "cycleMomentum": True,
        "baseMomentum": 0.85,
        "maxMomentum": 0.95,
        "divFactor": 25.0,
        "finalDivFactor": 1e4,
        "threePhase": False,
    }
    a.update(kw)
    return a


def cases():
    c = []

    def add(name, scheduler, args, steps, optimizer="SGD", base_lrs=(0.1,)):
        c.append({"name": name, "scheduler": scheduler, "optimizer": optimizer, "base_lrs": list(base_lrs),
                  "args": args, "steps": steps})

    add("step_default", "StepLR", {"stepSize": 7, "gamma": 0.1}, 40)
    add("step_two_groups", "StepLR", {"stepSize": 3, "gamma": 0.5}, 30, base_lrs=(0.1, 0.003))
    add("step_size1_adamw", "StepLR", {"stepSize": 1, "gamma": 0.9}, 50, optimizer="AdamW", base_lrs=(1e-3,))
    add("multistep_default", "MultiStepLR", {"milestones": [10, 25], "gamma": 0.1}, 40)
    add("multistep_unsorted_dup_zero", "MultiStepLR", {"milestones": [30, 0, 12, 12], "gamma": 0.5}, 40,
        base_lrs=(0.2, 0.05))
    add("exponential_095", "ExponentialLR", {"gamma": 0.95}, 100)
    add("exponential_growth_two_groups", "ExponentialLR", {"gamma": 1.07}, 60, base_lrs=(1e-5, 3e-4))
    add("cosine_tmax50", "CosineAnnealingLR", {"tMax": 50, "etaMin": 0.0}, 50)
    add("cosine_past_tmax_etamin", "CosineAnnealingLR", {"tMax": 10, "etaMin": 0.001}, 45, base_lrs=(0.1, 0.02))
    add("cosine_tmax1", "CosineAnnealingLR", {"tMax": 1, "etaMin": 0.0}, 6)
    add("cosine_adamw", "CosineAnnealingLR", {"tMax": 30, "etaMin": 1e-6}, 30, optimizer="AdamW", base_lrs=(3e-4,))
    add("linear_default", "LinearLR", {"startFactor": 1.0 / 3, "endFactor": 1.0, "totalIters": 5}, 30)
    add("linear_decay_two_groups", "LinearLR", {"startFactor": 1.0, "endFactor": 0.05, "totalIters": 20}, 35,
        base_lrs=(0.1, 0.01))
    add("linear_to_zero", "LinearLR", {"startFactor": 0.5, "endFactor": 0.0, "totalIters": 8}, 30)
    add("warmup_cosine", "CosineAnnealingWithWarmupLR",
        {"warmupSteps": 10, "totalSteps": 60, "warmupStartFactor": 0.001, "etaMin": 0.0}, 60)
    add("warmup_cosine_two_groups_etamin", "CosineAnnealingWithWarmupLR",
        {"warmupSteps": 5, "totalSteps": 30, "warmupStartFactor": 0.1, "etaMin": 1e-4}, 45,
        optimizer="AdamW", base_lrs=(3e-3, 1e-3))
    add("warmup_cosine_warmup1", "CosineAnnealingWithWarmupLR",
        {"warmupSteps": 1, "totalSteps": 20, "warmupStartFactor": 0.01, "etaMin": 0.0}, 25)
    add("onecycle_sgd", "OneCycleLR", onecycle(0.1, 100), 100)
    add("onecycle_adamw", "OneCycleLR", onecycle(3e-3, 80), 80, optimizer="AdamW", base_lrs=(1e-3,))
    add("onecycle_three_phase", "OneCycleLR", onecycle(0.5, 90, threePhase=True, pctStart=0.25), 90)
    add("onecycle_linear", "OneCycleLR", onecycle(0.2, 50, annealStrategy="linear", divFactor=10.0,
                                                  finalDivFactor=100.0), 50)
    add("onecycle_three_phase_linear_adamw", "OneCycleLR",
        onecycle(1e-2, 64, threePhase=True, annealStrategy="linear", baseMomentum=0.8, maxMomentum=0.9), 64,
        optimizer="AdamW")
    add("onecycle_no_cycle_momentum", "OneCycleLR", onecycle(0.05, 40, cycleMomentum=False), 40)
    add("onecycle_two_groups_maxlrs", "OneCycleLR", onecycle([0.1, 0.01], 60, pctStart=0.4), 60,
        base_lrs=(0.5, 0.5))
    add("onecycle_tiny", "OneCycleLR", onecycle(0.1, 3), 3, optimizer="AdamW")
    return c


def main():
    warnings.simplefilter("ignore")  # SequentialLR's step(0) epoch deprecation warning
    doc = {
        "generator": "test/reference/make_scheduler_fixtures.py",
        "torch_version": torch.__version__,
        "cases": [run_case(c) for c in cases()],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT), len(doc["cases"]), "cases")


if __name__ == "__main__":
    main()
