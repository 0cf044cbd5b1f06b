"""What runs tell the apps built on them (which reconciliation never imports).

`run_succeeded(run_id=...)` is sent once a run has succeeded, after the transaction that ended
it commits: corrections propose the run's automatic corrections on it. `run_failed(run_id=...)`
likewise once a run has failed (notifications tell the rule set's escalation).
"""

from django.dispatch import Signal

run_succeeded = Signal()
run_failed = Signal()
