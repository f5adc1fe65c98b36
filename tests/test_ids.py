"""Alert ids: unique, time-sortable, and never repeated across a fork."""

from __future__ import annotations

import os
import re

from ingest import ids


def test_alert_ids_are_unique_and_well_formed() -> None:
    made = [ids.alert_id() for _ in range(50_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"A[0-9A-HJKMNP-TV-Z]{22}", a) for a in made[:1000])


def test_alert_ids_sort_by_millisecond() -> None:
    stamps = [1_700_000_000_000 + n * 7 for n in range(200)]
    made = [ids.alert_id(ms) for ms in stamps]
    assert sorted(made) == made


def test_a_forked_child_draws_fresh_randomness() -> None:
    ids.alert_id(0)  # the parent's pool now holds unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: write five ids and leave at once
        os.close(read)
        os.write(write, ",".join(ids.alert_id(0) for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    child = set(os.read(read, 4096).decode().split(","))
    os.close(read)
    os.waitpid(pid, 0)
    parent = {ids.alert_id(0) for _ in range(5)}
    assert len(child) == 5 and not child & parent
