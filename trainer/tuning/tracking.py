"""Optional experiment tracking: every trial's config and metrics logged to MLflow through Ray
Tune's own integration (`ray.air.integrations.mlflow.MLflowLoggerCallback`), one MLflow run per
trial in an MLflow experiment named after the tuning experiment."""

from __future__ import annotations

import logging

from trainer.errors import ConfigError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'charloom[mlflow]' (or mlflow-skinny)"


def mlflow_callback(tracking_uri: str, experiment_name: str):
    """Ray Tune's MLflow logger for ``tracking_uri``, after checking that MLflow is installed and
    the store answers (a wrong URI fails here, before any trial runs, not after the search)."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"--mlflow-tracking-uri needs MLflow: {INSTALL_HINT}") from None
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if client.get_experiment_by_name(experiment_name) is None:
            client.create_experiment(experiment_name)
    except (
        Exception
    ) as exc:  # any failure of this probe (store, driver, network) makes the URI unusable
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise ConfigError(f"--mlflow-tracking-uri {tracking_uri}: {detail}") from None
    logger.info("logging trials to MLflow at %s, experiment %s", tracking_uri, experiment_name)
    return MLflowLoggerCallback(
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        tags={"charloom.experiment": experiment_name},
        save_artifact=False,
    )
