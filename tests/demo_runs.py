"""The demo data's position run, finished: breaks to work on in tests of every door."""

from reconciliation.demo import data as demo_data
from reconciliation.models import Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs


def finished_position_run(ids: dict[str, int] | None = None) -> Run:
    """Run book balances against Kraken's ledgers and return the run finished.

    `ids`: the demo datasets' ids when the caller loaded them (else they are loaded here).
    """
    ids = ids or demo_data.load()
    run = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    run_execution.execute_run(run.pk)
    return Run.objects.get(pk=run.pk)
