"""The badge command worker: Kafka commands in, MongoDB state and result events out."""
