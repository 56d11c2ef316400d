import pytest

from lungct.errors import UnknownLabelError
from lungct.labels import LABELS, label_for_folder

DATASET_FOLDERS = {
    # train/valid splits: long TNM-style names
    "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib": "adenocarcinoma",
    "large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa": "large_cell_carcinoma",
    "normal": "normal",
    "squamous.cell.carcinoma_left.hilum_T1_N2_M0_IIIa": "squamous_cell_carcinoma",
    # the official test split: short names
    "adenocarcinoma": "adenocarcinoma",
    "large.cell.carcinoma": "large_cell_carcinoma",
    "squamous.cell.carcinoma": "squamous_cell_carcinoma",
    "Normal": "normal",
}


@pytest.mark.parametrize("folder,label", DATASET_FOLDERS.items())
def test_every_dataset_folder_maps_to_its_class(folder, label):
    assert label_for_folder(folder) == label


def test_canonical_order_is_fixed():
    assert LABELS == ("adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma")


@pytest.mark.parametrize("folder", ["benign", "adeno", "large", "normality_check", ""])
def test_unknown_folder_is_an_error_naming_it(folder):
    with pytest.raises(UnknownLabelError, match=repr(folder).replace("(", r"\(")):
        label_for_folder(folder)
