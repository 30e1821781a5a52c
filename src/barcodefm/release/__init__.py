"""Release tooling (never travels to the Hub): model cards, ``barcodefm release`` (a checked Hub
folder, optionally pushed) and ``barcodefm convert`` (published BarcodeMamba / BarcodeMAE
checkpoints to Hub-ready folders), with the load check they share."""

from .cards import card_family, metrics_from_results, render_model_card
from .checkpoint_files import UntrustedCheckpointError, load_checkpoint
from .conversion_output import ConversionReport
from .convert_barcodemae import convert_barcodemae
from .convert_barcodemamba import convert_barcodemamba
from .hub_folder import audit_hub_folder
from .hub_upload import HubUploadError, push_folder
from .load_check import LoadCheckResult, check_barcodes, check_folder, check_folders
from .release import CardOptions, ReleaseRefusedError, ReleaseReport, load_saved_model, release_model
from .state_dict_match import StateDictMismatchError, compare_state_dicts

__all__ = [
    "CardOptions",
    "ConversionReport",
    "HubUploadError",
    "LoadCheckResult",
    "ReleaseRefusedError",
    "ReleaseReport",
    "StateDictMismatchError",
    "UntrustedCheckpointError",
    "audit_hub_folder",
    "card_family",
    "check_barcodes",
    "check_folder",
    "check_folders",
    "compare_state_dicts",
    "convert_barcodemae",
    "convert_barcodemamba",
    "load_checkpoint",
    "load_saved_model",
    "metrics_from_results",
    "push_folder",
    "release_model",
    "render_model_card",
]
