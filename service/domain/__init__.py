"""Business decisions: pure functions of (command, current state). No I/O here."""
