"""The only code that talks to MongoDB: the store, its documents and codec, fence epochs,
the gateway's reads, and the command log's expiry with its policy."""
