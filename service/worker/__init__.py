"""The worker: the Faust app, its batch pipeline and handler, its runtime, restart and stop
bound, its health checks, HTTP endpoints and metrics."""
