"""``dagster-daemon`` with the backfill loop polling every few seconds instead of every 30.

Automation submits its runs as asset backfills, and Dagster's backfill daemon sleeps a hard-coded
30 s between iterations (``DEFAULT_DAEMON_INTERVAL_SECONDS``, not a dagster.yaml setting in
1.13). Each dependent step of the live tests then waits up to 30 s for its turn (raw, then
labels, then scores: about 40 s of waiting per scored day), which tests nothing. The daemons are
the real ones, in one process as ``dagster-daemon run`` has them; only that sleep is shorter.
Deployments keep Dagster's 30 s.

    python -m pdm_assets_tests.e2e.quick_daemon run -w workspace.yaml
"""

import sys

BACKFILL_INTERVAL_SECONDS = 3
DAGSTER_INTERVAL_SECONDS = 30


def main() -> int:
    import dagster._daemon.controller as controller
    from dagster._daemon.cli import main as daemon_main

    # The constant is private: fail loudly if a Dagster upgrade moves or changes it.
    if controller.DEFAULT_DAEMON_INTERVAL_SECONDS != DAGSTER_INTERVAL_SECONDS:
        raise RuntimeError(
            "dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS is "
            f"{controller.DEFAULT_DAEMON_INTERVAL_SECONDS!r}, not {DAGSTER_INTERVAL_SECONDS}: "
            "check how this Dagster version paces its backfill daemon"
        )
    # The backfill loop imports the name when it starts, after this assignment.
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_SECONDS
    sys.argv[0] = "dagster-daemon"
    return daemon_main()


if __name__ == "__main__":
    sys.exit(main())
