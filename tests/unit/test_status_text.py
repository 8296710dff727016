"""How `badges status` renders a status on a terminal (the reading: tests/integration/
test_status.py)."""

from __future__ import annotations

from service.cli.commands import status_lines
from service.cli.status import NOT_READY, Member, PartitionLag, Readiness, Status


def test_text_aligns_the_tables_and_says_what_is_missing() -> None:
    found = Status(
        group="badges-worker", state="Stable",
        members=[Member("faust-1-abc", "faust-1", "/10.0.0.7",
                        {"badges.claims": [0], "badges-worker-__assignor-__leader": [0]})],
        partitions=[PartitionLag("badges.claims", 0, 1200, 1250, 50),
                    PartitionLag("badges.claims", 1, None, 7, 7)],
        missing_topics=["badges.other"],
        worker=Readiness("http://w:8081", NOT_READY, {"missing": {"kafka": "down"}}))
    lines = status_lines(found)
    assert lines[0] == ("Consumer group badges-worker: Stable, 1 member(s), "
                        "1 of 2 command partitions assigned")
    table = lines[lines.index("") + 1:][:3]
    assert table == ["TOPIC          PARTITION  COMMITTED  END   LAG",
                     "badges.claims  0          1200       1250  50",
                     "badges.claims  1          -          7     7"]
    assert "Total lag: 57" in lines and "Missing topic: badges.other" in lines[-2]
    assert lines[-1] == 'Worker http://w:8081: not ready {"missing": {"kafka": "down"}}'
    assert found.to_json()["total_lag"] == 57
