"""Content credentials: sign real MP4 and MOV files with C2PA, read them back, tamper, configure signers."""

from __future__ import annotations

import datetime
import hashlib
import json
import pathlib
import stat
import sys
from fractions import Fraction

import pytest

pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

import av  # noqa: E402
import numpy as np  # noqa: E402

from previz_plugin import __version__  # noqa: E402
from previz_plugin.credentials import (  # noqa: E402
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    Provenance,
    config_dir,
    configured_signer,
    ensure_local_signer,
    load_signer,
    read_credentials,
    sign_media,
    signing_available,
)
from previz_plugin.errors import EncodeError, UsageError  # noqa: E402

MODEL_SHA256 = hashlib.sha256(b"tiny previz model").hexdigest()
PROVENANCE = Provenance("previz-sample", "0.1.0", MODEL_SHA256, 1234, "walk", "SH020")
CLIPS = {"mp4": ("libx264", "yuv420p", {"crf": "23", "preset": "veryfast"}),
         "mov": ("prores_aw", "yuv422p10le", {"profile": "0"})}
ENV = ("PREVIZ_C2PA_CERT", "PREVIZ_C2PA_KEY", "PREVIZ_C2PA_ALG", "PREVIZ_C2PA_TSA_URL", "XDG_CONFIG_HOME")


@pytest.fixture(autouse=True)
def config_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A config folder of the test's own, and no signer from the environment."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "config"
    monkeypatch.setenv("PREVIZ_CONFIG_DIR", str(folder))
    return folder


