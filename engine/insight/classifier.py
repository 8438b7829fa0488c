"""The category classifier: learned from a deployment's own cases, or seeded from its categories.

Pure: texts and labels in, a model out; no database. The learned model reads character 1–3-grams
of the case document, jieba words, and the title's own character n-grams (TF-IDF fitted on every
text at hand, labelled or not), and scores with linear SVMs calibrated by cross-validation
(sigmoid), so a score is a probability an operator can read. A category's subcategories (the
names down to each leaf of the category tree, with its keywords) are learned as short examples
of it: they name the kinds of case it holds that its history may not show yet.
``bench/insight_eval.py`` measures why this and not a plain TF-IDF + LinearSVC.

A deployment with no history starts from its category names and keywords (``SeedModel``).
"""

from __future__ import annotations

import io
import pickle
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.insight.text import cached_words, document, normalise

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer

# numpy, scipy and scikit-learn are imported inside the functions that learn and score: the API
# and the workers import this module for ``Item`` and ``Scorer``, and those libraries cost over
# 100 MB and seconds at start in every process that never suggests a category.

# A class needs this many examples to be learned; rarer ones are left to the seed model.
MIN_PER_CLASS = 3
FOLDS = 5
SEED = 0


@dataclass(frozen=True, slots=True)
class Item:
    """One case's text as the classifier sees it."""

    title: str
    description: str = ""


class Scorer(Protocol):
    labels: list[str]
    calibrated: bool

    def scores(self, items: Sequence[Item]) -> np.ndarray[Any, Any]: ...


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class Features:
    """Character n-grams of the document, its words, and the title's character n-grams."""

    def __init__(self, *, min_df: int = 1) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.chars = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=min_df,
            max_features=300_000, dtype=np.float32,
        )  # fmt: skip
        self.words = TfidfVectorizer(
            analyzer=_identity, sublinear_tf=True, min_df=min_df, dtype=np.float32
        )
        self.titles = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32
        )

    @staticmethod
    def _parts(items: Sequence[Item]) -> tuple[list[str], list[list[str]], list[str]]:
        docs = [document(i.title, i.description) for i in items]
        return docs, [cached_words(d) for d in docs], [normalise(i.title) for i in items]

    def fit(self, items: Sequence[Item]) -> Features:
        docs, tokens, titles = self._parts(items)
        self.chars.fit(docs)
        self.words.fit(tokens)
        self.titles.fit(titles)
        return self

    def transform(self, items: Sequence[Item]) -> csr_matrix:
        from scipy.sparse import csr_matrix, hstack

        docs, tokens, titles = self._parts(items)
        parts = [
            self.chars.transform(docs),
            self.words.transform(tokens),
            self.titles.transform(titles),
        ]
        return csr_matrix(hstack(parts, format="csr"))


def _classifier(counts: Counter[str]) -> CalibratedClassifierCV:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    folds = max(2, min(3, min(counts.values())))
    return CalibratedClassifierCV(
        LinearSVC(C=1.0, class_weight="balanced"), cv=folds, method="sigmoid"
    )


@dataclass
class LearnedModel:
    """Features fitted on every text at hand; a calibrated linear classifier on the labelled."""

    features: Features
    classifier: CalibratedClassifierCV
    labels: list[str]
    calibrated: bool = True

    def scores(self, items: Sequence[Item]) -> np.ndarray[Any, Any]:
        """Rows of probabilities, one column per label (``labels``)."""
        import numpy as np

        return np.asarray(self.classifier.predict_proba(self.features.transform(items)))


def learnable(labels: Sequence[str]) -> set[str]:
    """Labels with enough examples to learn."""
    return {label for label, n in Counter(labels).items() if n >= MIN_PER_CLASS}


def fit(
    items: Sequence[Item],
    labels: Sequence[str],
    *,
    unlabelled: Sequence[Item] = (),
    described: Mapping[str, Sequence[str]] | None = None,
) -> LearnedModel:
    """Learn from the labelled items (labels with too few examples are left out); ``described``
    gives a label's subcategory texts (``subcategory_texts``), each one more example of it."""
    keep = learnable(labels)
    if len(keep) < 2:
        raise ValueError(
            f"need at least two categories with {MIN_PER_CLASS} or more cases each to learn"
        )
    pairs = [(i, y) for i, y in zip(items, labels, strict=True) if y in keep]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    features = Features(min_df=2 if len(xs) + len(unlabelled) >= 2000 else 1)
    features.fit([*xs, *unlabelled])
    # The vocabulary comes from cases only: a subcategory's name adds examples, not words.
    extra = [
        (Item(text), label) for label in sorted(keep) for text in (described or {}).get(label, ())
    ]
    xs, ys = [*xs, *(e[0] for e in extra)], [*ys, *(e[1] for e in extra)]
    classifier = _classifier(Counter(ys))
    classifier.fit(features.transform(xs), ys)
    return LearnedModel(features, classifier, [str(c) for c in classifier.classes_])


