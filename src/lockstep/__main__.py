"""Run the ``lockstep`` command as ``python -m lockstep``."""

from lockstep.cli.main import run

run()
