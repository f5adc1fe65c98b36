"""A circuit breaker per webhook, so a dead endpoint cannot hold the worker's slots.

After ``threshold`` (5) retryable failures in a row a webhook's breaker opens for ``cooldown``
seconds (30, doubling on each failed trial up to 300). While open, its lanes are handed back
until the cooldown ends, without a request and without counting an attempt (their retry window
still runs). Then one trial delivery goes through: success closes the breaker, failure opens it
again. The state is per worker process (each worker learns on its own; no Redis round trip).
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 5
COOLDOWN_S = 30.0
MAX_COOLDOWN_S = 300.0
TRIAL_S = 15.0


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    cooldown: float = COOLDOWN_S
    trial_until: float = 0.0


class Breakers:
    def __init__(self, threshold: int = THRESHOLD, cooldown: float = COOLDOWN_S) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._states: dict[str, _State] = {}

    def blocked_until(self, webhook_id: str, now: float) -> float | None:
        """None when a delivery may go now; else when to come back."""
        state = self._states.get(webhook_id)
        if state is None or state.failures < self.threshold:
            return None
        if now < state.open_until:
            return state.open_until
        if now < state.trial_until:
            return state.trial_until  # a trial is in flight
        state.trial_until = now + TRIAL_S
        return None

    def success(self, webhook_id: str) -> None:
        self._states.pop(webhook_id, None)

    def failure(self, webhook_id: str, now: float) -> None:
        state = self._states.setdefault(webhook_id, _State(cooldown=self.cooldown))
        state.failures += 1
        if state.failures < self.threshold:
            return
        if state.open_until:  # a failed trial: open again, for longer
            state.cooldown = min(state.cooldown * 2, MAX_COOLDOWN_S)
        state.open_until = now + state.cooldown
        state.trial_until = 0.0

    def open_count(self, now: float) -> int:
        return sum(
            1
            for s in self._states.values()
            if s.failures >= self.threshold and (now < s.open_until or now < s.trial_until)
        )
