"""``python -m eqn``: the command line, for machines where another ``eqn`` is on the PATH."""

from eqn.cli import app

app(prog_name="eqn")
