"""The REST gateway: the Badges API's HTTP calls, answered through Kafka and the worker.

`python -m service gateway` serves, with HTTP Basic auth (`auth`, `users`):
POST .../badgeMeta/{badgeId}/claim|unclaim, POST .../group, POST .../group/{groupId}
(each becomes a command published with the client, its result awaited: `commands`), and
GET .../group/{groupId} (read from MongoDB); plus /healthz, /readyz, /metrics (`ops`).
"""
