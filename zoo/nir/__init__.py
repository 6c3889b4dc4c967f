"""NIR, the neuromorphic intermediate representation: export of chain-shaped SNNs (:mod:`.export`), a
reader that runs NIR graphs as torch modules (:mod:`.importer`) and the read-back check of a written file
against its model with every reader installed (:mod:`.check`)."""
from .export import NIRExportError, export_nir, require_nir
from .importer import NIRImportError, NIRNetwork, import_nir

__all__ = ["NIRExportError", "NIRImportError", "NIRNetwork", "export_nir", "import_nir", "require_nir"]
