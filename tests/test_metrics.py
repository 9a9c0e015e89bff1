"""fibril.metrics against scikit-learn on seeded random cases (skipped without it), plus
hand-computed cases and bad input."""

import numpy as np
import pytest

import fibril
from fibril import metrics as M

try:
    import sklearn.metrics as skm
except ImportError:
    skm = None
needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn is not installed")

SEEDS = range(8)


def labels(seed, n=60, classes=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), rng.integers(0, classes, n)


def scores(seed, n=60, classes=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.standard_normal((n, classes)) + np.eye(classes)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


@pytest.mark.parametrize("seed", SEEDS)
@needs_sklearn
def test_accuracy_and_confusion_matrix(seed):
    y, p = labels(seed)
    assert M.accuracy_score(y, p) == skm.accuracy_score(y, p)
    assert M.accuracy_score(y, p, normalize=False) == skm.accuracy_score(y, p, normalize=False)
    np.testing.assert_array_equal(M.confusion_matrix(y, p), skm.confusion_matrix(y, p))
    for norm in ("true", "pred", "all"):
        np.testing.assert_allclose(M.confusion_matrix(y, p, normalize=norm), skm.confusion_matrix(y, p, normalize=norm))
    np.testing.assert_array_equal(M.confusion_matrix(y, p, labels=[3, 1]), skm.confusion_matrix(y, p, labels=[3, 1]))


@needs_sklearn
def test_accuracy_takes_tensors_and_scores():
    y, p = scores(0)
    assert M.accuracy(fibril.tensor(y), fibril.tensor(p.astype(np.float32))) == skm.accuracy_score(y, p.argmax(1))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 2, 3])
@needs_sklearn
def test_top_k_accuracy(seed, k):
    y, p = scores(seed)
    assert M.top_k_accuracy_score(y, p, k=k) == pytest.approx(skm.top_k_accuracy_score(y, p, k=k))


@needs_sklearn
def test_top_k_accuracy_breaks_ties_like_sklearn():
    y = np.array([0, 1, 2, 2])
    s = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.3, 0.3, 0.3], [0.1, 0.1, 0.8]])
    assert M.top_k_accuracy_score(y, s, k=1) == skm.top_k_accuracy_score(y, s, k=1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@needs_sklearn
def test_precision_recall_f1_multiclass(seed, average):
    y, p = labels(seed, n=25, classes=5)  # small: some classes go unpredicted (zero division)
    for ours, theirs in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score),
                         (M.f1_score, skm.f1_score)]:
        np.testing.assert_allclose(ours(y, p, average=average, zero_division=0),
                                   theirs(y, p, average=average, zero_division=0))
    np.testing.assert_allclose(M.fbeta_score(y, p, beta=0.5, average=average, zero_division=1.0),
                               skm.fbeta_score(y, p, beta=0.5, average=average, zero_division=1.0))


@pytest.mark.parametrize("seed", SEEDS)
@needs_sklearn
def test_precision_recall_f1_binary(seed):
    y, p = labels(seed, classes=2)
    for ours, theirs in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score),
                         (M.f1_score, skm.f1_score)]:
        assert ours(y, p) == pytest.approx(theirs(y, p))
        assert ours(y, p, pos_label=0) == pytest.approx(theirs(y, p, pos_label=0))


def test_zero_division_warns_and_gives_zero():
    with pytest.warns(RuntimeWarning, match="ill-defined"):
        assert M.precision_score([0, 1, 1], [0, 0, 0]) == 0.0


@pytest.mark.parametrize("seed", SEEDS)
@needs_sklearn
def test_classification_report_text_and_dict(seed):
    y, p = labels(seed)
    assert M.classification_report(y, p, zero_division=0) == skm.classification_report(y, p, zero_division=0)
    names = ["zero", "one", "two", "three"]
    assert M.classification_report(y, p, target_names=names, digits=4, zero_division=0) == \
        skm.classification_report(y, p, target_names=names, digits=4, zero_division=0)
    ours = M.classification_report(y, p, output_dict=True, zero_division=0)
    theirs = skm.classification_report(y, p, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key == "accuracy":
            assert ours[key] == pytest.approx(theirs[key])
        else:
            assert ours[key] == pytest.approx(theirs[key])
    assert M.classification_report(y, p, labels=[0, 1], zero_division=0) == \
        skm.classification_report(y, p, labels=[0, 1], zero_division=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("drop", [True, False])
@needs_sklearn
def test_roc_curve(seed, drop):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.random(80) + 0.3 * y, 1)  # rounded: tied scores
    for a, b in zip(M.roc_curve(y, s, drop_intermediate=drop), skm.roc_curve(y, s, drop_intermediate=drop)):
        np.testing.assert_allclose(a, b)
    assert M.roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert M.roc_auc_score(fibril.tensor(y), fibril.tensor(s)) == pytest.approx(skm.roc_auc_score(y, s))
    y_pm = np.where(y == 1, 1, -1)
    assert M.roc_auc_score(y_pm, s) == pytest.approx(skm.roc_auc_score(y_pm, s))
    assert M.auc(*M.roc_curve(y, s)[:2]) == pytest.approx(skm.auc(*skm.roc_curve(y, s)[:2]))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", ["macro", "weighted"])
@needs_sklearn
def test_roc_auc_one_vs_rest(seed, average):
    y, p = scores(seed)
    assert M.roc_auc_score(y, p, multi_class="ovr", average=average) == \
        pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average=average))


