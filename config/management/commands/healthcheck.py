"""Health from the command line (container health checks, cron): exit 0 when up, 1 when not.

manage.py healthcheck [--json]        database, broker and any worker (as /healthz)
manage.py healthcheck --broker        only the broker
manage.py healthcheck --this-worker   the worker on this host has a fresh heartbeat
"""

import json
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import health


class Command(BaseCommand):
    help = "Check the database, the broker and the workers; exit 1 if one is down."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        only = parser.add_mutually_exclusive_group()
        only.add_argument("--broker", action="store_true", help="check only the broker")
        only.add_argument(
            "--this-worker",
            action="store_true",
            help="check only the heartbeat of the worker named celery@<this host>",
        )

    def handle(self, *args, **options):
        if options["broker"]:
            checks = [health.check_broker(settings.CELERY_BROKER_URL)]
            body = {"checks": {c.name: c.as_dict() for c in checks}}
            healthy = checks[0].ok
        elif options["this_worker"]:
            check = health.check_worker(
                settings.REDIS_URL,
                settings.WORKER_HEARTBEAT_MAX_AGE,
                hostname=f"celery@{socket.gethostname()}",
            )
            body, healthy = {"checks": {check.name: check.as_dict()}}, check.ok
        else:
            healthy, body = health.collect_health()
        if options["json"]:
            self.stdout.write(json.dumps(body, sort_keys=True))
        else:
            for name, check in body["checks"].items():
                self.stdout.write(f"{name}: {check['status']} ({check['detail']})")
        if not healthy:
            raise CommandError("unhealthy")
