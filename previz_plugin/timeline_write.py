"""The filled edit -> a file in the format its extension names, written atomically."""

from __future__ import annotations

import os
import pathlib
import secrets
from typing import Any

import opentimelineio as otio

from .errors import PrevizError, TimelineError


def write_timeline(timeline: otio.schema.Timeline, output: pathlib.Path, **adapter_args: Any) -> None:
    """Write the timeline to output atomically (temp file + rename), in the format its extension names."""
    temporary = output.with_name(f".{output.stem}.{secrets.token_hex(4)}.partial{output.suffix}")
    try:
        otio.adapters.write_to_file(timeline, str(temporary), **adapter_args)
        os.replace(temporary, output)
    except PrevizError:
        raise
    except Exception as error:  # adapters raise anything; to the user it is one line
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise TimelineError(f"cannot write {output}: {type(error).__name__}: {detail}") from None
    finally:
        temporary.unlink(missing_ok=True)
