"""previz-plugin: fill the placeholder shots of an OpenTimelineIO edit with AI-generated previz clips.

`import previz_plugin` never imports torch; training lives in `previz_plugin.train` and needs the
`train` extra.
"""

from typing import TYPE_CHECKING

from .errors import (
    EncodeError,
    ModelError,
    PrevizError,
    ShotSpecError,
    SynthesisError,
    TimelineError,
    TrainingError,
    UsageError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use (below)
    from .pipeline import FillOptions, FillReport, ScanReport, fill, scan

_PIPELINE_NAMES = ("FillOptions", "FillReport", "ScanReport", "fill", "scan")


def __getattr__(name: str) -> object:
    # The fill API loads on first use, so importing the package (as OTIO's plugin loader does) stays
    # cheap: no onnxruntime, PyAV or OTIO adapters until something is filled.
    if name in _PIPELINE_NAMES:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'previz_plugin' has no attribute {name!r}")

__all__ = [
    "EncodeError",
    "FillOptions",
    "FillReport",
    "ModelError",
    "PrevizError",
    "ScanReport",
    "ShotSpecError",
    "SynthesisError",
    "TimelineError",
    "TrainingError",
    "UsageError",
    "__version__",
    "fill",
    "scan",
]
