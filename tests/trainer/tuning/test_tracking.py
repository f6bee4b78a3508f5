import sys

import pytest

from trainer.errors import ConfigError
from trainer.tuning.options import TuneOptions
from trainer.tuning.tracking import mlflow_callback


def test_callback_creates_the_experiment_in_the_store(tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="the test extra installs mlflow-skinny")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    callback = mlflow_callback(store, "charloom-tune-x")
    assert type(callback).__name__ == "MLflowLoggerCallback"
    assert (
        mlflow.MlflowClient(tracking_uri=store).get_experiment_by_name("charloom-tune-x")
        is not None
    )
    mlflow_callback(store, "charloom-tune-x")  # an existing experiment is reused


def test_a_store_that_does_not_answer_fails_before_the_search(tmp_path):
    pytest.importorskip("mlflow", reason="the test extra installs mlflow-skinny")
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match="--mlflow-tracking-uri sqlite:///.*a-file"):
        mlflow_callback(f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}", "x")


def test_without_mlflow_installed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"needs MLflow: pip install 'charloom\[mlflow\]'"):
        mlflow_callback("sqlite:///x.db", "x")


def test_a_tracking_uri_must_be_a_uri():
    with pytest.raises(ConfigError, match="--mlflow-tracking-uri must be a URI"):
        TuneOptions(corpus="shakespeare", mlflow_tracking_uri="mlflow.db")
    assert TuneOptions(
        corpus="shakespeare", mlflow_tracking_uri="http://mlflow:5000"
    ).mlflow_tracking_uri
