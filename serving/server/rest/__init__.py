"""TF Serving's REST API (`--rest-api-port`): model status, metadata and predict as JSON, and the
Prometheus metrics, on one HTTP port (serving/server/rest/server.py)."""
