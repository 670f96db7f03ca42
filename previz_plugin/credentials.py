"""Content credentials: a signed C2PA manifest in every generated media file, and reading it back.

What is signed (``sign_media``): one ``c2pa.actions.v2`` assertion holding a ``c2pa.created``
action with digital source type ``trainedAlgorithmicMedia``, the tool as ``softwareAgent`` and, as
action parameters, the model (name, version, sha256), the seed, the class and the shot. The
manifest's hard binding (``c2pa.hash.bmff.v3``) covers the whole file, so any later change to the
media shows as invalid. Sign last, after any remux: the signed file is written to a hidden
temporary file beside the media, read back, checked, hashed and renamed over it.

Who signs (``configured_signer``), first match wins:
  1. ``PREVIZ_C2PA_CERT`` + ``PREVIZ_C2PA_KEY`` (PEM files; ``PREVIZ_C2PA_ALG``, default es256;
     ``PREVIZ_C2PA_TSA_URL`` for an RFC 3161 timestamp authority, none by default: offline);
  2. ``<config dir>/c2pa/config.json`` with the same four settings (``cert``, ``key``,
     ``algorithm``, ``timestamp_url``); relative paths are relative to that file;
  3. a local CA and signing certificate made on first use in ``<config dir>/c2pa/``.
The config dir is ``$PREVIZ_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/previz-plugin``, else
``~/.config/previz-plugin``.

Measured with c2pa-python 0.38.1 (c2pa-rs 0.91.3): MP4 (video/mp4) and MOV (video/quicktime,
ProRes and DNxHR) both take an embedded manifest, no sidecar needed. A local CA is on no trust
list, so such files read back as ``Valid`` with the failure code ``signingCredential.untrusted``:
``read_credentials`` reports that as valid but not trusted, and a changed byte as invalid.

c2pa-python is installed with the package where it ships wheels; it and ``cryptography`` are imported inside
functions, and ``signing_available()`` says why signing cannot happen where it cannot.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import pathlib
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from . import __version__
from .errors import EncodeError, PrevizError, UsageError
from .files import atomic_write, file_sha256, free_bytes
from .printable import printable
from .provenance import IPTC_TRAINED_ALGORITHMIC_MEDIA

__all__ = [
    "IPTC_TRAINED_ALGORITHMIC_MEDIA",
    "CredentialsReport",
    "Provenance",
    "SignerConfig",
    "config_dir",
    "configured_signer",
    "ensure_local_signer",
    "load_signer",
    "read_credentials",
    "sign_media",
    "signing_available",
]

log = logging.getLogger(__name__)

_MIME_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime"}
_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
# Failure codes that say who signed is not on a trust list the reader was given, not that the file changed.
_TRUST_CODES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
_DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"  # id-kp-documentSigning (RFC 9336), one of the EKUs C2PA accepts
_LOCAL_CA_YEARS, _LOCAL_SIGNER_YEARS = 20, 5
_RENEW_BEFORE = datetime.timedelta(days=30)  # a local signing certificate this close to expiry is reissued
_SHA256 = re.compile(r"[0-9a-f]{64}")
# c2pa-rs holds an asset in memory while it embeds a manifest unless the asset is larger than this (512 MB by
# default; above it, a temporary file). bench/sign_memory.py, peak RSS of signing plus read-back: a 272 MB MP4
# 308 MiB with 64 vs 567 MiB by default; 817 MB and 1.63 GB files 556 and 567 MiB either way (bounded).
_SIGNING_MEMORY_THRESHOLD_MB = 64
# The signed copy is the media plus its manifest (a few KB) and certificates: room for that, with spare.
_SIGNING_SPARE_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Provenance:
    """What made one clip: the facts its manifest asserts."""

    model_name: str
    model_version: str
    model_sha256: str
    seed: int
    class_label: str
    shot_name: str
    tool_version: str = __version__

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version", "class_label", "shot_name", "tool_version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise UsageError(f"provenance {name} must be a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.model_sha256, str) or not _SHA256.fullmatch(self.model_sha256):
            raise UsageError(f"provenance model_sha256 must be 64 lowercase hex digits, got {self.model_sha256!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"provenance seed must be an int, got {self.seed!r}")


@dataclass(frozen=True)
class SignerConfig:
    """A signing certificate chain and key (PEM files) and how to sign with them."""

    cert_chain: pathlib.Path  # the signing certificate first, then the CAs that issued it
    private_key: pathlib.Path  # unencrypted PEM
    algorithm: str = "es256"
    timestamp_url: str | None = None  # RFC 3161 TSA; None keeps signing offline
    origin: str = "user"  # where it came from, for messages: "PREVIZ_C2PA_CERT", a config file, "local CA"


@dataclass(frozen=True)
class CredentialsReport:
    """What a file's C2PA manifest says, and whether its signature and bindings check out."""

    path: pathlib.Path
    has_manifest: bool
    valid: bool  # signature and hashes check out: the file is as signed (trust aside)
    trusted: bool  # and the signer chains to a trust anchor the reader was given
    ai_generated: bool  # a c2pa.created action with digital source type trainedAlgorithmicMedia
    digital_source_type: str | None
    model: dict[str, Any] | None
    seed: int | None
    tool: str | None
    signer: str | None  # "<common name> (<organisation>)" of the signing certificate
    validation_state: str | None  # c2pa's own word: "Invalid", "Valid" or "Trusted"
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"path": str(self.path), "problems": list(self.problems)}


