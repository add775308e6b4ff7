"""The study's outputs: results.json (every number), results.md (tables and verdicts) and the figures.

Scores are mIoU in points (x 100). Every table cell is mean +- std over the fine-tuning seeds (std with ddof=1,
the spread the t-interval uses); every comparison is the paired difference to the baseline with its 95 %
interval (`stats`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .config import SCRATCH, Score, StudyConfig
from .runner import METRIC, REAL_ARM, Finetuning, Pretraining
from .stats import INTERVAL, paired_difference, seeds_to_resolve, verdict

PLATEAU_SHARE = 1 / 3  # the learning curve's last third: its dev gain says whether the run had plateaued
PLATEAU_TOLERANCE = 1.0  # dev-mIoU points gained over the last third above which a run was still learning


def points(metrics: dict | None) -> float | None:
    return None if metrics is None else 100 * metrics[METRIC]


def collect(
    study: StudyConfig, results: dict[Finetuning, dict], pretrainings: dict[str, dict], scale: float = 1.0
) -> dict:
    """Every number of the report, as plain JSON values (`pretrainings`: finished pre-training runs by key, their
    steps, seconds and diagnostics; `scale`: the study's --scale)."""
    pretrain_steps = {key: result["steps"] for key, result in pretrainings.items()}
    every_run = [
        {
            "arm": run.arm, "method": run.method, "pretrain_share": run.share, "pretrain_seed": run.pretrain_seed,
            "label_fraction": run.label_fraction,
            "seed": run.seed, "test_miou": points(result.get("test")), "real_miou": points(result.get("real")),
            "dev_miou": None if result.get("dev") is None else 100 * result["dev"], "best_step": result["best_step"],
            "seconds": result["seconds"], "curve": [[step, 100 * value] for step, value in result["curve"]],
            "real_iou": per_class(result.get("real")),
        }
        for run, result in results.items()
    ]  # fmt: skip
    # the tables and claims: the study's seeds, one pre-training per method (data scaling has runs of its own)
    runs = [r for r in every_run if r["seed"] in study.seeds and r["pretrain_seed"] is None]
    report = {"study": study.name, "interval": INTERVAL, "runs": every_run, "pretrain_steps": pretrain_steps,
              "pretrainings": pretrainings}  # fmt: skip
    report["tables"] = {arm.name: table(runs, arm.name, study.arm_methods(arm), arm.label_fractions)
                        for arm in study.arms}  # fmt: skip
    report["comparisons"] = comparisons(study, runs)
    report["plateau"] = plateau(runs)
    report["claims"] = [claim_result(runs, claim) | {"converged": converged(report["plateau"], claim)}
                        for claim in study.claims]  # fmt: skip
    if study.scaling is not None:
        report["scaling"] = scaling(study, every_run, pretrain_steps, scale)
    report["real_per_class"] = real_per_class(study, runs)
    few = [r for r in runs if r["arm"] == REAL_ARM]
    if few:
        methods = list(dict.fromkeys(r["method"] for r in few))
        report["real_few_label"] = {
            method: {**summary(values(few, method, "real_miou")),
                     "vs_scratch": compare(*paired(few, "real_miou", {"method": method}, {"method": SCRATCH}))}
            for method in methods
        }  # fmt: skip
    return report


def per_class(metrics: dict | None) -> dict[str, float] | None:
    if metrics is None:
        return None
    return {key.removeprefix("iou/"): 100 * value for key, value in metrics.items() if key.startswith("iou/")}


def real_per_class(study: StudyConfig, runs: list[dict]) -> dict:
    """Mean IoU per class on the real scans (classes present) of the first arm's models at its largest label
    fraction, per method: which classes transfer from the simulator and which do not."""
    arm = study.arms[0]
    where = {"arm": arm.name, "label_fraction": max(arm.label_fractions)}
    out = {}
    for method in study.arm_methods(arm):
        chosen = [r["real_iou"] for r in select(runs, method=method, **where) if r["real_iou"]]
        if chosen:
            out[method] = {name: float(np.mean([iou.get(name, 0.0) for iou in chosen])) for name in chosen[0]}
    return out


def select(runs: list[dict], **where) -> list[dict]:
    """The runs matching `where`, ordered by seed (so that two selections pair up seed by seed)."""
    chosen = [r for r in runs if all(r[key] == value for key, value in where.items())]
    return sorted(chosen, key=lambda r: r["seed"])


def values(runs: list[dict], method: str, key: str, **where) -> list[float]:
    return [r[key] for r in select(runs, method=method, **where) if r[key] is not None]


def paired(runs: list[dict], key: str, first: dict, second: dict) -> tuple[list[float], list[float]]:
    """The `key` scores of the runs matching `first` and of those matching `second`, seed by seed, for the
    seeds both have (a study stopped part-way may have one side's run of a seed and not the other's)."""
    a = {r["seed"]: r[key] for r in select(runs, **first) if r[key] is not None}
    b = {r["seed"]: r[key] for r in select(runs, **second) if r[key] is not None}
    seeds = sorted(a.keys() & b.keys())
    return [a[seed] for seed in seeds], [b[seed] for seed in seeds]


def summary(scores: list[float]) -> dict:
    if not scores:
        return {"mean": None, "std": None, "values": []}
    std = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
    return {"mean": float(np.mean(scores)), "std": std, "values": list(scores)}


def compare(method: list[float], baseline: list[float], min_gain: float = 0.0, two_sided: bool = False) -> dict:
    if not method or len(method) != len(baseline):
        return {"difference": None, "verdict": "not run"}
    difference = paired_difference(method, baseline)
    return {"difference": difference.to_dict(), "verdict": str(verdict(difference, min_gain, two_sided))}


def table(runs: list[dict], arm: str, methods: list[str], fractions: list[float]) -> dict:
    """method -> label fraction -> {test, real} summaries (full-pool pre-training)."""
    return {
        method: {str(f): {score: summary(values(runs, method, f"{score}_miou", arm=arm, label_fraction=f))
                          for score in Score}
                 for f in fractions}
        for method in methods
    }  # fmt: skip


def comparisons(study: StudyConfig, runs: list[dict]) -> dict:
    """Every method against scratch, per arm, label fraction and score."""
    out = {}
    for arm in study.arms:
        for method in study.arm_methods(arm):
            if method == SCRATCH or SCRATCH not in study.arm_methods(arm):
                continue
            for f in arm.label_fractions:
                if not study.fine_tunes(method, f):
                    continue
                for score in Score:
                    where = {"arm": arm.name, "label_fraction": f}
                    result = compare(*paired(runs, f"{score}_miou", {"method": method, **where},
                                             {"method": SCRATCH, **where}))  # fmt: skip
                    out.setdefault(arm.name, {}).setdefault(method, {}).setdefault(str(f), {})[str(score)] = result
    return out


def claim_result(runs: list[dict], claim) -> dict:
    where = {"arm": claim.arm, "label_fraction": claim.label_fraction}
    key = f"{claim.score}_miou"
    pairs = paired(runs, key, {"method": claim.method, **where}, {"method": claim.baseline, **where})
    result = compare(*pairs, claim.min_gain, claim.two_sided)
    return {"name": claim.name, "method": claim.method, "baseline": claim.baseline, "arm": claim.arm,
            "label_fraction": claim.label_fraction, "score": str(claim.score), "min_gain": claim.min_gain,
            "two_sided": claim.two_sided, **result}  # fmt: skip


def plateau(runs: list[dict]) -> dict:
    """Per arm, method and label fraction: the mean dev-mIoU gain over the last third of the schedule (points).
    Near zero: the run had plateaued before its schedule ended."""
    out: dict = {}
    for r in runs:
        if r["arm"] == REAL_ARM or len(r["curve"]) < 3:
            continue
        gain = last_share_gain(r["curve"])
        out.setdefault(r["arm"], {}).setdefault(r["method"], {}).setdefault(str(r["label_fraction"]), []).append(gain)
    return {arm: {m: {f: float(np.mean(g)) for f, g in by_f.items()} for m, by_f in by_m.items()}
            for arm, by_m in out.items()}  # fmt: skip


def last_share_gain(curve: list) -> float:
    """What a learning curve [(step, score), ...] gained over its last `PLATEAU_SHARE` of steps (its best after
    against its best before): near zero, the run had plateaued before its schedule ended."""
    cut = curve[-1][0] * (1 - PLATEAU_SHARE)
    return max(score for _, score in curve) - max(score for step, score in curve if step <= cut)


def converged(gains: dict, claim) -> bool | None:
    """Whether both sides of a claim had plateaued (None before they have run): a difference between runs still
    learning may only say which one learns faster."""
    fraction = str(claim.label_fraction)
    sides = [gains.get(claim.arm, {}).get(method, {}).get(fraction) for method in (claim.method, claim.baseline)]
    return None if None in sides else all(gain <= PLATEAU_TOLERANCE for gain in sides)


def scaling(study: StudyConfig, runs: list[dict], pretrain_steps: dict[str, int], scale: float) -> dict:
    """Test mIoU per pre-training share (and its number of sequences), and each larger share against the next
    smaller one."""
    s = study.scaling
    runs = [r for r in runs if r["seed"] in study.scaling_seeds and r["pretrain_seed"] is not None]
    where = {"arm": s.arm, "label_fraction": s.label_fraction}
    any_seed = study.scaling_seeds[0]  # every seed's pre-training at a share trains the same number of steps
    by_share = {share: values(runs, s.method, "test_miou", pretrain_share=share, **where) for share in s.shares}
    steps = [compare(*paired(runs, "test_miou", {"method": s.method, "pretrain_share": larger, **where},
                             {"method": s.method, "pretrain_share": smaller, **where}))
             | {"from": smaller, "to": larger}
             for smaller, larger in zip(s.shares, s.shares[1:], strict=False)]  # fmt: skip
    return {
        "method": s.method, "arm": s.arm, "label_fraction": s.label_fraction, "seeds": study.scaling_seeds,
        "shares": {str(share): {**summary(by_share[share]),
                                "sequences": len(study.pretrain.pool.seeds(scale * share)),
                                "pretrain_steps": pretrain_steps.get(Pretraining(s.method, share, any_seed).key)}
                   for share in s.shares},
        "steps": steps,
        "verdict": "met" if all(step["verdict"] == "met" for step in steps) else "not shown",
    }  # fmt: skip


# ------------------------------------------------------------------------------------ what was not reached


def time_spent(report: dict) -> list[dict]:
    """Where the training time went, most first: per part of the protocol (the pre-trainings, each arm and label
    fraction's fine-tunings) its runs, steps per run, minutes summed and ms per step (dev evaluations included)."""
    parts: dict[str, list[tuple[int, float]]] = {}
    for result in report["pretrainings"].values():
        part = "pre-training" + ("" if result["seed"] is None else ", data scaling")
        parts.setdefault(part, []).append((result["steps"], result["seconds"]))
    for r in report["runs"]:
        if r["arm"] == REAL_ARM:
            part = "fine-tuning on a real scan (real few-label arm)"
        else:
            part = f"fine-tuning {r['arm']}, {100 * r['label_fraction']:g} % labels"
            part += "" if r["pretrain_seed"] is None else ", data scaling"
        parts.setdefault(part, []).append((r["curve"][-1][0] if r["curve"] else 0, r["seconds"]))
    total = sum(seconds for runs in parts.values() for _, seconds in runs) or 1.0
    rows = []
    for part, runs in parts.items():
        steps, seconds = (sum(column) for column in zip(*runs, strict=True))
        rows.append({"part": part, "runs": len(runs), "steps": sorted({n for n, _ in runs}), "minutes": seconds / 60,
                     "ms_per_step": 1000 * seconds / max(1, steps), "share": seconds / total})  # fmt: skip
    return sorted(rows, key=lambda row: -row["minutes"])


def shortfalls(study: StudyConfig, report: dict) -> list[dict]:
    """Every target the study sets and did not reach: its result, by how much, and why, computed from the
    numbers (two-sided claims ask for an effect whatever its sign: reported is reached)."""
    out = [missed(claim["name"], claim["difference"], claim["verdict"], claim["min_gain"])
           for claim in report["claims"]
           if not claim["two_sided"] and claim["difference"] is not None and claim["verdict"] != "met"]  # fmt: skip
    if "scaling" in report:
        sequences = share_sequences(report["scaling"])
        out += [missed(f"more pre-training data scores higher: {sequences[step['from']]} → "
                       f"{sequences[step['to']]} sequences", step["difference"], step["verdict"])
                for step in report["scaling"]["steps"]
                if step["difference"] is not None and step["verdict"] != "met"]  # fmt: skip
    for arm in study.arms:
        for fraction in arm.label_fractions:
            gain = report["plateau"].get(arm.name, {}).get(SCRATCH, {}).get(str(fraction))
            if gain is not None and gain > PLATEAU_TOLERANCE:
                out.append({
                    "target": f"scratch plateaus before its schedule ends ({arm.name}, {100 * fraction:g} % labels)",
                    "result": f"+{gain:.1f} dev points over the last third", "by": gain - PLATEAU_TOLERANCE,
                    "short": f"{gain - PLATEAU_TOLERANCE:.1f} points above the tolerance of {PLATEAU_TOLERANCE:g}",
                    "why": "its dev mIoU was still rising when the schedule ended: a difference to scratch there "
                           "may say only which run learns faster",
                })  # fmt: skip
    budget = study.budget
    wall = None if budget is None or report["scale"] != 1 else report["training_minutes"] / budget.cores
    if wall is not None and wall > budget.minutes:
        largest = "; ".join(f"{row['part']} {row['minutes']:.0f} min ({row['runs']} runs, "
                            f"{'/'.join(str(s) for s in row['steps'])} steps, {row['ms_per_step']:.0f} ms/step)"
                            for row in report["time"][:3])  # fmt: skip
        out.append({
            "target": f"the study fits in {budget.minutes:g} min on {budget.cores} cores",
            "result": f"{report['training_minutes']:.0f} min of training summed over runs, at one run per core "
                      f"at least {wall:.0f} min" + ("" if report["complete"] else " (part-way: so far)"),
            "by": wall - budget.minutes,
            "short": f"{wall - budget.minutes:.0f} min over ({wall / budget.minutes:.1f}x)",
            "why": f"the runs and schedules the protocol asks for hold that much training; the largest parts: "
                   f"{largest}",
        })  # fmt: skip
    return out


def share_sequences(scaling: dict) -> dict[float, int]:
    """The data-scaling table's shares and the number of sequences each pre-trained on."""
    return {float(share): entry["sequences"] for share, entry in scaling["shares"].items()}


def missed(target: str, difference: dict, verdict_text: str, min_gain: float = 0.0) -> dict:
    """A one-sided target not reached: its result, by how much, and why, from its paired difference."""
    d = difference
    entry = {"target": target + (f" (by ≥ {min_gain:g})" if min_gain else ""), "result": difference_text(d),
             "verdict": verdict_text, "by": None, "seeds_needed": None}  # fmt: skip
    if d["low"] is None:
        return entry | {"short": "no interval", "why": "one seed: no interval, nothing is shown"}
    span = f"[{d['low']:+.1f}, {d['high']:+.1f}]"
    if verdict_text == "below target":
        by = min_gain - d["mean"]
        where = (
            "the whole interval lies below the target"
            if d["high"] < min_gain
            else f"the interval holds the target too: {d['seeds']} seeds cannot tell whether the true gain clears it"
        )
        return entry | {"by": by, "short": f"mean {by:.1f} points below the target of {min_gain:g}",
                        "why": f"the gain is shown (its interval {span} excludes zero), but {where}"}  # fmt: skip
    if verdict_text == "opposite":
        return entry | {"by": -d["mean"], "short": f"the baseline is better by {-d['mean']:.1f}",
                        "why": f"the interval {span} lies below zero"}  # fmt: skip
    if d["mean"] <= 0:
        return entry | {"by": -d["low"], "short": f"mean {d['mean']:+.1f}: no gain",
                        "why": "more seeds would not show a gain whose mean is not above zero"}  # fmt: skip
    needed = seeds_to_resolve(d["mean"], d["std"])
    resolve = (
        f"at that spread ~{needed} seeds would resolve a mean this large"
        if needed
        else "a mean this small against that spread would need more than 100 seeds"
    )
    target_too = f"; the mean is also {min_gain - d['mean']:.1f} below the target" if d["mean"] < min_gain else ""
    return entry | {"by": -d["low"], "seeds_needed": needed, "short": f"the interval reaches {d['low']:+.1f}",
                    "why": f"the paired differences spread by {d['std']:.1f} points from seed to seed against a "
                           f"mean of {d['mean']:+.1f} ({d['seeds']} seeds); {resolve}{target_too}"}  # fmt: skip


# ----------------------------------------------------------------------------------------------- markdown


def cell(entry: dict) -> str:
    if entry["mean"] is None:
        return "–"
    return f"{entry['mean']:.1f} ± {entry['std']:.1f}"


def interval(result: dict) -> str:
    d = result["difference"]
    return "not run" if d is None else f"{difference_text(d)} {result['verdict']}"


def difference_text(d: dict | None) -> str:
    """A paired difference as `+mean [low, high]` (no interval from a single seed)."""
    if d is None:
        return "not run"
    if d["low"] is None:
        return f"{d['mean']:+.1f} (one seed: no interval)"
    return f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]"


