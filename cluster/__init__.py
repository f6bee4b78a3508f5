"""Ray cluster configuration: `ray-cluster.yaml` (cluster launcher). Jobs go in with
`ray job submit --working-dir . -- charloom tune ...` (see the README's Tuning section)."""