def make_clip(folder: pathlib.Path, container: str, frames: int = 10) -> pathlib.Path:
    """Write a 64x64 clip the way encode.py does (PyAV, mdta metadata, a timecode track)."""
    codec, pix_fmt, options = CLIPS[container]
    path = folder / f"SH020.{container}"
    with av.open(str(path), "w", format=container, container_options={"movflags": "use_metadata_tags"}) as output:
        stream = output.add_stream(codec, rate=Fraction(24), options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 64, pix_fmt
        stream.metadata["timecode"] = "01:00:00:00"
        output.metadata["ai_generated"] = "true"
        for index in range(frames):
            rgb = np.full((64, 64, 3), index * 20, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = index
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def sha256_of(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_media_byte(path: pathlib.Path) -> None:
    """Change one byte inside the mdat box (the coded pictures), leaving the boxes intact."""
    data = bytearray(path.read_bytes())
    mdat = data.find(b"mdat")
    assert mdat > 0
    data[mdat + 64] ^= 0xFF
    path.write_bytes(bytes(data))


def test_signing_is_available_here() -> None:
    available, reason = signing_available()
    assert available, reason
    assert reason.startswith("c2pa-python ")


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_signed_clip_reads_back_valid_and_ai_generated(tmp_path: pathlib.Path, container: str) -> None:
    clip = make_clip(tmp_path, container)
    digest = sign_media(clip, PROVENANCE)

    assert digest == sha256_of(clip)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["config", clip.name])  # no partial file left
    report = read_credentials(clip)
    assert report.has_manifest and report.valid and report.ai_generated
    assert not report.trusted  # the local CA is on no trust list...
    assert report.validation_state == "Valid"
    assert any(p.startswith("signingCredential.untrusted") for p in report.problems)  # ...and says so
    assert report.digital_source_type == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert report.model == {"name": "previz-sample", "version": "0.1.0", "sha256": MODEL_SHA256}
    assert report.seed == 1234
    assert report.tool == f"previz-plugin {__version__}"
    assert report.signer is not None and "previz-plugin local signer" in report.signer
    json.dumps(report.to_dict())  # the CLI's --json document
    with av.open(str(clip)) as signed:  # still the same playable clip, metadata and timecode kept
        assert sum(1 for _ in signed.decode(video=0)) == 10
        assert signed.metadata.get("ai_generated") == "true"
        assert signed.streams.video[0].metadata.get("timecode") == "01:00:00:00"


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_one_changed_media_byte_reads_invalid(tmp_path: pathlib.Path, container: str) -> None:
    clip = make_clip(tmp_path, container)
    sign_media(clip, PROVENANCE)
    flip_media_byte(clip)

    report = read_credentials(clip)
    assert report.has_manifest and report.ai_generated  # the claim is still there to read...
    assert not report.valid and not report.trusted  # ...but the file is not what was signed
    assert report.validation_state == "Invalid"
    assert any("mismatch" in p for p in report.problems), report.problems


def test_local_ca_as_trust_anchor_makes_the_file_trusted(tmp_path: pathlib.Path, config_home: pathlib.Path) -> None:
    clip = make_clip(tmp_path, "mp4")
    sign_media(clip, PROVENANCE)

    report = read_credentials(clip, trust_anchors=config_home / "c2pa" / "ca.pem")
    assert report.valid and report.trusted and report.validation_state == "Trusted"
    assert report.problems == ()


def test_unsigned_clip_has_no_manifest(tmp_path: pathlib.Path) -> None:
    report = read_credentials(make_clip(tmp_path, "mp4"))
    assert not report.has_manifest and not report.valid and not report.ai_generated
    assert report.problems == ("no C2PA manifest",)


def test_local_ca_is_made_once_with_private_keys(config_home: pathlib.Path) -> None:
    from cryptography import x509

    first = ensure_local_signer()
    folder = config_home / "c2pa"
    files = {name: (folder / name).read_bytes() for name in ("ca.pem", "ca.key", "signer.pem", "signer.key")}
    second = ensure_local_signer()

    assert second == first and first.origin == "local CA" and first.cert_chain.parent == folder
    assert {name: (folder / name).read_bytes() for name in files} == files  # reused, not remade
    for name in ("ca.key", "signer.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir() if ".partial" in p.name] == []
    ca = x509.load_pem_x509_certificate(files["ca.pem"])
    leaf, chained_ca = x509.load_pem_x509_certificates(files["signer.pem"])
    assert chained_ca == ca and leaf.issuer == ca.subject != leaf.subject
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_damaged_signing_certificate_is_reissued_by_the_same_ca(config_home: pathlib.Path) -> None:
    ensure_local_signer()
    signer_pem = config_home / "c2pa" / "signer.pem"
    ca_before = (config_home / "c2pa" / "ca.pem").read_bytes()
    signer_pem.write_bytes(b"not a certificate")

    ensure_local_signer()
    assert (config_home / "c2pa" / "ca.pem").read_bytes() == ca_before  # files signed before still chain to it
    assert load_signer(signer_pem, config_home / "c2pa" / "signer.key").origin == "user"


def test_config_folder_follows_xdg_without_override(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.delenv("PREVIZ_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "previz-plugin"


def test_user_certificate_from_environment_is_used(tmp_path: pathlib.Path, config_home: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    studio = ensure_local_signer(tmp_path / "studio")  # the same helper, made elsewhere: the "studio" cert
    monkeypatch.setenv("PREVIZ_C2PA_CERT", str(studio.cert_chain))
    monkeypatch.setenv("PREVIZ_C2PA_KEY", str(studio.private_key))
    monkeypatch.setenv("PREVIZ_C2PA_ALG", "ES256")
    clip = make_clip(tmp_path, "mov")

    assert configured_signer().origin == "PREVIZ_C2PA_CERT"
    sign_media(clip, PROVENANCE)
    assert not (config_home / "c2pa").exists()  # no local CA made when the user configured one
    assert read_credentials(clip, trust_anchors=tmp_path / "studio" / "c2pa" / "ca.pem").trusted


def test_user_certificate_from_config_file_is_used(tmp_path: pathlib.Path, config_home: pathlib.Path) -> None:
    studio = ensure_local_signer(tmp_path / "studio")
    (config_home / "c2pa").mkdir(parents=True)
    (config_home / "c2pa" / "config.json").write_text(json.dumps(
        {"cert": str(studio.cert_chain), "key": str(studio.private_key), "algorithm": "es256"}))

    signer = configured_signer()
    assert signer.cert_chain == studio.cert_chain and signer.origin.endswith("config.json")
    assert not (config_home / "c2pa" / "ca.pem").exists()


def _self_signed(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "self")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "self.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "self.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return folder / "self.pem", folder / "self.key"


def test_bad_user_certificates_are_usage_errors(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    studio = ensure_local_signer(tmp_path / "studio")
    other = ensure_local_signer(tmp_path / "other")
    cert, key = _self_signed(tmp_path / "self")
    with pytest.raises(UsageError, match="self-signed"):
        load_signer(cert, key)
    with pytest.raises(UsageError, match="does not belong"):
        load_signer(studio.cert_chain, other.private_key)
    with pytest.raises(UsageError, match="unknown signing algorithm"):
        load_signer(studio.cert_chain, studio.private_key, algorithm="rs256")
    with pytest.raises(UsageError, match="needs key type RSA"):
        load_signer(studio.cert_chain, studio.private_key, algorithm="ps256")
    with pytest.raises(UsageError, match="cannot read"):
        load_signer(tmp_path / "missing.pem", studio.private_key)
    monkeypatch.setenv("PREVIZ_C2PA_CERT", str(studio.cert_chain))
    with pytest.raises(UsageError, match="both"):
        configured_signer()


def test_sign_refuses_other_files_and_leaves_them_alone(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match=r"\.mp4"):
        sign_media(tmp_path / "clip.mxf", PROVENANCE)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a movie at all")
    with pytest.raises(EncodeError, match="could not sign broken.mp4"):
        sign_media(broken, PROVENANCE)
    assert broken.read_bytes() == b"not a movie at all"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "config"]


def test_provenance_is_checked_at_the_boundary() -> None:
    with pytest.raises(UsageError, match="model_sha256"):
        Provenance("m", "1", "abc", 1, "walk", "SH010")
    with pytest.raises(UsageError, match="seed"):
        Provenance("m", "1", MODEL_SHA256, True, "walk", "SH010")


def test_without_c2pa_signing_says_why(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_clip(tmp_path, "mp4")
    monkeypatch.setitem(sys.modules, "c2pa", None)  # what a missing package or wheel looks like to import

    available, reason = signing_available()
    assert not available and "pip install 'c2pa-python" in reason
    with pytest.raises(EncodeError, match="cannot sign SH020.mp4"):
        sign_media(clip, PROVENANCE)
    with pytest.raises(UsageError, match="needs c2pa-python"):
        read_credentials(clip)
