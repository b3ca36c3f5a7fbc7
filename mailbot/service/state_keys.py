"""The keys of the bot_state table: one home for every name the desk keeps state under."""

from __future__ import annotations

# The pass (service/intake.py); `health` calls the desk stale when this is older than 3 poll intervals.
LAST_POLL = "last_successful_poll"
# The outbox's breakers (service/outbox.py), shown by `status`.
PAUSED_SINCE = "sending_paused_since"
PAUSE_REASON = "sending_paused_reason"  # the breaker's reason, for `status`
THROTTLED = "send_throttled"  # JSON {"at", "rate"}: when the SMTP server last slowed us down, to what pace
LEADER_CLAIM = "leader_claim"  # the replies the pass-runner claimed last (see intake.release_orphaned_claim)
# The watchdog's memory (service/watchdog.py): a restart must neither repeat nor forget an alert.
FAILURES = "watchdog_failures"  # failed passes in a row
FAILING_SINCE = "watchdog_failing_since"  # when the first of them ended
LAST_ERROR = "watchdog_last_error"  # one line: why the last pass failed
SMTP_ERROR = "watchdog_smtp_error"  # replies could not be sent; cleared by the next accepted reply
ALERT_SENT = "watchdog_alert_sent"  # JSON: the outage the admins were told about (until "recovered" went out)
