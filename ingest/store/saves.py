"""What the save scripts of records with organization-unique names answer.

Escalation chains and outgoing webhooks are created, renamed (and, for webhooks, deleted) by one
Lua script each, which checks the name and the record's existence and writes in one step. Both
answer one of these codes; the scripts are written with the codes filled in from here, so the Lua
and the Python that reads the answer cannot drift apart.
"""

from __future__ import annotations

from enum import IntEnum


class SaveResult(IntEnum):
    NAME_TAKEN = 0  # another record of the organization has the name: nothing written
    DONE = 1  # written (or deleted)
    ID_USED = 2  # a create drew an id that exists: retry with another
    GONE = 3  # an update or delete found no record: it was deleted meanwhile
