"""The examples reach their stated targets with their fixed seeds (each in seconds)."""

import pathlib
import sys

import pytest

pytest.importorskip("sklearn")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

import autoencoder_digits  # noqa: E402
import cnn_digits  # noqa: E402
import compare_models  # noqa: E402
import mlp_digits  # noqa: E402
import perceptron  # noqa: E402
import run_demo  # noqa: E402


def test_perceptron_separates_the_training_set():
    result = perceptron.main(seed=0, progress=False)
    assert result["train_accuracy"] == perceptron.TARGET_ACCURACY == 1.0
    assert result["history"]["loss"][-1] == 0.0


def test_mlp_digits_reaches_its_target():
    result = mlp_digits.main(seed=0, progress=False)
    assert result["test_accuracy"] >= mlp_digits.TARGET_ACCURACY


def test_cnn_digits_reaches_its_target():
    result = cnn_digits.main(seed=0, progress=False)
    assert result["test_accuracy"] >= cnn_digits.TARGET_ACCURACY


@pytest.mark.slow
def test_autoencoder_beats_its_target_and_pca():
    result = autoencoder_digits.main(seed=0, progress=False)
    assert result["test_mse"] < autoencoder_digits.TARGET_MSE
    assert result["test_mse"] < result["pca_mse"]


@pytest.mark.slow
def test_compare_models_table():
    rows = compare_models.main(seed=0, epochs=3)
    names = [r["model"] for r in rows]
    assert names == ["logistic regression", "MLP", "CNN"]
    assert all(r["test_accuracy"] > 0.85 for r in rows)
    assert "logistic regression" in compare_models.table(rows)


def test_run_demo_prints_metrics_and_saves_the_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    run_demo.main(["--png", str(png), "--epochs", "2"])
    out = capsys.readouterr().out
    assert "macro avg" in out and "confusion matrix" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
