"""mlpaint: machine learning inside SQL, shown on handwritten digits."""

__version__ = "0.1.0"
