"""Alert ids: OnCall-shaped (``A`` + 12 of its alphabet), unique, never repeated across a fork."""

from __future__ import annotations

import os
import re

from ingest import ids


def test_alert_ids_are_oncall_shaped_and_unique() -> None:
    made = [ids.alert_id() for _ in range(50_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"A[A-NP-Z1-9]{12}", a) for a in made)
    assert re.fullmatch(r"A[A-NP-Z1-9]{20}", ids.alert_id(ids.MAX_ID_LENGTH))


def test_alert_id_characters_are_uniform() -> None:
    text = "".join(ids.alert_id()[1:] for _ in range(20_000))  # 240k characters, ~7k each
    counts = [text.count(c) for c in ids.PUBLIC_ID_ALPHABET]
    expected = len(text) / len(ids.PUBLIC_ID_ALPHABET)
    assert all(abs(n - expected) < 0.1 * expected for n in counts), counts


def test_a_forked_child_draws_fresh_randomness() -> None:
    ids.alert_id()  # the parent's pool now holds unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: write five ids and leave at once
        os.close(read)
        os.write(write, ",".join(ids.alert_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    child = set(os.read(read, 4096).decode().split(","))
    os.close(read)
    os.waitpid(pid, 0)
    parent = {ids.alert_id() for _ in range(5)}
    assert len(child) == 5 and not child & parent
