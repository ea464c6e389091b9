"""placeholder"""
import typer
app = typer.Typer(help="Household registry: build, validate and inspect.")
@app.command()
def info() -> None:
    """x."""

