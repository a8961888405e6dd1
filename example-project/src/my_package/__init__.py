"""An example package whose wheel and sdist hatch-sigstore signs as they are built."""

__all__ = ["greet"]


def greet(name: str = "world") -> str:
    return f"Hello, {name}!"
