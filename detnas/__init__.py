"""detnas: search object-detection architectures that stock Ultralytics builds as they are."""

__version__ = "0.1.0"