@pytest.mark.parametrize("seed", SEEDS)
@needs_sklearn
def test_regression(seed):
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    for mo in ("raw_values", "uniform_average"):
        np.testing.assert_allclose(M.mean_squared_error(y, p, multioutput=mo), skm.mean_squared_error(y, p, multioutput=mo))
        np.testing.assert_allclose(M.mean_absolute_error(y, p, multioutput=mo),
                                   skm.mean_absolute_error(y, p, multioutput=mo))
    for mo in ("raw_values", "uniform_average", "variance_weighted"):
        np.testing.assert_allclose(M.r2_score(y, p, multioutput=mo), skm.r2_score(y, p, multioutput=mo))
    assert M.r2_score(y[:, 0], p[:, 0]) == pytest.approx(skm.r2_score(y[:, 0], p[:, 0]))
    const = np.ones(10)
    assert M.r2_score(const, const) == skm.r2_score(const, const) == 1.0
    assert M.r2_score(const, const + 1) == skm.r2_score(const, const + 1) == 0.0


@pytest.mark.parametrize("dtype", [fibril.float16, fibril.bfloat16])
def test_16_bit_float_tensors(dtype):
    y = fibril.tensor([0, 1, 1])
    scores = fibril.tensor([[0.6, 0.4], [0.2, 0.8], [0.7, 0.3]]).to(dtype)
    assert M.accuracy_score(y, scores) == pytest.approx(2 / 3)
    assert M.roc_auc_score(y, scores[:, 1]) == 0.5  # positives scored 0.8 and 0.3, the negative 0.4
    assert M.mean_squared_error(fibril.tensor([1.0, 2.0]).to(dtype), fibril.tensor([1.5, 2.0])) == 0.125


def test_top_k_accuracy_binary_scores_threshold_as_sklearn():
    # probabilities (all in [0, 1]) predict class 1 above 0.5, other scores above 0
    assert M.top_k_accuracy_score([0, 1, 0, 1], [0.3, 0.8, 0.1, 0.6], k=1) == 1.0
    assert M.top_k_accuracy_score([0, 1], [0.5, 0.5], k=1) == 0.5
    assert M.top_k_accuracy_score([0, 1, 1], [0.2, -0.1, 1.5], k=1) == pytest.approx(1 / 3)
    assert M.top_k_accuracy_score([0, 1, 1], [0.2, -0.1, 1.5], k=2) == 1.0


def test_zero_division_nan_is_left_out_of_averages():
    y_true, y_pred = [0, 1, 2, 2], [0, 1, 1, 1]  # label 2 is never predicted: its precision is 0/0
    nan = np.nan
    np.testing.assert_allclose(M.precision_score(y_true, y_pred, average=None, zero_division=nan), [1, 1 / 3, nan])
    for average in ("macro", "weighted"):  # the weights (support 1, 1, 2) of the defined values are equal
        assert M.precision_score(y_true, y_pred, average=average, zero_division=nan) == pytest.approx(2 / 3)
    assert M.f1_score(y_true, y_pred, average="macro", zero_division=nan) == pytest.approx(0.5)
    assert np.isnan(M.precision_score([0, 0], [1, 1], labels=[0], average="macro", zero_division=nan))


def test_bad_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        M.accuracy_score([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="at least one sample"):
        M.accuracy_score([], [])
    with pytest.raises(ValueError, match="multiclass but average='binary'"):
        M.f1_score([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="average has to be one of"):
        M.f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match="Only one class"):
        M.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="probabilities"):
        M.roc_auc_score([0, 1, 2], np.eye(3) * 2, multi_class="ovr")
    with pytest.raises(ValueError, match="differ"):
        M.mean_squared_error([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="target_names"):
        M.classification_report([0, 1], [0, 1], target_names=["a"])
