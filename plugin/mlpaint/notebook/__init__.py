"""mlpaint in Jupyter: ``Explorer`` and ``Paint`` widgets, scoring in the kernel, figures.

Needs the ``notebook`` extra: ``pip install "mlpaint[notebook]"``.
"""

from mlpaint.notebook.scoring import Reading, read_digit, read_drawing, uncertainty
from mlpaint.notebook.widgets import Explorer, Paint

__all__ = ["Explorer", "Paint", "Reading", "read_digit", "read_drawing", "uncertainty"]
