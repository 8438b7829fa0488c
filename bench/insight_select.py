"""How smart intake's category model was chosen: candidates compared on shuffles of the TipDM
labelled messages that are *not* the evaluation's (``bench/insight_eval.py`` uses seed 0).

    .venv/bin/python -m bench.insight_select [--data ../shared/data] [--seed 1]

Stratified 5-fold cross-validation shuffled with ``--seed`` (1 and 2 were used). The features
are the product's own (``classifier.Features``: fitted per fold on that fold's training rows and
the 7,142 unlabelled messages), computed once per fold; every candidate then trains on them:
- ``reference``: the calibrated LinearSVC of ``classifier.fit`` without subcategories;
- ``one-svm``: one SVM on the whole training fold, calibrated on cross-validated scores
  (``ensemble=False``) instead of averaging three;
- ``C=0.5``, ``C=2``: a weaker and a stronger SVM;
- ``+ComplementNB``: the SVM's probabilities averaged with ComplementNB's (alpha 0.3);
- ``taxonomy per class``: one pseudo-document per class, all its subcategory names;
- ``taxonomy per leaf``: one pseudo-document per leaf, the names below the class
  (``classifier.subcategory_texts``, what the product does);
- ``taxonomy per leaf, with the class name``: the same, the class's own name first.
Prints macro-F1 and top-3 accuracy of each. No message text is printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, vstack
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from bench.insight_eval import load, taxonomy
from engine.insight.classifier import Features, Item

Candidate = dict[str, Any]
CANDIDATES: dict[str, Candidate] = {
    "reference": {},
    "one-svm": {"ensemble": False},
    "C=0.5": {"C": 0.5},
    "C=2": {"C": 2.0},
    "+ComplementNB": {"nb": 0.3},
    "taxonomy per class": {"pseudo": "class"},
    "taxonomy per leaf": {"pseudo": "leaf"},
    "taxonomy per leaf, with the class name": {"pseudo": "leaf+name"},
}


def pseudo_documents(described: dict[str, list[str]], classes: list[str]) -> dict[str, list[Item]]:
    """The three ways of turning the taxonomy into examples (their labels: ``pseudo_labels``)."""
    return {
        "class": [Item(" ".join(described.get(c, [])) or c) for c in classes],
        "leaf": [Item(text) for c in classes for text in described.get(c, [])],
        "leaf+name": [Item(f"{c} {text}") for c in classes for text in described.get(c, [])],
    }


def pseudo_labels(described: dict[str, list[str]], classes: list[str]) -> dict[str, list[str]]:
    leaves = [c for c in classes for _ in described.get(c, [])]
    return {"class": list(classes), "leaf": leaves, "leaf+name": leaves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.seed == 0:
        parser.error("seed 0 gives the evaluation's folds: choose on other shuffles")
    items, labels, loose = load(args.data)
    classes = sorted(set(labels.tolist()))
    described = taxonomy(args.data)
    docs, names = pseudo_documents(described, classes), pseudo_labels(described, classes)
    started = time.perf_counter()
    folds = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(
        np.zeros(len(labels)), labels
    ):
        features = Features(min_df=2).fit([*[items[i] for i in train], *loose])
        extra = {kind: features.transform(d) for kind, d in docs.items()}
        x_train = features.transform([items[i] for i in train])
        folds.append((train, test, x_train, features.transform([items[i] for i in test]), extra))
    print(f"features of 5 folds, seed {args.seed}: {time.perf_counter() - started:.0f} s")
    for name, candidate in CANDIDATES.items():
        f1, top3 = evaluate(candidate, folds, labels, names)
        print(f"  {f1:.4f} macro-F1 · {top3:.4f} top-3  {name}", flush=True)


def evaluate(
    candidate: Candidate,
    folds: list[tuple[Any, Any, csr_matrix, csr_matrix, dict[str, csr_matrix]]],
    labels: np.ndarray[Any, Any],
    names: dict[str, list[str]],
) -> tuple[float, float]:
    predicted = np.empty(len(labels), dtype=object)
    in_top3 = np.zeros(len(labels), dtype=bool)
    for train, test, x_train, x_test, extra in folds:
        y_train = labels[train]
        if "pseudo" in candidate:
            x_train = csr_matrix(vstack([x_train, extra[candidate["pseudo"]]]))
            y_train = np.concatenate([y_train, names[candidate["pseudo"]]])
        svm = LinearSVC(C=candidate.get("C", 1.0), class_weight="balanced")
        model = CalibratedClassifierCV(
            svm, cv=3, method="sigmoid", ensemble=candidate.get("ensemble", True)
        ).fit(x_train, y_train)
        scores = model.predict_proba(x_test)
        if "nb" in candidate:
            bayes = ComplementNB(alpha=candidate["nb"]).fit(x_train, y_train)
            scores = (scores + bayes.predict_proba(x_test)) / 2
        order = np.argsort(-scores, axis=1)
        predicted[test] = model.classes_[order[:, 0]]
        in_top3[test] = [
            labels[i] in model.classes_[o[:3]] for i, o in zip(test, order, strict=True)
        ]
    f1 = float(f1_score(labels, predicted.astype(str), average="macro"))
    return f1, float(in_top3.mean())


if __name__ == "__main__":
    main()
