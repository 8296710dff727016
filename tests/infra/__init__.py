"""Throwaway Kafka and MongoDB-protocol servers for the integration tests."""
