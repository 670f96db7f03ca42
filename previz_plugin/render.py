"""One shot -> its media file: generate the frames, scale and burn them in, encode them, all in one stream.

Memory stays bounded by the model's chunk whatever the shot's length: frames flow from the runtime through
synthesis into the encoder one chunk at a time.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import unicodedata
from collections.abc import Callable

from . import __version__
from .credentials import Provenance, sign_media, signing_available
from .encode import CodecProfile, MediaInfo, encode_clip
from .frame_synthesis import BurnIn, FrameSynthesizer
from .model_runtime import GeneratorModel
from .printable import burn_in_name, printable
from .provenance import IPTC_TRAINED_ALGORITHMIC_MEDIA, ModelIdentity
from .shot_spec import ShotSpec
from .staging import CONTROL_NAMES

_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def media_file_name(spec: ShotSpec, profile: CodecProfile) -> str:
    """Return a file name from the shot's name and id that cannot leave the media folder."""
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", spec.name)).strip("._")[:60] or "shot"
    return f"{stem}_{spec.shot_id[:8]}{profile.extension}"


def _container_metadata(spec: ShotSpec, model: GeneratorModel) -> dict[str, str]:
    contract = model.contract
    return {
        "title": f"{printable(spec.name)} - AI-generated previz",
        "comment": f"AI-generated previz, not camera footage: {contract.model_name} {contract.model_version}, seed {spec.seed}, class {spec.class_label}",
        "description": "AI-generated placeholder video (trainedAlgorithmicMedia) made by previz-plugin",
        "ai_generated": "true",
        "digital_source_type": IPTC_TRAINED_ALGORITHMIC_MEDIA,
        "model": f"{contract.model_name} {contract.model_version}",
        "model_sha256": model.sha256,
        "seed": str(spec.seed),
        "previz_class": spec.class_label,
        "previz_shot_id": spec.shot_id,
        "previz_staging": _staging_text(spec),
        "encoder_tool": f"previz-plugin {__version__}",
    }


def _staging_text(spec: ShotSpec) -> str:
    staging = spec.staging
    if staging is None:
        return "none"
    return (f"{staging.direction}, speed {staging.speed:g}, count {staging.count}, "
            f"framing {staging.framing:g}, pan {staging.pan:g}")


def render_shot(spec: ShotSpec, model: GeneratorModel, media_path: pathlib.Path, profile: CodecProfile, *, burn_in: bool = True, on_frame: Callable[[], None] | None = None) -> MediaInfo:
    """Generate, scale, burn in and encode one shot's media (handles included) to media_path, atomically."""
    burn = BurnIn(shot_name=burn_in_name(spec.name), timecode_of=spec.timecode) if burn_in else None
    synthesizer = FrameSynthesizer(spec.width, spec.height, profile.pix_fmt, burn)
    controls = dict(zip(CONTROL_NAMES, spec.staging.controls(), strict=True)) if spec.staging is not None else None
    chunks = model.generate(spec.class_label, spec.seed, spec.total_frames,
                            controls=controls if model.contract.version >= 2 else None)

    def counted():
        for frame in synthesizer.frames(chunks):
            if on_frame is not None:
                on_frame()
            yield frame

    media = encode_clip(
        counted(),
        media_path,
        profile=profile,
        rate=spec.rate,
        width=spec.width,
        height=spec.height,
        start_timecode=spec.timecode(0),
        metadata=_container_metadata(spec, model),
        reel_name=f"PV{spec.shot_id[:6].upper()}",  # the same reel the EDL writer gives the clip
        expected_frames=spec.total_frames,
    )
    if not signing_available()[0]:
        return media
    # Sign last: the manifest's hash binds the finished file, so nothing may rewrite it afterwards.
    identity = ModelIdentity.of_model(model)
    provenance = Provenance(identity.name, identity.version, identity.sha256, spec.seed, spec.class_label, spec.name,
                            __version__)
    return dataclasses.replace(media, sha256=sign_media(media.path, provenance))
