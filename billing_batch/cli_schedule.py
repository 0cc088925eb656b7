"""`billing-batch schedule`: the command that stays running (the library is billing_batch/scheduler.py).

cli.py registers it with `main.add_command(schedule)`. The `--config` option is declared here exactly
as `cli.config_option` declares it: a decorator runs when this module is imported, and importing
billing_batch.cli at that moment would be circular once cli.py imports this module (whichever of the
two is imported first). tests/test_scheduler.py checks that the two declarations stay the same.
Everything else (`settings_from`, `fail`, `console`) comes from cli.py, imported inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("config.yaml"), show_default=True,
              help="The office's config.yaml; its folder is the office folder.")
def schedule(config_path: Path) -> None:
    """Stay running and do the nightly job unattended, with early receipts for staff.

    Every night at `schedule.time` in `schedule.timezone` (config.yaml) it does what
    `billing-batch run` does, for that night's business date. When it starts, or the machine wakes
    up, after a missed night (today's time has passed and the ledger's last successful run is
    older), it runs once for today. A daylight-saving change neither skips nor doubles a night.

    Every `schedule.inbox_check_minutes` it checks new or changed files in the inbox the way
    `billing-batch check` does, without posting, and writes a receipt into output/checks/:
    NAME.receipt.txt ("ready for tonight: N rows") and, when rows need fixing, NAME.problems.xlsx.

    A failing night is logged and reported in output/runs/ and the next night runs as usual. It
    never overlaps a manual `run`, and only one scheduler runs per office. Logs:
    logs/billing-batch.log in the office folder. Stop it with Ctrl-C or SIGTERM. To run it as a
    service (systemd, cron, Windows Task Scheduler) see docs/running-unattended.md.
    """
    from billing_batch.cli import console, fail, settings_from
    from billing_batch.scheduler import Scheduler, SchedulerAlreadyRunning, office_logging

    settings = settings_from(config_path)
    with office_logging(settings) as log_path:
        console.print(f"billing-batch schedule: nightly run at {settings.schedule.time} "
                      f"{settings.schedule_tz.key}; logging to {log_path}; Ctrl-C or SIGTERM stops it", style="dim")
        try:
            Scheduler(settings).serve()
        except SchedulerAlreadyRunning as exc:
            fail(str(exc))
        except KeyboardInterrupt:  # a second Ctrl-C: the run in progress, if any, is rolled back
            console.print("stopped at once; a run in progress, if any, was rolled back and runs again next time")
            sys.exit(130)
