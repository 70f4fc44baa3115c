"""How the daemon copes with a failing Platform API: the pauses between ticks, the back-off after
failed PATCHes, and the wait while a deploy's preboot refuses formation changes.

* A rejected token (401/403) pauses every tick, one interval, then twice as long each time, up to
  :data:`AUTH_BACKOFF_MAX`; it is notified at once.
* Other failures hold the formation as it is; the API client's pause hint (a rate limit running
  low) skips ticks until it has passed.
* After a failed PATCH (other than the preboot pause) the next waits one interval, then twice as
  long each time, up to :data:`PATCH_BACKOFF_MAX`.
* During a deploy of a preboot app Heroku refuses the PATCH for a few minutes: one ``preboot_wait``
  warning, a new try every tick, a notice only after :data:`PREBOOT_NOTIFY_AFTER`.
"""

from __future__ import annotations

from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from autoscaler.clock import Clock
from autoscaler.errors import Forbidden, HerokuError, Unauthorized
from autoscaler.heroku import PrebootLocked
from autoscaler.notify import Alerts

AUTH_BACKOFF_MAX = 900.0
"""Seconds between tries at most while the token is rejected (401/403)."""
PREBOOT_NOTIFY_AFTER = 900.0
"""Seconds Heroku may refuse formation changes during a deploy (release phase and preboot) before
that is notified: a deploy takes a few minutes; a quarter of an hour is unusual."""
PATCH_BACKOFF_MAX = 60.0
"""After failed PATCHes (other than the preboot pause) the next try waits one interval, then
twice as long each time, up to this many seconds: a change Heroku keeps refusing costs at most
two calls a minute."""


class ApiHealth:
    """The Platform API's failures as one daemon sees them, and the waits they impose."""

    def __init__(
        self,
        interval: float,
        clock: Clock,
        log: FilteringBoundLogger,
        alerts: Alerts,
        pause_hint: Callable[[], float],
    ) -> None:
        """``interval``: the daemon's, the unit of every back-off; ``pause_hint``: seconds the API
        client asks to wait before the next call (0 when none)."""
        self.interval = interval
        self.clock = clock
        self.log = log
        self.alerts = alerts
        self.pause_hint = pause_hint
        self._paused_until = 0.0
        self._auth_failures = 0
        self._preboot_since: float | None = None
        self._preboot_told = False
        self._patch_failures = 0
        self._patch_retry_at = 0.0

    # --- ticks ------------------------------------------------------------------------

    def paused(self, start: float) -> bool:
        """True (and the skipped tick logged) while ticks wait: a rejected token, a low rate limit."""
        if start >= self._paused_until:
            return False
        self.log.warning(
            "tick_skipped",
            reason="backing_off" if self._auth_failures else "rate_limit_low",
            message="token rejected: backing off"
            if self._auth_failures
            else "Platform API rate limit running low: skipping this tick",
            resume_in_s=round(self._paused_until - start, 1),
        )
        return True

    def failed(self, exc: HerokuError, event: str) -> None:
        """A call failed: a rejected token backs off and is notified at once; anything else holds."""
        now = self.clock.time()
        if isinstance(exc, Unauthorized | Forbidden):
            self._auth_failures += 1
            pause = min(self.interval * 2**self._auth_failures, AUTH_BACKOFF_MAX)
            self._paused_until = self.clock.monotonic() + pause
            self.log.error(
                "token_rejected",
                error=str(exc),
                retry_in_s=round(pause),
                message="the Platform API refused the token (revoked, expired or lacking scope): "
                "holding the formation; set a new HEROKU_API_KEY",
            )
            self.alerts.failing("Platform API token", str(exc), now, at_once=True)
            return
        self.log.error(event, error=str(exc), message="holding the formation as it is")
        self.alerts.failing("Platform API", str(exc), now)
        self.note_pause()

    def ok(self) -> None:
        """The formation was read: the token works, the API answers."""
        now = self.clock.time()
        self._auth_failures = 0
        self.alerts.recovered("Platform API", now)
        self.alerts.recovered("Platform API token", now)

    def note_pause(self) -> None:
        """Skip ticks for as long as the API client asks."""
        hint = self.pause_hint()
        if hint > 0:
            self._paused_until = self.clock.monotonic() + float(hint)

    # --- PATCHes ----------------------------------------------------------------------

    def may_patch(self) -> bool:
        """False while the next PATCH waits after failed ones (logged at debug level)."""
        wait = self._patch_retry_at - self.clock.monotonic()
        if wait > 0:
            self.log.debug("scale_deferred", retry_in_s=round(wait, 1), message="waiting after failed PATCHes")
        return wait <= 0

    def patch_failed(self) -> None:
        """The next PATCH waits one interval, then twice as long after each failure in a row."""
        self._patch_failures += 1
        wait = min(PATCH_BACKOFF_MAX, self.interval * 2 ** (self._patch_failures - 1))
        self._patch_retry_at = self.clock.monotonic() + wait

    def patch_ok(self) -> None:
        """Heroku accepted a PATCH: no more waiting, and the end of a preboot wait."""
        self._patch_failures, self._patch_retry_at = 0, 0.0
        self.preboot_over(accepted=True)

    def preboot_wait(self, exc: PrebootLocked, changes: list[str]) -> None:
        """Heroku refuses formation changes while a deploy's release phase and preboot run: one warning
        for the whole wait, a try every tick, a notice once it has lasted PREBOOT_NOTIFY_AFTER."""
        now = self.clock.time()
        if self._preboot_since is None:
            self._preboot_since = now
            self.log.warning(
                "preboot_wait",
                changes=changes,
                error=str(exc),
                message="a deploy is in its release phase or preboot: Heroku accepts no formation change "
                "until it completes; trying again every tick",
            )
            return
        waited = now - self._preboot_since
        if waited >= PREBOOT_NOTIFY_AFTER:
            text = f"formation changes refused for {waited / 60:.0f} min: release phase or preboot not complete"
            if not self._preboot_told:
                self._preboot_told = True
                self.log.warning("preboot_wait_long", changes=changes, waited_s=round(waited), message=text)
            self.alerts.condition("preboot_wait", True, text, {"waited_s": round(waited), "changes": changes})

    def preboot_over(self, *, accepted: bool) -> None:
        """The end of a preboot wait: Heroku accepted the change, or no change is wanted any more."""
        if self._preboot_since is None:
            return
        waited = self.clock.time() - self._preboot_since
        self._preboot_since = None
        self._preboot_told = False
        self.alerts.condition("preboot_wait", False, "")
        self.log.info(
            "preboot_over",
            waited_s=round(waited),
            message="Heroku accepted the formation change" if accepted else "no change is wanted any more",
        )
