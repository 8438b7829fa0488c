"""Smart intake's category model measured on the TipDM labelled messages (932 rows, 7 classes).

    .venv/bin/python -m bench.insight_eval [--data ../shared/data] [--curve] [--json out.json]

Stratified 5-fold cross-validation (shuffled, seed 0, the same folds for every model) of:
- the baseline: character 1–3-gram TF-IDF (title + details) and a LinearSVC (C=1);
- ours (engine/insight/classifier.py, exactly the code a deployment trains): character
  n-grams of title×2 + details, jieba words, the title's own n-grams, TF-IDF fitted on the
  labelled rows and the 7,142 unlabelled messages at hand (replies and hot-issue sets), linear
  SVMs calibrated by a 3-fold sigmoid — trained inside each fold only on that fold's training rows
  plus, as a deployment's category tree gives them, the taxonomy's subcategory paths below each
  of the 7 classes (二级 三级 names, 250 short examples; never in a test fold).
Prints macro-F1, accuracy, top-3 accuracy, per-class F1, and with ``--curve`` the learning curve
(macro-F1 against history size: stratified subsamples of the training folds). Nothing was tuned
to these folds: the model's settings are library defaults or were chosen on other shuffles of
the data (``bench/insight_select.py``, seeds 1 and 2), and this one was run once at the end.
The data is read in place and never copied; no message text is printed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from engine.insight import classifier
from engine.insight.classifier import Item

LABELLED = (
    "china/tipdm2020C_wenzheng_categorised_sample_495.csv",
    "china/tipdm2020C_wenzheng_categorised_extra_437.csv",
)
UNLABELLED = (
    "china/tipdm2020C_wenzheng_replies_2816.csv",
    "china/tipdm2020C_hot_issue_messages_4326.csv.gz",
)
TAXONOMY = "china/tipdm2020C_category_taxonomy_3level.csv"


def _rows(path: Path) -> list[list[str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def load(data: Path) -> tuple[list[Item], np.ndarray[Any, Any], list[Item]]:
    rows = [r for name in LABELLED for r in _rows(data / name)]
    items = [Item(r[2], r[4]) for r in rows]
    labels = np.array([r[5] for r in rows])
    loose = [Item(r[2], r[4]) for name in UNLABELLED for r in _rows(data / name)]
    return items, labels, loose


def taxonomy(data: Path) -> dict[str, list[str]]:
    """The 3-level taxonomy as the product reads its category tree: for each top-level category,
    the names below it down to each leaf (``classifier.subcategory_texts``)."""
    paths = [
        [("/".join(row[: depth + 1]), row[depth]) for depth in range(len(row))]
        for row in _rows(data / TAXONOMY)
    ]
    return classifier.subcategory_texts(paths)


def baseline(items: list[Item], labels: np.ndarray[Any, Any], folds: StratifiedKFold) -> float:
    docs = np.array([f"{i.title} {i.description}" for i in items], dtype=object)
    predicted = np.empty(len(labels), dtype=object)
    for train, test in folds.split(docs, labels):
        model = make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True), LinearSVC()
        )
        model.fit(docs[train], labels[train])
        predicted[test] = model.predict(docs[test])
    return float(f1_score(labels, predicted.astype(str), average="macro"))


def curve(
    items: list[Item], labels: np.ndarray[Any, Any], loose: list[Item], sizes: list[int],
    described: dict[str, list[str]],
) -> dict[int, float]:  # fmt: skip
    """Macro-F1 on each test fold when the model learned from ``size`` training rows only."""
    out: dict[int, float] = {}
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    rng = np.random.default_rng(0)
    for size in sizes:
        predicted = np.empty(len(labels), dtype=object)
        for train, test in folds.split(np.zeros(len(labels)), labels):
            pick = train if size >= len(train) else _stratified(rng, labels, train, size)
            model = classifier.fit([items[i] for i in pick], labels[pick].tolist(),
                                   unlabelled=loose, described=described)  # fmt: skip
            ranked = classifier.top(model, [items[i] for i in test], k=1)
            predicted[test] = [r[0][0] for r in ranked]
        out[size] = round(float(f1_score(labels, predicted.astype(str), average="macro")), 4)
        print(f"  history {size:>4}: macro-F1 {out[size]:.3f}", flush=True)
    return out


def _stratified(
    rng: np.random.Generator, labels: np.ndarray[Any, Any], pool: np.ndarray[Any, Any], size: int
) -> np.ndarray[Any, Any]:
    chosen: list[int] = []
    for label in np.unique(labels[pool]):
        members = pool[labels[pool] == label]
        take = max(3, round(size * len(members) / len(pool)))
        chosen.extend(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.array(sorted(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--curve", action="store_true", help="also the learning curve")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    items, labels, loose = load(args.data)
    described = taxonomy(args.data)
    print(f"{len(items)} labelled rows, {len(set(labels))} classes, {len(loose)} unlabelled, "
          f"{sum(len(described.get(c, ())) for c in set(labels))} subcategory paths")  # fmt: skip
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    started = time.perf_counter()
    base = baseline(items, labels, folds)
    print(f"baseline char TF-IDF + LinearSVC: macro-F1 {base:.4f} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    started = time.perf_counter()
    ours = classifier.cross_validate(
        items, labels.tolist(), unlabelled=loose, described=described, folds=5
    )
    print(f"ours: macro-F1 {ours.macro_f1:.4f} · accuracy {ours.accuracy:.4f} · top-3 "
          f"{ours.top3_accuracy:.4f} ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    for name, f1 in sorted(ours.per_class.items(), key=lambda kv: -kv[1]):
        print(f"  {f1:.3f}  {name} ({ours.support[name]})")
    result: dict[str, Any] = {"baseline_macro_f1": round(base, 4), "ours": ours.as_dict()}
    if args.curve:
        result["curve"] = curve(items, labels, loose, [100, 200, 400, 745], described)
    if args.json is not None:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