def markdown(study: StudyConfig, report: dict, header: Iterable[str]) -> str:
    lines = [*header, ""]
    for arm in study.arms:
        fractions, rows = arm.label_fractions, report["tables"][arm.name]
        test = {method: [cell(by_f[str(f)]["test"]) for f in fractions] for method, by_f in rows.items()}
        lines += fraction_table(f"### Fine-tuned on {arm.name}: test mIoU (simulated test split)", fractions, test)
        if arm.name in report["comparisons"]:
            comparison = report["comparisons"][arm.name]
            lines += fraction_table(f"Paired difference to scratch (test mIoU points, mean [{INTERVAL} interval]):",
                                    fractions, {method: [interval(by_f[str(f)]["test"]) if str(f) in by_f else "–"
                                                         for f in fractions]
                                                for method, by_f in comparison.items()})  # fmt: skip
        if any(by_f[str(f)]["real"]["mean"] is not None for by_f in rows.values() for f in fractions):
            lines += fraction_table(f"The same models ({arm.name}) on the real SemanticKITTI scans (classes present):",
                                    fractions, {method: [cell(by_f[str(f)]["real"]) for f in fractions]
                                                for method, by_f in rows.items()})  # fmt: skip
    if report["claims"]:
        lines += ["### Claims", "", "| claim | difference [95 % interval] | verdict |", "| --- | --- | --- |"]
    for claim in report["claims"]:
        d = claim["difference"]
        shown = difference_text(d) + ("" if d is None or d["low"] is None else f" ({d['seeds']} seeds)")
        target = f" (target ≥ {claim['min_gain']:g})" if claim["min_gain"] else ""
        caveat = " (provisional: still learning when the schedule ended)" if claim["converged"] is False else ""
        lines.append(f"| {claim['name']}{target} | {shown} | **{claim['verdict']}**{caveat} |")
    if "scaling" in report:
        s = report["scaling"]
        sequences = share_sequences(s)
        lines += ["", f"### Data scaling: {s['method']} pre-trained on more simulated sequences (fixed epochs), "
                      f"{100 * s['label_fraction']:g} % labels on {s['arm']}", "",
                  f"Seeds {s['seeds']}: the run of seed s fine-tunes a pre-training of its own, trained with seed s, "
                  "so the paired intervals hold the pre-training's spread as well as the fine-tuning's.", "",
                  "| sequences | share of the pool | pre-training steps | test mIoU |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        for share, entry in s["shares"].items():
            steps = "–" if entry["pretrain_steps"] is None else entry["pretrain_steps"]
            lines.append(f"| {entry['sequences']} | {100 * float(share):g} % | {steps} | {cell(entry)} |")
        lines += [
            "",
            "Each step up: "
            + "; ".join(
                f"{sequences[st['from']]} → {sequences[st['to']]} sequences: {interval(st)}" for st in s["steps"]
            )
            + f". Overall: **{s['verdict']}**.",
        ]
    if report.get("shortfalls"):
        lines += ["", "### Targets not reached: by how much, and why", "",
                  "| target | result | short of it | why |", "| --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| {e['target']} | {e['result']} | {e['short']} | {e['why']} |" for e in report["shortfalls"]]
    if report.get("time"):
        lines += ["", "### Where the training time went", "",
                  "| part | runs | steps per run | minutes | ms per step | share |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| {row['part']} | {row['runs']} | {'/'.join(str(s) for s in row['steps'])} | "
                  f"{row['minutes']:.0f} | {row['ms_per_step']:.0f} | {100 * row['share']:.0f} % |"
                  for row in report["time"]]  # fmt: skip
    if report["real_per_class"]:
        by_method = report["real_per_class"]
        methods = list(by_method)
        classes = sorted(next(iter(by_method.values())), key=lambda name: by_method[methods[0]][name])
        lines += ["", f"### Per-class IoU on the real scans ({study.arms[0].name} models, "
                      f"{100 * max(study.arms[0].label_fractions):g} % labels), worst transfer first", "",
                  "| class | " + " | ".join(methods) + " |", "|" + " --- |" * (len(methods) + 1)]  # fmt: skip
        lines += [f"| {name} | " + " | ".join(f"{by_method[m].get(name, 0.0):.1f}" for m in methods) + " |"
                  for name in classes]  # fmt: skip
    if "real_few_label" in report:
        lines += ["", "### Real few-label arm: fine-tuned on one real SemanticKITTI scan, scored on the other", "",
                  "| pre-training | real mIoU | difference to scratch |", "| --- | --- | --- |"]  # fmt: skip
        for method, entry in report["real_few_label"].items():
            versus = "–" if method == SCRATCH else interval(entry["vs_scratch"])
            lines.append(f"| {method} | {cell(entry)} | {versus} |")
    if report["pretrainings"]:
        lines += ["", "### Pre-training runs (the last training record; CLAP: prototypes in use of its "
                      "`prototypes.num`, code entropy in nats: the collapse metric)", "",
                  "| run | steps | minutes | loss | prototypes in use | code entropy |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for key, result in report["pretrainings"].items():
            shown = [f"{result[name]:.3g}" if name in result else "–" for name in ("loss", "prototypes_used",
                                                                                   "code_entropy")]  # fmt: skip
            lines.append(f"| {key} | {result['steps']} | {result['seconds'] / 60:.1f} | " + " | ".join(shown) + " |")
    if report["plateau"]:
        lines += ["", "### Did the runs converge? Dev-mIoU gain over the last third of the schedule (points)", "",
                  "| arm | method | " + " | ".join(f"{100 * float(f):g} %" for f in _fractions(report)) + " |",
                  "|" + " --- |" * (len(_fractions(report)) + 2)]  # fmt: skip
        for arm, by_method in report["plateau"].items():
            for method, by_fraction in by_method.items():
                gains = [by_fraction.get(f) for f in _fractions(report)]
                lines.append(f"| {arm} | {method} | " + " | ".join("–" if g is None else f"{g:.1f}" for g in gains)
                             + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def fraction_table(title: str, fractions: list[float], rows: dict[str, list[str]]) -> list[str]:
    """A titled markdown table: one row per method, one column per label fraction."""
    head = "| pre-training | " + " | ".join(f"{100 * f:g} % labels" for f in fractions) + " |"
    body = [f"| {method} | " + " | ".join(cells) + " |" for method, cells in rows.items()]
    return [title, "", head, "|" + " --- |" * (len(fractions) + 1), *body, ""]


def _fractions(report: dict) -> list[str]:
    return sorted({f for by_m in report["plateau"].values() for by_f in by_m.values() for f in by_f}, key=float)


# ------------------------------------------------------------------------------------------------- figures


def figures(study: StudyConfig, report: dict, folder: Path) -> list[Path]:
    """mIoU vs label fraction per arm, the scratch learning curves, data scaling, real-scan per-class IoU."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(figure, name: str) -> None:
        figure.tight_layout()
        figure.savefig(folder / name, dpi=100)
        plt.close(figure)
        written.append(folder / name)

    arms = study.arms
    # one look per method in every panel: ten colours, then the same colours dashed (square markers)
    looks = {method: {"color": f"C{i % 10}", "linestyle": "-" if i < 10 else "--"}
             for i, method in enumerate(study.method_names)}  # fmt: skip
    markers = {method: "o" if i < 10 else "s" for i, method in enumerate(study.method_names)}
    figure, axes = plt.subplots(1, len(arms), figsize=(5.5 * len(arms), 4), squeeze=False)
    for axis, arm in zip(axes[0], arms, strict=True):
        for method, by_fraction in report["tables"][arm.name].items():
            fractions = [f for f in arm.label_fractions if by_fraction[str(f)]["test"]["mean"] is not None]
            means = [by_fraction[str(f)]["test"]["mean"] for f in fractions]
            stds = [by_fraction[str(f)]["test"]["std"] for f in fractions]
            axis.errorbar([100 * f for f in fractions], means, yerr=stds, marker=markers[method], capsize=3,
                          label=method, **looks[method])  # fmt: skip
        axis.set(xscale="log", xlabel="labelled frames (% of the pool)", ylabel="test mIoU", title=arm.name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    save(figure, "miou_vs_labels.png")

    main = [r for r in report["runs"] if r["arm"] == arms[0].name and r["pretrain_seed"] is None]
    fractions = arms[0].label_fractions
    figure, axes = plt.subplots(1, len(fractions), figsize=(5 * len(fractions), 3.8), squeeze=False)
    methods = list(report["tables"][arms[0].name])
    for axis, f in zip(axes[0], fractions, strict=True):
        for method in methods:
            for j, r in enumerate(select(main, method=method, label_fraction=f)):
                steps, scores = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
                axis.plot(steps, scores, linewidth=2 if method == SCRATCH else 0.8, label=method if j == 0 else None,
                          **looks[method])  # fmt: skip
        axis.set(xlabel="fine-tuning step", ylabel="dev mIoU", title=f"{arms[0].name}, {100 * f:g} % labels")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # a fraction with no finished run yet
            axis.legend(fontsize=7)
    save(figure, "learning_curves.png")

    if "scaling" in report:
        s = report["scaling"]
        shares = [x for x in s["shares"] if s["shares"][x]["mean"] is not None]  # a study stopped part-way
        figure, axis = plt.subplots(figsize=(5.5, 4))
        means, stds = [s["shares"][x]["mean"] for x in shares], [s["shares"][x]["std"] for x in shares]
        sequences = [s["shares"][x]["sequences"] for x in shares]
        axis.errorbar(sequences, means, yerr=stds, marker="o", capsize=3, label=s["method"])
        scratch = report["tables"][s["arm"]].get(SCRATCH, {}).get(str(s["label_fraction"]))
        if scratch and scratch["test"]["mean"] is not None:
            axis.axhline(scratch["test"]["mean"], color="k", linestyle="--", label="scratch")
        axis.set(xscale="log", xlabel="pre-training sequences (fixed epochs)", ylabel="test mIoU",
                 title=f"{100 * s['label_fraction']:g} % labels on {s['arm']}")  # fmt: skip
        axis.set_xticks(sequences, [str(n) for n in sequences])
        axis.xaxis.set_minor_locator(plt.NullLocator())
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        save(figure, "data_scaling.png")

    real = [r for r in main if r["real_iou"] and r["label_fraction"] == max(fractions)]
    if real:
        classes = sorted({name for r in real for name in r["real_iou"]})
        figure, axis = plt.subplots(figsize=(max(6, 0.5 * len(classes) * len(methods) / 2), 4))
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            ious = [np.mean([r["real_iou"].get(c, 0.0) for r in select(real, method=method)] or [0]) for c in classes]
            axis.bar(np.arange(len(classes)) + i * width, ious, width, label=method)
        axis.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes, rotation=45, ha="right")
        axis.set(ylabel="IoU on the real scans", title=f"sim → real per class ({100 * max(fractions):g} % labels)")
        axis.legend(fontsize=7)
        save(figure, "real_per_class_iou.png")
    return written


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=1) + "\n")
