"""What report builds tell the apps built on them (which reports never imports).

`report_failed(report_id=...)` is sent once a build has failed, after the transaction that
ended it commits: notifications tell whoever asked for the report.
"""

from django.dispatch import Signal

report_failed = Signal()
