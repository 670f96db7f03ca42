"""Frames -> media file (PyAV), written atomically.

The file appears at its final path complete and checked, or not at all: it is muxed to a hidden
``.<name>.<token>.partial<ext>`` beside the target (same filesystem, so the rename is atomic),
read back (frame count, exact rate and duration, timecode), hashed, fsynced and only then
renamed onto the final path (files.atomic_write). Any failure removes the partial file.

What survives in the container, as read back by FFmpeg/PyAV (av 18.1):

- Metadata: both containers are written with ``movflags=use_metadata_tags``, so every key the
  caller passes (title, comment, description, ai_generated, digital_source_type, model, seed,
  ...) reads back from ``container.metadata`` unchanged, in MP4 and in MOV. Without that flag
  the MP4 muxer keeps only its iTunes keys (title, comment, description, ...) and the MOV muxer
  only its QuickTime ones (title, comment, model, ...): the AI-generated marking would be lost.
  With the flag, MP4 stores the keys in an ``mdta`` box instead of iTunes ``ilst`` atoms; MOV
  still writes its QuickTime user-data strings as well.
- Timecode: ``stream.metadata["timecode"]`` makes the muxer write a ``tmcd`` track in both
  containers; reading back, the start timecode appears as ``metadata["timecode"]`` on the video
  stream and on the ``tmcd`` data stream (``;`` kept for drop-frame).
- Reel name: written in MOV only (the ``tmcd`` sample's name), read back as
  ``metadata["reel_name"]`` on the ``tmcd`` data stream; the MP4 muxer does not write it.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import av
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from previz_plugin.errors import EncodeError, PrevizError, ShotSpecError, UsageError
from previz_plugin.files import atomic_write, file_sha256
from previz_plugin.shot_spec import encodable_size
from previz_plugin.timing import DROP_FRAME_RATES, is_drop_frame_timecode, parse_timecode, rate_text, timecode

__all__ = ["CODECS", "CodecProfile", "MediaInfo", "codec_profile", "encode_clip", "media_problem"]


@dataclass(frozen=True)
class CodecProfile:
    """How one delivery codec is written: container, encoder, pixel format, encoder options."""

    name: str  # "h264" | "prores" | "prores-lt" | "dnxhr"
    container: str  # "mp4" | "mov"
    extension: str  # ".mp4" | ".mov"
    codec: str  # FFmpeg encoder: "libx264" | "prores_aw" | "dnxhd"
    pix_fmt: str  # "yuv420p" | "yuv422p10le" | "yuv422p"
    options: Mapping[str, str]
    min_size: tuple[int, int] = (16, 16)  # smallest width, height the encoder accepts


CODECS: Mapping[str, CodecProfile] = MappingProxyType(
    {
        "h264": CodecProfile(
            "h264", "mp4", ".mp4", "libx264", "yuv420p", MappingProxyType({"crf": "23", "preset": "veryfast"})
        ),
        # prores_aw, not prores_ks: measured 4x faster at a similar size. Profile 0 = 422 Proxy,
        # which the encoder tags 'apco'; profile 1 = 422 LT, tagged 'apcs'.
        "prores": CodecProfile("prores", "mov", ".mov", "prores_aw", "yuv422p10le", MappingProxyType({"profile": "0"})),
        "prores-lt": CodecProfile(
            "prores-lt", "mov", ".mov", "prores_aw", "yuv422p10le", MappingProxyType({"profile": "1"})
        ),
        # DNxHR LB is 8-bit 4:2:2; FFmpeg's dnxhd encoder refuses DNxHR below 256x120.
        "dnxhr": CodecProfile(
            "dnxhr", "mov", ".mov", "dnxhd", "yuv422p", MappingProxyType({"profile": "dnxhr_lb"}), min_size=(256, 120)
        ),
    }
)


def codec_profile(name: str) -> CodecProfile:
    """Return the profile called name, or raise UsageError listing the valid ones."""
    try:
        return CODECS[name]
    except KeyError:
        raise UsageError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}") from None


@dataclass(frozen=True)
class MediaInfo:
    """What was written: the final path, its frames, rate, size, codec profile name and hash."""

    path: pathlib.Path
    frames: int
    rate: Fraction
    width: int
    height: int
    codec: str  # the CodecProfile name ("h264", "prores", "prores-lt", "dnxhr")
    start_timecode: str
    sha256: str  # of the file as written


def encode_clip(
    frames: Iterable[av.VideoFrame],
    path: str | os.PathLike[str],
    *,
    profile: CodecProfile,
    rate: Fraction,
    width: int,
    height: int,
    start_timecode: str,
    metadata: Mapping[str, str],
    reel_name: str | None = None,
    expected_frames: int | None = None,
) -> MediaInfo:
    """Return the MediaInfo of the file written at path from frames, all or nothing.

    frames must already be at width x height in profile.pix_fmt (FrameSynthesizer makes them);
    their pts are replaced by their index, so frame n sits exactly at n / rate. Bad arguments
    raise UsageError before any work; anything failing after that removes the partial file and
    raises EncodeError (PrevizErrors from the frame source and KeyboardInterrupt pass through).
    metadata goes into the container whole (see the module docstring for what reads back where);
    reel_name is written where the container has a place for it (MOV).
    """
    rate = _check_arguments(profile, rate, width, height, start_timecode, metadata, expected_frames)
    final = pathlib.Path(path)
    if final.suffix.lower() != profile.extension:
        raise UsageError(f"{profile.name} is written as {profile.extension}, got path {final}")
    folder = final.parent
    if not folder.is_dir():
        raise EncodeError(f"cannot write {final}: folder {folder} does not exist")

    def write(partial: pathlib.Path) -> tuple[int, str]:
        count = _write(
            frames, partial, profile, rate, width, height, start_timecode, metadata, reel_name, expected_frames
        )
        if expected_frames is not None and count != expected_frames:
            raise EncodeError(f"got {count} frames for {final.name}, expected {expected_frames}")
        if count == 0:
            raise EncodeError(f"no frames to write to {final.name}")
        _check_written(partial, count, rate, start_timecode)
        return count, file_sha256(partial)

    try:
        # Muxed into a hidden file atomic_write made (exclusively, not through a link), so the muxer
        # writes only a file of ours; ".partial.mp4" so nothing mistakes it for media, hidden so NLE bins skip it.
        count, digest = atomic_write(final, write, suffix=f".partial{profile.extension}")
    except BaseException as exc:
        if isinstance(exc, PrevizError) or not isinstance(exc, Exception):
            raise  # our own errors name their stage; KeyboardInterrupt/SystemExit stay what they are
        raise EncodeError(f"could not write {final}: {exc}") from exc
    return MediaInfo(final, count, rate, width, height, profile.name, start_timecode, digest)


def _check_arguments(
    profile: CodecProfile,
    rate: Fraction,
    width: int,
    height: int,
    start_timecode: str,
    metadata: Mapping[str, str],
    expected_frames: int | None,
) -> Fraction:
    """Raise UsageError for arguments that cannot make a valid file; return the rate as a Fraction."""
    if not isinstance(profile, CodecProfile):
        raise UsageError(f"profile must be a CodecProfile (see codec_profile()), got {profile!r}")
    # A float rate (23.976) cannot be exact; the edit's rate must arrive as Fraction(24000, 1001).
    if isinstance(rate, bool) or not isinstance(rate, (Fraction, int)) or rate <= 0:
        raise UsageError(f"rate must be a positive Fraction such as Fraction(24000, 1001), got {rate!r}")
    rate = Fraction(rate)
    min_w, min_h = profile.min_size
    if not encodable_size(width, height, profile.min_size):
        raise UsageError(f"{profile.name} needs an even size of at least {min_w}x{min_h}, got {width}x{height}")
    _check_start_timecode(start_timecode, rate)
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise UsageError(f"metadata must map non-empty strings to strings, got {key!r}: {value!r}")
    if expected_frames is not None and expected_frames < 1:
        raise UsageError(f"expected_frames must be at least 1, got {expected_frames}")
    return rate


def _check_start_timecode(start_timecode: str, rate: Fraction) -> None:
    """Raise UsageError unless start_timecode is a time at rate, spelt as the tmcd track keeps and reads it back."""
    try:
        frame = parse_timecode(start_timecode, rate)
    except ShotSpecError:  # ";" at a rate drop frame does not exist at
        rates = " or ".join(map(rate_text, DROP_FRAME_RATES))
        raise UsageError(f"drop-frame timecode {start_timecode} needs {rates}, got {rate}") from None
    except UsageError as error:
        raise UsageError(f"start {error.message}") from None
    # parse_timecode takes other spellings (1:00:00:00, "." for drop frame) and hours past 23; the
    # file must hold the one timecode() writes, since _check_written compares it as text.
    if timecode(frame, rate, is_drop_frame_timecode(start_timecode)) != start_timecode:
        raise UsageError(f"start timecode {start_timecode!r} is not a valid time at {float(rate):.3f} fps written "
                         "HH:MM:SS:FF (HH:MM:SS;FF drop frame), under 24 hours")


def _write(
    frames: Iterable[av.VideoFrame],
    partial: pathlib.Path,
    profile: CodecProfile,
    rate: Fraction,
    width: int,
    height: int,
    start_timecode: str,
    metadata: Mapping[str, str],
    reel_name: str | None,
    expected_frames: int | None,
) -> int:
    """Encode and mux frames into partial; return how many frames went in."""
    time_base = Fraction(rate.denominator, rate.numerator)  # one tick per frame, exactly
    options = _muxer_options(profile, rate)
    with av.open(str(partial), "w", format=profile.container, container_options=options) as container:
        stream = container.add_stream(profile.codec, rate=rate, options=dict(profile.options))
        assert isinstance(stream, VideoStream)  # every profile's codec is a video encoder
        stream.width, stream.height, stream.pix_fmt = width, height, profile.pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        # PyAV's default threading gives x264 sliced threads (0.58x the ffmpeg binary); frame
        # threads match the binary. x264 takes the hint itself; prores_aw and dnxhd both have
        # FFmpeg frame threading (measured here: FRAME a little ahead of AUTO, default slowest).
        stream.codec_context.thread_type = "FRAME"
        stream.metadata["timecode"] = start_timecode  # makes the muxer write a tmcd track
        if reel_name and profile.container == "mov":
            stream.metadata["reel_name"] = reel_name  # lands in the tmcd sample description
        for key, value in metadata.items():
            container.metadata[key] = value

        count = 0
        for index, frame in enumerate(frames):
            if expected_frames is not None and index == expected_frames:
                # Stop at once rather than encode a runaway source to the end.
                raise EncodeError(f"the frame source gave more than the {expected_frames} frames expected")
            if not isinstance(frame, av.VideoFrame):
                raise EncodeError(f"frame {index} is a {type(frame).__name__}, not an av.VideoFrame")
            if (frame.width, frame.height, frame.format.name) != (width, height, profile.pix_fmt):
                # PyAV would silently rescale it, a second swscale pass per frame; refuse instead.
                raise EncodeError(
                    f"frame {index} is {frame.width}x{frame.height} {frame.format.name}, "
                    f"expected {width}x{height} {profile.pix_fmt}"
                )
            if index == 0:
                _copy_colour_tags(frame, stream.codec_context)
            frame.pts = index
            frame.time_base = time_base
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode())  # flush the frames the encoder still holds (B-frames)
    return count


# The decoder's name for what each profile's encoder writes.
_DECODED_AS = {"libx264": "h264", "prores_aw": "prores", "dnxhd": "dnxhd"}


def media_problem(path: str | os.PathLike[str], *, profile: CodecProfile, width: int, height: int, rate: Fraction,
                  frames: int) -> str | None:
    """Return what makes the file at path not the video a shot needs (codec, size, rate, frames), or None.

    Demux only, no decode: cheap even for long ProRes. Anything that is no media file at all (a
    script whose checksum a forged sidecar records) is a problem too.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "holds no video"
            video = container.streams.video[0]
            codec, size = video.codec_context.name, (video.codec_context.width, video.codec_context.height)
            average_rate = video.average_rate
            packets = sum(1 for packet in container.demux(video) if packet.size)
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        return f"is not a readable video file ({type(error).__name__})"
    expected = _DECODED_AS.get(profile.codec, profile.codec)
    if codec != expected:
        return f"is {codec} video, not {expected} ({profile.name})"
    if size != (width, height):
        return f"is {size[0]}x{size[1]}, not {width}x{height}"
    if average_rate != rate:
        return f"plays at {average_rate} fps, not {rate}"
    if packets != frames:
        return f"has {packets} frames, not {frames}"
    return None


