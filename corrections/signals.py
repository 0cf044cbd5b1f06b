"""What corrections tell the apps built on them (which corrections never imports).

`proposals_made(run_id=...)` is sent once a run's automatic corrections have been proposed
(corrections/jobs.py), after that commits: notifications tell who may approve those waiting.
"""

from django.dispatch import Signal

proposals_made = Signal()
