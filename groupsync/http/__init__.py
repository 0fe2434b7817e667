"""The service's HTTP endpoint: liveness, readiness and Prometheus metrics."""