def _muxer_options(profile: CodecProfile, rate: Fraction) -> dict[str, str]:
    """Return the mov/mp4 muxer options: keep every metadata key, keep durations exact."""
    flags = "+use_metadata_tags"
    if profile.container == "mp4":
        flags += "+faststart"  # index up front for playback from web/review tools
    # The movie header's timescale (default 1000) carries the edit list; 3 frames of 23.976 is
    # 125.125 ms there, stored as 125, and the clip reads back 2.997 frames long. Using the
    # video track's own timescale (the muxer doubles the rate's numerator to >= 10000) keeps it exact.
    timescale = rate.numerator
    while timescale < 10000:
        timescale *= 2
    return {"movflags": flags, "movie_timescale": str(timescale)}


def _copy_colour_tags(frame: av.VideoFrame, codec_context: VideoCodecContext) -> None:
    """Tag the stream with the matrix, range, transfer and primaries the frames were made in."""
    codec_context.colorspace = frame.colorspace
    codec_context.color_range = frame.color_range
    codec_context.color_trc = frame.color_trc
    codec_context.color_primaries = frame.color_primaries


def _check_written(partial: pathlib.Path, count: int, rate: Fraction, start_timecode: str) -> None:
    """Raise EncodeError unless the file reads back with count frames at exactly rate and the timecode."""
    with av.open(str(partial)) as container:
        video = container.streams.video[0]
        timecodes = {s.metadata["timecode"] for s in container.streams if "timecode" in s.metadata}
        duration = None
        if video.duration is not None and video.time_base is not None:
            duration = video.duration * video.time_base
        # Demux only (no decode): counting packets is cheap even for ProRes at 1080p.
        packets = sum(1 for packet in container.demux(video) if packet.size)
    problems = []
    if packets != count:
        problems.append(f"{packets} frames in the file, {count} encoded")
    if video.average_rate != rate:
        problems.append(f"rate reads back as {video.average_rate}, not {rate}")
    if duration is not None and duration != count / rate:
        problems.append(f"duration reads back as {duration} s, not {count / rate} s")
    if timecodes != {start_timecode}:
        problems.append(f"timecode reads back as {sorted(timecodes)}, not {start_timecode}")
    if problems:
        raise EncodeError("written file does not match what was encoded: " + "; ".join(problems))
