"""The generation gateway: the gRPC client of TF Serving that runs the sampling loop for many
requests at once (continuous batching) and serves them over an OpenAI-compatible HTTP API and a
gRPC API of its own. It uses serving/client/ and the contract, never serving/server/ or trainer/.

`config` (its options), `requests` (what a request may say), `jobs`, `rows` and `engine` (the batching),
`upstream` (the model server), `service` (the parts together), `http_api`, `grpc_api`, `errors`,
`metrics`, `server` (the process). The gRPC stubs in `proto/` are generated: `make proto`.
"""
