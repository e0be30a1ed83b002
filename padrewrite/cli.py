"""The `padrewrite` command: parse, call the library, render, exit code."""

from __future__ import annotations

import click

from padrewrite import __version__


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="padrewrite")
def main():
    """Rewrite 'same'/'causal' convolutions of a Keras model to explicit padding."""
