"""What every generated file and filled clip says made it: the IPTC source type and the model's identity.

The container metadata (render), the signed C2PA manifest (credentials) and the clip's ``previz``
metadata (write_back) all record these; they take them from here, so the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: recording provenance never loads onnxruntime
    from .model_runtime import GeneratorModel

__all__ = ["IPTC_TRAINED_ALGORITHMIC_MEDIA", "ModelIdentity"]

# IPTC's digital source type for media a trained model made; C2PA readers show it as AI-generated.
IPTC_TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made a clip: its contract's name and version, and the sha256 of its file."""

    name: str
    version: str
    sha256: str

    @classmethod
    def of_model(cls, model: GeneratorModel) -> ModelIdentity:
        """Return the identity of a loaded model."""
        return cls(model.contract.model_name, model.contract.model_version, model.sha256)

    def to_dict(self) -> dict[str, str]:
        """Return {"name", "version", "sha256"}, as the clip's previz metadata records the model."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}
