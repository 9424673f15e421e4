"""What operators watch: Prometheus series, pool gauges, readiness."""