@dataclass
class SeedModel:
    """A cold start: each category is the document of its names and keywords."""

    vectoriser: TfidfVectorizer
    matrix: csr_matrix
    labels: list[str]
    calibrated: bool = False

    def scores(self, items: Sequence[Item]) -> np.ndarray[Any, Any]:
        """Cosine similarity to each category's document, normalised to sum to one (or zeros)."""
        import numpy as np

        query = self.vectoriser.transform([document(i.title, i.description) for i in items])
        sims = np.asarray((query @ self.matrix.T).todense())
        totals = sims.sum(axis=1, keepdims=True)
        out: np.ndarray[Any, Any] = np.divide(
            sims, totals, out=np.zeros_like(sims), where=totals > 0
        )
        return out


def seed(documents: dict[str, str]) -> SeedModel:
    """A seed model from ``{label: names and keywords}``."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not documents:
        raise ValueError("no categories to seed a model from")
    labels = sorted(documents)
    vectoriser = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True)
    matrix = vectoriser.fit_transform([normalise(documents[k]) for k in labels])
    return SeedModel(vectoriser, csr_matrix(matrix), labels)


def top(model: Scorer, items: Sequence[Item], k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` best labels of each item with their scores, best first (zero scores dropped)."""
    import numpy as np

    scores = model.scores(items)
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([(model.labels[j], round(float(row[j]), 4)) for j in order if row[j] > 0])
    return out


@dataclass
class Metrics:
    """Cross-validated quality of a model (stratified folds; per-class F1)."""

    samples: int
    folds: int
    macro_f1: float
    accuracy: float
    top3_accuracy: float
    per_class: dict[str, float] = field(default_factory=dict)
    support: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples, "folds": self.folds, "macro_f1": self.macro_f1,
            "accuracy": self.accuracy, "top3_accuracy": self.top3_accuracy,
            "per_class": self.per_class, "support": self.support,
        }  # fmt: skip


def subcategory_texts(paths: Sequence[Sequence[tuple[str, str]]]) -> dict[str, list[str]]:
    """For each category on the tree's root-to-leaf paths, the texts of the names below it down
    to each leaf. A path is a list of (category key, its text: name and keywords):
    ``[[("C", "城乡建设"), ("C1", "安全生产"), ("C11", "事故处理")]]`` →
    ``{"C": ["安全生产 事故处理"], "C1": ["事故处理"]}``."""
    out: dict[str, list[str]] = {}
    for path in paths:
        for depth in range(len(path) - 1):
            out.setdefault(path[depth][0], []).append(" ".join(t for _, t in path[depth + 1 :]))
    return out


def cross_validate(
    items: Sequence[Item],
    labels: Sequence[str],
    *,
    unlabelled: Sequence[Item] = (),
    described: Mapping[str, Sequence[str]] | None = None,
    folds: int = FOLDS,
) -> Metrics:
    """Macro-F1, accuracy and top-3 accuracy by stratified k-fold cross-validation (the
    subcategory texts join every training fold, never a test fold)."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    keep = learnable(labels)
    pairs = [(i, y) for i, y in zip(items, labels, strict=True) if y in keep]
    xs, ys = [p[0] for p in pairs], np.array([p[1] for p in pairs])
    counts = Counter(ys.tolist())
    k = min(folds, min(counts.values())) if counts else 0
    if len(counts) < 2 or k < 2:
        raise ValueError("too few labelled cases to cross-validate")
    predicted = np.empty(len(ys), dtype=object)
    in_top3 = np.zeros(len(ys), dtype=bool)
    for train, test in StratifiedKFold(k, shuffle=True, random_state=SEED).split(xs, ys):
        model = fit(
            [xs[i] for i in train], ys[train].tolist(), unlabelled=unlabelled, described=described
        )
        ranked = top(model, [xs[i] for i in test], k=3)
        for index, best in zip(test, ranked, strict=True):
            names = [name for name, _ in best]
            predicted[index] = names[0] if names else ""
            in_top3[index] = ys[index] in names
    classes = sorted(counts)
    per_class = f1_score(ys, predicted.astype(str), labels=classes, average=None)
    return Metrics(
        samples=len(ys),
        folds=k,
        macro_f1=round(float(np.mean(per_class)), 4),
        accuracy=round(float(np.mean(predicted.astype(str) == ys)), 4),
        top3_accuracy=round(float(in_top3.mean()), 4),
        per_class={c: round(float(f), 4) for c, f in zip(classes, per_class, strict=True)},
        support={c: int(counts[c]) for c in classes},
    )


def dumps(model: Scorer) -> bytes:
    """The model as bytes, to store with its version (never committed, never downloaded)."""
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def loads(blob: bytes) -> Scorer:
    """A model stored by ``dumps`` (our own database's bytes only)."""
    model = pickle.loads(blob)  # written by this program into its own database
    if not hasattr(model, "scores"):
        raise ValueError("stored model is not a category model")
    return model  # type: ignore[no-any-return]