# availability ---------------------------------------------------------------------------------------
def _import_c2pa() -> Any:
    """Return the c2pa module, or raise ImportError saying why it cannot be used."""
    import c2pa  # type: ignore[import-untyped, import-not-found, unused-ignore]  # installed where it has wheels

    missing = [name for name in ("Builder", "Reader", "Signer", "C2paSignerInfo", "Context", "Settings") if not hasattr(c2pa, name)]
    if missing:
        raise ImportError(f"c2pa-python {getattr(c2pa, '__version__', '?')} lacks {', '.join(missing)}; need >=0.38")
    import cryptography  # noqa: F401 - certificates and keys, a dependency of c2pa-python too

    return c2pa


def signing_available() -> tuple[bool, str]:
    """Return whether content credentials can be signed here, and the reason when they cannot."""
    try:
        c2pa = _import_c2pa()
    except Exception as exc:  # ImportError, or OSError where the native library will not load
        return False, f"c2pa-python is not usable: {exc}; install it with pip install 'c2pa-python>=0.38,<0.39'"
    return True, f"c2pa-python {c2pa.__version__}"


# signer configuration --------------------------------------------------------------------------------
def config_dir() -> pathlib.Path:
    """Return previz-plugin's config folder: $PREVIZ_CONFIG_DIR, else the XDG one."""
    if os.environ.get("PREVIZ_CONFIG_DIR"):
        return pathlib.Path(os.environ["PREVIZ_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config"
    return pathlib.Path(base).expanduser() / "previz-plugin"


def configured_signer(config_folder: str | os.PathLike[str] | None = None) -> SignerConfig:
    """Return the signer to use: the environment's, else the config file's, else the local CA's."""
    cert, key = os.environ.get("PREVIZ_C2PA_CERT"), os.environ.get("PREVIZ_C2PA_KEY")
    if cert or key:
        if not (cert and key):
            raise UsageError("set both PREVIZ_C2PA_CERT and PREVIZ_C2PA_KEY (PEM files), or neither")
        return load_signer(cert, key, algorithm=os.environ.get("PREVIZ_C2PA_ALG", "es256"),
                           timestamp_url=os.environ.get("PREVIZ_C2PA_TSA_URL") or None, origin="PREVIZ_C2PA_CERT")
    folder = pathlib.Path(config_folder) if config_folder is not None else config_dir()
    config_file = folder / "c2pa" / "config.json"
    if config_file.is_file():
        try:
            settings = json.loads(config_file.read_text(encoding="utf-8"))
            cert, key = settings["cert"], settings["key"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{config_file} must be a JSON object with 'cert' and 'key' paths: {exc}") from None
        base = config_file.parent
        return load_signer(base / pathlib.Path(cert).expanduser(), base / pathlib.Path(key).expanduser(),
                           algorithm=settings.get("algorithm", "es256"), timestamp_url=settings.get("timestamp_url"),
                           origin=str(config_file))
    return ensure_local_signer(folder)


def load_signer(cert_chain: str | os.PathLike[str], private_key: str | os.PathLike[str], *, algorithm: str = "es256",
                timestamp_url: str | None = None, origin: str = "user") -> SignerConfig:
    """Return a SignerConfig for a user's certificate, or raise UsageError saying what C2PA would reject."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain_path, key_path = pathlib.Path(cert_chain).expanduser(), pathlib.Path(private_key).expanduser()
    alg = str(algorithm).lower()
    if alg not in _ALGORITHMS:
        raise UsageError(f"{origin}: unknown signing algorithm {algorithm!r}; choose one of {', '.join(_ALGORITHMS)}")
    try:
        certificates = x509.load_pem_x509_certificates(chain_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{origin}: cannot read a PEM certificate chain from {chain_path}: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except TypeError:
        raise UsageError(f"{origin}: {key_path} is encrypted; give an unencrypted PEM key (mode 0600)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{origin}: cannot read a PEM private key from {key_path}: {exc}") from None
    leaf = certificates[0]
    if not _same_public_key(leaf, key):
        raise UsageError(f"{origin}: the key {key_path} does not belong to the first certificate in {chain_path}")
    if leaf.issuer == leaf.subject:
        raise UsageError(f"{origin}: {chain_path} starts with a self-signed certificate, which C2PA rejects; "
                         "sign it with a CA and put the CA after it in the file")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise UsageError(f"{origin}: {chain_path} is valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
                         f"{leaf.not_valid_after_utc:%Y-%m-%d}, not now")
    needed = {"es256": "P-256", "es384": "P-384", "es512": "P-521", "ed25519": "Ed25519"}.get(alg, "RSA")
    if _key_kind(key) != needed:
        raise UsageError(f"{origin}: algorithm {alg} needs key type {needed}, but {key_path} is {_key_kind(key)}")
    if timestamp_url is not None and not isinstance(timestamp_url, str):
        raise UsageError(f"{origin}: the timestamp URL must be a string, got {timestamp_url!r}")
    return SignerConfig(chain_path, key_path, alg, timestamp_url, origin)


def _key_kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(key.curve.name, key.curve.name)
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    return "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else type(key).__name__.lstrip("_")


# the local CA ---------------------------------------------------------------------------------------
def ensure_local_signer(config_folder: str | os.PathLike[str] | None = None) -> SignerConfig:
    """Return the local signer, making its CA and signing certificate on first use (reissued near expiry).

    Files in ``<config dir>/c2pa/``: ca.pem, ca.key (the CA), signer.pem (signing certificate then
    CA), signer.key; keys are 0600, each file is written atomically, and a lock keeps two processes
    from making two CAs.
    """
    folder = (pathlib.Path(config_folder) if config_folder is not None else config_dir()) / "c2pa"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(folder / ".lock"):
            ca = _load_pair(folder / "ca.pem", folder / "ca.key", renew_before=datetime.timedelta(days=365))
            signer = _load_pair(folder / "signer.pem", folder / "signer.key", renew_before=_RENEW_BEFORE)
            if ca is None:
                ca = _issue(None)
                atomic_write(folder / "ca.key", _pem(ca[1]), mode=0o600)
                atomic_write(folder / "ca.pem", _pem(ca[0]), mode=0o644)
                log.info("made a local C2PA CA in %s (on no trust list)", folder)
            if signer is None or signer[0].issuer != ca[0].subject or not _issued_by(signer[0], ca[0]):
                signer = _issue(ca)
                atomic_write(folder / "signer.key", _pem(signer[1]), mode=0o600)
                atomic_write(folder / "signer.pem", _pem(signer[0]) + _pem(ca[0]), mode=0o644)
    except OSError as exc:
        raise EncodeError(f"cannot keep the local C2PA signing certificate in {folder}: {exc}") from exc
    return SignerConfig(folder / "signer.pem", folder / "signer.key", "es256", None, "local CA")


@contextlib.contextmanager
def _locked(lock_path: pathlib.Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; two first uses at once could make two CAs, each valid
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_pair(cert_path: pathlib.Path, key_path: pathlib.Path, *, renew_before: datetime.timedelta) -> Any:
    """Return (certificate, key) from PEM files, or None if missing, unreadable, mismatched or near expiry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("remaking %s: %s", cert_path.name, exc)
        return None
    if not _same_public_key(cert, key):
        return None
    if cert.not_valid_after_utc - renew_before < datetime.datetime.now(datetime.timezone.utc):
        return None
    return cert, key


def _issued_by(cert: Any, ca: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _same_public_key(cert: Any, key: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    def der(public_key: Any) -> bytes:
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    return der(cert.public_key()) == der(key.public_key())


def _issue(issuer: tuple[Any, Any] | None) -> tuple[Any, Any]:
    """Return a new (certificate, key): the local CA when issuer is None, else a signing certificate it issues.

    The signing certificate has what C2PA's certificate profile asks for: not a CA, digitalSignature
    only, an allowed EKU (emailProtection, documentSigning), key identifiers, a CA above it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    if issuer is None:  # a random id tells one machine's CA from another's without naming the machine
        common_name, years = f"previz-plugin local CA {secrets.token_hex(4)}", _LOCAL_CA_YEARS
    else:
        ca_name = issuer[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        common_name, years = ca_name.replace(" CA ", " signer "), _LOCAL_SIGNER_YEARS
    # Verifiers show the signer's organisation as who issued the credential: say plainly what it is.
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "previz-plugin local CA, on no trust list"),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    is_ca = issuer is None
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .issuer_name(subject if issuer is None else issuer[0].subject)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))  # tolerate a little clock skew
               .not_valid_after(now + datetime.timedelta(days=365 * years))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not is_ca, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=is_ca, crl_sign=is_ca, encipher_only=False,
                                            decipher_only=False), critical=True))
    if issuer is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier(_DOCUMENT_SIGNING_EKU)]), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(certificate_or_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(certificate_or_key, "private_bytes"):
        return certificate_or_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    return certificate_or_key.public_bytes(serialization.Encoding.PEM)


# signing --------------------------------------------------------------------------------------------
def _manifest(media: pathlib.Path, provenance: Provenance) -> dict[str, Any]:
    agent = {"name": "previz-plugin", "version": provenance.tool_version}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": IPTC_TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        # The shot name is the editor's text: shown escaped, so a verifier's display cannot be forged.
        "description": f"AI-generated previz placeholder for shot {printable(provenance.shot_name)}, not camera footage",
        "parameters": {
            "model": {"name": provenance.model_name, "version": provenance.model_version,
                      "sha256": provenance.model_sha256},
            "seed": provenance.seed,
            "class": provenance.class_label,
            "shot": printable(provenance.shot_name),
        },
    }
    return {"claim_generator_info": [agent], "title": media.name,
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [created]}}]}


def sign_media(path: str | os.PathLike[str], provenance: Provenance, *, signer: SignerConfig | None = None) -> str:
    """Return the sha256 of the media file at path after embedding a signed C2PA manifest in it, atomically.

    The file is replaced only by a signed copy that read back valid; on any failure it is left as it
    was and EncodeError says why. signer None uses ``configured_signer()``.
    """
    media = pathlib.Path(path)
    mime = _MIME_TYPES.get(media.suffix.lower())
    if mime is None:
        raise UsageError(f"cannot sign {media.name}: content credentials go into {', '.join(_MIME_TYPES)} files")
    if not media.is_file():
        raise UsageError(f"cannot sign {media}: no such file")
    try:
        c2pa = _import_c2pa()
    except Exception as exc:
        raise EncodeError(f"cannot sign {media.name}: {signing_available()[1]}") from exc
    config = signer if signer is not None else configured_signer()
    needed = media.stat().st_size + _SIGNING_SPARE_BYTES
    if free_bytes(media.parent) < needed:
        raise EncodeError(_no_space(media, needed))
    started = time.perf_counter()

    def write_signed(partial: pathlib.Path) -> str:
        info = c2pa.C2paSignerInfo(config.algorithm, config.cert_chain.read_bytes(), config.private_key.read_bytes(),
                                   config.timestamp_url)
        settings = c2pa.Settings()
        settings.update({"core": {"backing_store_memory_threshold_in_mb": _SIGNING_MEMORY_THRESHOLD_MB},
                         "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        with (c2pa.Context(settings=settings) as context, c2pa.Signer.from_info(info) as native_signer,
              c2pa.Builder(_manifest(media, provenance), context) as builder):
            with open(media, "rb") as source, open(partial, "wb") as signed:
                builder.sign(native_signer, mime, source, signed)
        check = read_credentials(partial)  # what a verifier will see, trust aside
        if not (check.valid and check.ai_generated and check.seed == provenance.seed):
            raise EncodeError(f"the signed copy of {media.name} does not verify: {'; '.join(check.problems)}")
        shutil.copymode(media, partial)
        return file_sha256(partial)

    try:
        digest = atomic_write(media, write_signed, suffix=f".signing{media.suffix}")
    except BaseException as exc:
        if isinstance(exc, PrevizError) or not isinstance(exc, Exception):
            raise
        # c2pa reports a failed write in its own words ("UntrackedPointer: 0x2"): say what happened.
        if free_bytes(media.parent) < needed:
            raise EncodeError(_no_space(media, needed)) from exc
        raise EncodeError(f"could not sign {media.name} with the {config.origin} certificate: {exc}") from exc
    log.debug("signed %s in %.3f s (%s)", media.name, time.perf_counter() - started, config.origin)
    return digest


def _no_space(media: pathlib.Path, needed: int) -> str:
    return (f"cannot sign {media.name}: no space left in {media.parent} for its signed copy "
            f"({free_bytes(media.parent):,} bytes free, about {needed:,} needed)")


# reading --------------------------------------------------------------------------------------------
def read_credentials(path: str | os.PathLike[str], *, trust_anchors: str | os.PathLike[str] | None = None) -> CredentialsReport:
    """Return what the C2PA manifest in the file at path says and whether it verifies, offline.

    trust_anchors: a PEM file of CA certificates to trust (a studio CA, the C2PA trust list, or the
    local CA's ca.pem); without it no signer is trusted, so ``trusted`` is False and ``valid`` tells
    an intact file from a changed one.
    """
    media = pathlib.Path(path)
    if not media.is_file():
        raise UsageError(f"no such file: {media}")
    try:
        c2pa = _import_c2pa()
    except Exception:
        raise UsageError(f"reading content credentials needs c2pa-python: {signing_available()[1]}") from None
    settings = c2pa.Settings()
    # Offline: never fetch a manifest a file points to, nor OCSP.
    settings.update({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}})
    if trust_anchors is not None:
        try:
            anchors = pathlib.Path(trust_anchors).expanduser().read_text(encoding="ascii")
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read trust anchors {trust_anchors}: {exc}") from None
        settings.update({"trust": {"user_anchors": anchors}})
    try:
        with c2pa.Context(settings=settings) as context, open(media, "rb") as stream:
            reader = c2pa.Reader.try_create(_MIME_TYPES.get(media.suffix.lower()), stream, None, context)
            if reader is None:
                return _without_manifest(media, "no C2PA manifest")
            with reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest()
    except c2pa.C2paError as exc:
        return _without_manifest(media, f"no readable C2PA manifest: {exc}")
    return _report(media, state, results, manifest)


def _without_manifest(media: pathlib.Path, problem: str) -> CredentialsReport:
    return CredentialsReport(media, False, False, False, False, None, None, None, None, None, None, (problem,))


def _report(media: pathlib.Path, state: str | None, results: dict[str, Any], manifest: dict[str, Any] | None) -> CredentialsReport:
    active = results.get("activeManifest") or {}
    failures = list(active.get("failure") or [])
    for delta in results.get("ingredientDeltas") or []:
        failures += (delta.get("validationDeltas") or {}).get("failure") or []
    broken = [f for f in failures if f.get("code") not in _TRUST_CODES]
    problems = [f"{f.get('code')}: {f.get('explanation', '')}" for f in failures]
    # c2pa-rs >= 0.68 says "Valid" when only trust failed; older ones said "Invalid": judge by the codes.
    valid = manifest is not None and not broken and (state in ("Valid", "Trusted") or (state == "Invalid" and bool(failures)))
    success = {s.get("code") for s in active.get("success") or []}
    trusted = valid and (state == "Trusted" or "signingCredential.trusted" in success)
    created = _created_action(manifest or {})
    source_type = created.get("digitalSourceType")
    ai_generated = source_type == IPTC_TRAINED_ALGORITHMIC_MEDIA
    if manifest is None:
        problems.append("the manifest store has no active manifest")
    elif not ai_generated:
        problems.append(f"no c2pa.created action with digital source type {IPTC_TRAINED_ALGORITHMIC_MEDIA}")
    parameters: dict[str, Any] = created["parameters"] if isinstance(created.get("parameters"), dict) else {}
    seed = parameters.get("seed")
    agent = created.get("softwareAgent")
    tool = f"{agent.get('name', '')} {agent.get('version', '')}".strip() if isinstance(agent, dict) else agent
    info = (manifest or {}).get("signature_info") or {}
    signer = f"{info.get('common_name', '?')} ({info.get('issuer', '?')})" if info else None
    return CredentialsReport(
        media, manifest is not None, valid, trusted, ai_generated, source_type,
        parameters.get("model") if isinstance(parameters.get("model"), dict) else None,
        seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        tool if isinstance(tool, str) else None, signer, state, tuple(problems))


def _created_action(manifest: dict[str, Any]) -> dict[str, Any]:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if action.get("action") == "c2pa.created":
                    return action
    return {}
