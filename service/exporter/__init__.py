"""The lag exporter: the workers' consumer-group lag from the broker, for Prometheus."""
