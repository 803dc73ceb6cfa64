"""pitcrew: connects drivers with remote mechanics."""

__version__ = "0.1.0"
