"""previz-plugin: fill the placeholder shots of an OpenTimelineIO edit with AI-generated previz clips.

`import previz_plugin` never imports torch; training lives in `previz_plugin.train` and needs the
`train` extra.
"""

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

__all__ = [
    "EncodeError",
    "ModelError",
    "PrevizError",
    "ShotSpecError",
    "SynthesisError",
    "TimelineError",
    "TrainingError",
    "UsageError",
    "__version__",
]
