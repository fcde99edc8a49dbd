"""placeholder"""
import click


@click.command("load")
def load() -> None:
    """Load benchmark."""
