"""The errors previz-plugin raises: one root, a subclass per stage.

    PrevizError                                  anything the tool refuses or cannot do
    +-- UsageError(PrevizError, ValueError)      a bad option value or argument
    +-- TimelineError(PrevizError, ValueError)   an edit that cannot be read or written
    +-- ShotSpecError(PrevizError, ValueError)   a placeholder that cannot become a shot
    +-- ModelError(PrevizError, ValueError)      a model file that breaks the contract
    +-- SynthesisError(PrevizError, RuntimeError) frames that cannot be made
    +-- EncodeError(PrevizError, RuntimeError)   media that cannot be encoded or written
    +-- TrainingError(PrevizError, RuntimeError) training, checkpoint or export failures

Every message says what is wrong and, where it helps, what to do. Errors raised deep inside a stage
carry the shot they concern (`shot`), so the one line the CLI prints names it.
"""

from __future__ import annotations


class PrevizError(Exception):
    """Root of every error previz-plugin raises on purpose."""

    def __init__(self, message: str, *, shot: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.shot = shot

    def with_shot(self, shot: str) -> PrevizError:
        """Return the same error with the shot it concerns attached (the first one set wins)."""
        if self.shot is None:
            self.shot = shot
        return self

    def __str__(self) -> str:
        return f"{self.shot}: {self.message}" if self.shot else self.message


class UsageError(PrevizError, ValueError):
    """A command-line option or API argument has a value the tool cannot use."""


class TimelineError(PrevizError, ValueError):
    """An edit cannot be read, is not a timeline, or cannot be written."""


class ShotSpecError(PrevizError, ValueError):
    """A placeholder cannot be turned into a shot spec (rate, length, class)."""


class ModelError(PrevizError, ValueError):
    """A model file is missing, unreadable or does not meet the model contract."""


class SynthesisError(PrevizError, RuntimeError):
    """Frames could not be generated or prepared for delivery."""


class EncodeError(PrevizError, RuntimeError):
    """A media file could not be encoded or written."""


class TrainingError(PrevizError, RuntimeError):
    """Training, checkpoint loading or export failed."""
