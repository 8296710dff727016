"""Chaos and fuzz testing: a reference model written independently of service/, and generators."""
