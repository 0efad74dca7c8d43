"""Public-dataset adapters on miniature copies of their real file formats, and label maps.

Each adapter is tested twice: on an inline fixture with the dataset's exact header (always),
and on the real header and rows of ``../shared/data/public-formats/<name>/`` (skipped with a
reason when that folder is absent). The tests write 8x8 images at the paths the rows name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers_data import fake_xray, make_tree, write_dicom, write_image
from conftest import SHARED_DATA
from xraycls.data import LabelMap, label_map_preset, load_dataset
from xraycls.data._labelmap import PRESETS
from xraycls.errors import DatasetLayoutError

# RSNA's DICOM files write ages as plain numbers ("51"), which pydicom warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")

FORMATS = SHARED_DATA / "public-formats"
CLASSES = ["COVID", "Normal", "Viral Pneumonia"]


def _shared(*parts: str) -> Path:
    path = FORMATS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found (public-formats sits beside the repo in CI)")
    return path


def _png(path: Path, seed: int = 0) -> None:
    write_image(path, fake_xray(seed, (8, 8)))


def _dicom(path: Path, **tags: object) -> Path:
    return write_dicom(path, (np.arange(64, dtype=np.uint16) * 60).reshape(8, 8), **tags)


def _by_name(ds, column: str) -> dict[str, str]:
    return {Path(f).name: v for f, v in zip(ds.files, ds.column(column), strict=True)}


def _label_of(ds) -> dict[str, str]:
    return {Path(f).name: ds.class_names[k] for f, k in zip(ds.files, ds.labels, strict=True)}


def _accounted(ds, rows: int) -> None:
    """Every row is an image or in the dropped count."""
    assert ds.report is not None
    assert len(ds) + sum(ds.report.dropped_classes.values()) == rows


# ---------------------------------------------------------------- NIH ChestX-ray14

NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
)
NIH_ROWS = (
    "00000911_003.png,No Finding,3,911,16,M,PA,2048,2500,0.168,0.168\n"
    "00001409_009.png,Atelectasis|Pleural_Thickening,5,1409,51,M,PA,2992,2991,0.143,0.143\n"
    "00001471_003.png,No Finding,3,1471,42,M,AP,2500,2048,0.168,0.168\n"
    "00001471_004.png,Infiltration|Pneumonia,4,1471,42,M,AP,2500,2048,0.168,0.168\n"
    "00002000_000.png,Pneumonia,0,2000,61,F,PA,2500,2048,0.168,0.168\n"
)
# sample_labels.csv (2017): ages like 058Y, other column names.
NIH_SAMPLE = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImageWidth,OriginalImageHeight,OriginalImagePixelSpacing_x,"
    "OriginalImagePixelSpacing_y\n"
    "00000013_005.png,Emphysema|Infiltration|Pleural_Thickening|Pneumothorax,5,13,060Y,M,AP,"
    "3056,2544,0.139,0.139\n"
    "00000013_026.png,No Finding,26,13,057Y,M,AP,2500,2048,0.168,0.168\n"
    "00000017_001.png,Pneumonia,1,17,006M,F,PA,2500,2048,0.168,0.168\n"
)


def _nih(root: Path, csv_name: str, text: str, folder: str = "images_001/images") -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / csv_name).write_text(text)
    lines = text.splitlines()[1:]
    for i, line in enumerate(lines):
        _png(root / folder / line.split(",")[0], i)
    return len(lines)


def test_nih_paper_preset_multilabel_rule_and_meta(tmp_path: Path) -> None:
    n = _nih(tmp_path / "nih", "Data_Entry_2017_v2020.csv", NIH_HEADER + NIH_ROWS)
    ds = load_dataset(tmp_path / "nih", label_map="paper")
    assert ds.report is not None and ds.report.layout == "nih-cxr14"
    assert _label_of(ds) == {
        "00000911_003.png": "Normal",
        "00001471_003.png": "Normal",
        "00001471_004.png": "Viral Pneumonia",  # pneumonia with other findings
        "00002000_000.png": "Viral Pneumonia",
    }
    assert ds.report.dropped_classes == {"Atelectasis|Pleural_Thickening (not in the label map)": 1}
    _accounted(ds, n)
    assert _by_name(ds, "finding")["00001471_004.png"] == "Infiltration|Pneumonia"
    assert _by_name(ds, "age")["00000911_003.png"] == "16"
    assert _by_name(ds, "sex")["00002000_000.png"] == "F"
    assert _by_name(ds, "view")["00001471_003.png"] == "AP"
    assert set(ds.sources) == {"nih-cxr14"}
    groups = dict(zip([Path(f).name for f in ds.files], ds.groups or (), strict=True))
    assert groups["00001471_003.png"] == groups["00001471_004.png"] == "nih:00001471"


def test_nih_sample_labels_ages_and_no_label_map(tmp_path: Path) -> None:
    _nih(tmp_path / "s", "sample_labels.csv", NIH_SAMPLE, folder="images")
    ds = load_dataset(tmp_path / "s", layout="nih-cxr14")
    ages = _by_name(ds, "age")
    assert ages == {"00000013_005.png": "60", "00000013_026.png": "57", "00000017_001.png": "0.5"}
    # without a label map nothing is relabelled: NIH's own labels are the classes
    assert "Emphysema|Infiltration|Pleural_Thickening|Pneumothorax" in ds.class_names


def test_nih_missing_column_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Data_Entry_2017.csv").write_text("Image Index,Patient ID\nx.png,1\n")
    with pytest.raises(DatasetLayoutError, match=r"Data_Entry_2017\.csv:1: missing column"):
        load_dataset(tmp_path, layout="nih-cxr14")


def test_nih_real_rows(tmp_path: Path) -> None:
    text = _shared("nih-cxr14", "Data_Entry_2017_v2020.csv").read_text()
    n = _nih(tmp_path / "nih", "Data_Entry_2017_v2020.csv", text)
    ds = load_dataset(tmp_path / "nih", label_map="paper", classes=CLASSES[1:])
    assert ds.class_names == ("Normal", "Viral Pneumonia")
    _accounted(ds, n)
    for f, finding, k in zip(ds.files, ds.column("finding"), ds.labels, strict=True):
        assert ("Pneumonia" in finding.split("|")) == (ds.class_names[k] == "Viral Pneumonia"), f
    assert all(g.startswith("nih:") for g in ds.groups or ())


# ---------------------------------------------------------------- RSNA


RSNA_INFO = (
    "patientId,class\n"
    "p-0,Lung Opacity\np-0,Lung Opacity\np-1,Normal\np-2,No Lung Opacity / Not Normal\n"
)
RSNA_LABELS = (
    "patientId,x,y,width,height,Target\n"
    "p-0,264.0,152.0,213.0,379.0,1\np-0,562.0,152.0,256.0,453.0,1\np-1,,,,,0\np-2,,,,,0\n"
)


def _rsna(root: Path, info: str, labels: str) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / "stage_2_detailed_class_info.csv").write_text(info)
    (root / "stage_2_train_labels.csv").write_text(labels)
    pids = list(dict.fromkeys(ln.split(",")[0] for ln in info.splitlines()[1:]))
    for i, pid in enumerate(pids):
        _dicom(
            root / "stage_2_train_images" / f"{pid}.dcm",
            PatientAge=str(30 + i),
            PatientSex="MF"[i % 2],
            ViewPosition="PA" if i % 2 else "AP",
        )
    return len(pids)


def test_rsna_one_image_per_patient_dicom_header_and_paper(tmp_path: Path) -> None:
    n = _rsna(tmp_path / "rsna", RSNA_INFO, RSNA_LABELS)
    ds = load_dataset(tmp_path / "rsna", label_map="paper")
    assert ds.report is not None and ds.report.layout == "rsna-pneumonia"
    assert _label_of(ds) == {"p-0.dcm": "Viral Pneumonia", "p-1.dcm": "Normal"}
    assert ds.report.dropped_classes == {
        "No Lung Opacity / Not Normal (dropped by the label map)": 1
    }
    _accounted(ds, n)
    assert _by_name(ds, "age") == {"p-0.dcm": "30", "p-1.dcm": "31"}
    assert _by_name(ds, "sex") == {"p-0.dcm": "M", "p-1.dcm": "F"}
    assert _by_name(ds, "view") == {"p-0.dcm": "AP", "p-1.dcm": "PA"}
    assert _by_name(ds, "boxes") == {"p-0.dcm": "2", "p-1.dcm": "0"}
    raw = load_dataset(tmp_path / "rsna")
    assert raw.class_names == ("Normal", "Lung_Opacity", "No Lung Opacity / Not Normal")


def test_rsna_real_rows(tmp_path: Path) -> None:
    folder = _shared("rsna-pneumonia")
    info = (folder / "stage_2_detailed_class_info.csv").read_text()
    n = _rsna(tmp_path / "rsna", info, (folder / "stage_2_train_labels.csv").read_text())
    ds = load_dataset(tmp_path / "rsna", label_map="paper")
    _accounted(ds, n)
    assert ds.counts() == {"Normal": 2, "Viral Pneumonia": 2}


def test_rsna_without_pydicom_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    import sys

    from xraycls.errors import DependencyError

    _rsna(tmp_path / "rsna", RSNA_INFO, RSNA_LABELS)
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(DependencyError, match=r"xraycls\[dicom\]"):
        load_dataset(tmp_path / "rsna")


# ---------------------------------------------------------------- COVIDx


def test_covidx_split_files(tmp_path: Path) -> None:
    root = tmp_path / "covidx"
    lines = {
        "train": ["3 a.png pneumonia cohen", "5 b.jpg COVID-19 sirm", "7 c d.png normal rsna"],
        "test": ["9 e.png normal rsna", "11 f.png negative bimcv"],
    }
    for split, rows in lines.items():
        root.mkdir(exist_ok=True)
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
        for i, row in enumerate(rows):
            _png(root / split / " ".join(row.split()[1:-2]), i)
    ds = load_dataset(root, label_map="paper")
    assert ds.report is not None and ds.report.layout == "covidx"
    assert _label_of(ds) == {
        "a.png": "Viral Pneumonia",
        "b.jpg": "COVID",
        "c d.png": "Normal",
        "e.png": "Normal",
    }
    assert ds.report.dropped_classes == {"negative (dropped by the label map)": 1}
    assert _by_name(ds, "source")["b.jpg"] == "sirm"
    assert _by_name(ds, "split")["e.png"] == "test"
    assert set(ds.groups or ()) == {"3", "5", "7", "9"}
    (root / "test.txt").write_text("only-two-fields x.png\n")
    with pytest.raises(DatasetLayoutError, match=r"test\.txt:1"):
        load_dataset(root, layout="covidx")


# ---------------------------------------------------------------- CheXpert

CHEXPERT_HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"
)
CHEXPERT_ROWS = (
    "CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Female,38,Frontal,PA,,,,1.0,,,,1.0,,,,,,\n"
    "CheXpert-v1.0-small/train/patient2/study1/view1_frontal.jpg,Female,77,Frontal,AP,,,,,,,,-1.0,,,,,,1.0\n"
    "CheXpert-v1.0-small/train/patient3/study1/view1_frontal.jpg,Male,90,Frontal,AP,,,,,,,,0.0,,,1.0,,,\n"
    "CheXpert-v1.0-small/train/patient4/study1/view1_frontal.jpg,Female,71,Frontal,AP,1.0,,,,,,,,,,,,,\n"
    "CheXpert-v1.0-small/train/patient4/study1/view2_lateral.jpg,Female,71,Lateral,,1.0,,,,,,,,,,,,,\n"
)


def _chexpert(root: Path, text: str) -> int:
    inner = root / "CheXpert-v1.0-small"
    inner.mkdir(parents=True, exist_ok=True)
    (inner / "train.csv").write_text(text)
    lines = text.splitlines()[1:]
    for i, line in enumerate(lines):
        _png(root / line.split(",")[0], i)
    return len(lines)


@pytest.mark.parametrize("where", ["outer", "inner"])
def test_chexpert_uncertain_drop_and_laterals(tmp_path: Path, where: str) -> None:
    n = _chexpert(tmp_path / "cx", CHEXPERT_HEADER + CHEXPERT_ROWS)
    path = tmp_path / "cx" if where == "outer" else tmp_path / "cx" / "CheXpert-v1.0-small"
    ds = load_dataset(path, label_map="paper")
    assert ds.report is not None and ds.report.layout == "chexpert"
    labels = {Path(f).parts[-3]: c for f, c in zip(ds.files, ds.column("finding"), strict=True)}
    assert set(labels) == {"patient1", "patient4"}
    assert ds.counts() == {"Normal": 1, "Viral Pneumonia": 1}
    assert ds.report.dropped_classes == {
        "lateral view": 1,
        "uncertain Pneumonia": 1,
        "Pleural Effusion (not in the label map)": 1,
    }
    _accounted(ds, n)
    assert set(ds.column("sex")) == {"F"}
    assert sorted(ds.column("age")) == ["38", "71"]
    assert sorted(ds.column("view")) == ["AP", "PA"]
    assert sorted(ds.groups or ()) == ["patient1", "patient4"]


def test_chexpert_uncertain_positive(tmp_path: Path) -> None:
    _chexpert(tmp_path / "cx", CHEXPERT_HEADER + CHEXPERT_ROWS)
    paper = label_map_preset("paper", "chexpert")
    lm = LabelMap(paper.mapping, uncertain="positive")
    ds = load_dataset(tmp_path / "cx", label_map=lm)
    assert ds.counts() == {"Normal": 1, "Viral Pneumonia": 2}
    neg = load_dataset(tmp_path / "cx", label_map=LabelMap(paper.mapping, uncertain="negative"))
    assert neg.report is not None
    assert neg.report.dropped_classes["Support Devices (not in the label map)"] == 1


def test_chexpert_real_header(tmp_path: Path) -> None:
    text = _shared("chexpert", "train.csv").read_text()
    n = _chexpert(tmp_path / "cx", text)
    ds = load_dataset(tmp_path / "cx", label_map="paper")
    _accounted(ds, n)
    assert ds.report is not None
    assert ds.report.dropped_classes["lateral view"] == 4
    assert ds.counts() == {"Normal": 4, "Viral Pneumonia": 4}


# ---------------------------------------------------------------- PadChest

PADCHEST_HEADER = (
    "ImageID,ImageDir,StudyDate_DICOM,StudyID,PatientID,PatientBirth,PatientSex_DICOM,"
    "ViewPosition_DICOM,Projection,MethodProjection,Pediatric,Modality_DICOM,Report,"
    "MethodLabel,Labels,Localizations\n"
)
PADCHEST_ROWS = (
    "a.png,28,20120528,s1,pat1,1971.0,M,POSTEROANTERIOR,PA,Manual,No,CR,x,RNN,"
    "['normal'],[]\n"
    "b.png,3,20150521,s2,pat2,1939.0,F,nan,AP_horizontal,Manual,No,CR,x,RNN,"
    "\"['alveolar pattern', ' pneumonia']\",[]\n"
    "c.png,10,20150520,s3,pat2,1939.0,F,nan,L,Manual,No,CR,x,RNN,['pneumonia'],[]\n"
    "d.png,5,20170101,s4,pat3,2012.0,F,nan,PA,Manual,Yes,CR,x,RNN,"
    "\"['COVID 19', 'pneumonia']\",[]\n"
    "e.png,5,20170101,s5,pat4,1950.0,M,nan,PA,Manual,No,CR,x,RNN,['exclude'],[]\n"
)


def _padchest(root: Path, text: str, name: str) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    for i, row in enumerate(rows):
        _png(root / row["ImageDir"].split(".")[0] / row["ImageID"], i)
    return len(rows)


@pytest.mark.parametrize("index_column", [False, True])
def test_padchest_labels_age_projection(tmp_path: Path, index_column: bool) -> None:
    text = PADCHEST_HEADER + PADCHEST_ROWS
    if index_column:
        text = (
            "\n".join(("," if i == 0 else f"{i},") + ln for i, ln in enumerate(text.splitlines()))
            + "\n"
        )
    n = _padchest(tmp_path / "pc", text, "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv")
    ds = load_dataset(tmp_path / "pc", label_map="paper")
    assert ds.report is not None and ds.report.layout == "padchest"
    assert _label_of(ds) == {"a.png": "Normal", "b.png": "Viral Pneumonia", "d.png": "COVID"}
    assert ds.report.dropped_classes == {"lateral view": 1, "exclude (not in the label map)": 1}
    _accounted(ds, n)
    assert _by_name(ds, "age") == {"a.png": "41", "b.png": "76", "d.png": "5"}
    assert _by_name(ds, "pediatric")["d.png"] == "Yes"
    assert _by_name(ds, "view")["b.png"] == "AP_HORIZONTAL"
    assert _by_name(ds, "finding")["a.png"] == "['normal']"


@pytest.mark.parametrize(
    "labels, what",
    [
        ("\"['normal'\"", "not a Python list"),
        ('"[1, 2]"', "not a Python list"),
        ("\"__import__('os')\"", "not a Python list"),
        ("\"['" + "x" * 5000 + "']\"", "characters long"),
    ],
)
def test_padchest_bad_labels_name_file_and_line(tmp_path: Path, labels: str, what: str) -> None:
    row = f"a.png,1,20120528,s1,p1,1971.0,M,nan,PA,Manual,No,CR,x,RNN,{labels},[]\n"
    _padchest(tmp_path / "pc", PADCHEST_HEADER + row, "labels.csv")
    with pytest.raises(DatasetLayoutError, match=rf"labels\.csv:2: Labels .*{what}"):
        load_dataset(tmp_path / "pc", layout="padchest")


def test_padchest_real_rows(tmp_path: Path) -> None:
    src = next(_shared("padchest").glob("*.csv"))
    n = _padchest(tmp_path / "pc", src.read_text(), src.name)
    ds = load_dataset(tmp_path / "pc", label_map="paper", classes=CLASSES[1:])
    _accounted(ds, n)
    assert ds.counts()["Normal"] == 6 and ds.counts()["Viral Pneumonia"] == 3
    assert ds.report is not None and ds.report.dropped_classes["lateral view"] == 7


# ---------------------------------------------------------------- ieee8023

IEEE_HEADER = (
    "patientid,offset,sex,age,finding,RT_PCR_positive,survival,intubated,intubation_present,"
    "went_icu,in_icu,needed_supplemental_O2,extubated,temperature,pO2_saturation,"
    "leukocyte_count,neutrophil_count,lymphocyte_count,view,modality,date,location,folder,"
    "filename,doi,url,license,clinical_notes,other_notes,Unnamed: 29\n"
)


def test_ieee8023_old_and_new_finding_schema(tmp_path: Path) -> None:
    root = tmp_path / "covid-chestxray-dataset"
    rows = [
        ("2", "M", "65", "COVID-19", "PA", "X-ray", "a.jpg"),
        ("3", "F", "52", "Pneumonia/Viral/COVID-19", "AP", "X-ray", "b.png"),
        ("4", "M", "", "Pneumonia/Viral/SARS", "PA", "X-ray", "c.png"),
        ("5", "F", "40", "Pneumonia/Bacterial/Streptococcus", "PA", "X-ray", "d.png"),
        ("6", "F", "33", "No Finding", "PA", "X-ray", "e.png"),
        ("6", "F", "33", "COVID-19", "", "CT", "f.png"),
    ]
    lines = [IEEE_HEADER.strip()]
    for i, (pid, sex, age, finding, view, modality, name) in enumerate(rows):
        lines.append(
            f"{pid},0,{sex},{age},{finding},Y,,,,,,,,,,,,,{view},{modality},2020,x,images,{name},,,,,,"
        )
        _png(root / "images" / name, i)
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(root, label_map="paper")
    assert ds.report is not None and ds.report.layout == "ieee8023"
    assert _label_of(ds) == {
        "a.jpg": "COVID",
        "b.png": "COVID",
        "c.png": "Viral Pneumonia",
        "e.png": "Normal",
    }
    assert ds.report.dropped_classes == {
        "modality CT": 1,
        "Pneumonia/Bacterial/Streptococcus (not in the label map)": 1,
    }
    _accounted(ds, len(rows))
    assert _by_name(ds, "age") == {"a.jpg": "65", "b.png": "52", "c.png": "unknown", "e.png": "33"}
    assert _by_name(ds, "view")["b.png"] == "AP"
    assert _by_name(ds, "finding")["b.png"] == "Pneumonia/Viral/COVID-19"


# ---------------------------------------------------------------- VinDr-CXR

VINDR_ROWS = (
    "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
    "aaa,No finding,14,R1,,,,\naaa,No finding,14,R2,,,,\naaa,No finding,14,R3,,,,\n"
    "bbb,Consolidation,4,R4,104.0,204.0,404.0,504.0\nbbb,No finding,14,R6,,,,\n"
    "ccc,No finding,14,R1,,,,\n"
)


def _vindr(root: Path, text: str, dicom: bool = False) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.csv").write_text(text)
    ids = list(dict.fromkeys(ln.split(",")[0] for ln in text.splitlines()[1:]))
    for i, image in enumerate(ids):
        if dicom:
            _dicom(root / "train" / f"{image}.dicom", PatientAge="058Y", PatientSex="F")
        else:
            _png(root / "train" / f"{image}.png", i)
    return len(ids)


def test_vindr_normal_only_by_consensus(tmp_path: Path) -> None:
    n = _vindr(tmp_path / "vindr", VINDR_ROWS)
    ds = load_dataset(tmp_path / "vindr", label_map="paper")
    assert ds.report is not None and ds.report.layout == "vindr-cxr"
    assert _label_of(ds) == {"aaa.png": "Normal", "ccc.png": "Normal"}
    assert ds.report.dropped_classes == {"Consolidation|No finding (Normal with other findings)": 1}
    _accounted(ds, n)
    assert len(set(ds.groups or ())) == len(ds)  # no patient ids: one group per image


def test_vindr_dicom_header(tmp_path: Path) -> None:
    _vindr(tmp_path / "vindr", VINDR_ROWS, dicom=True)
    ds = load_dataset(tmp_path / "vindr", label_map="paper", verify=False)
    assert set(ds.column("age")) == {"58"} and set(ds.column("sex")) == {"F"}


def test_vindr_real_rows(tmp_path: Path) -> None:
    n = _vindr(tmp_path / "vindr", _shared("vindr-cxr", "train.csv").read_text())
    ds = load_dataset(tmp_path / "vindr", label_map="paper")
    _accounted(ds, n)
    assert ds.counts() == {"Normal": 4}


# ---------------------------------------------------------------- IU X-ray

IU_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <uId id="CXR{n}"/>
   <MeSH>
      {majors}
   </MeSH>
   <parentImage id="CXR{n}_IM-000{n}-1001"><url>/x/CXR{n}_IM-000{n}-1001.jpg</url></parentImage>
   <parentImage id="CXR{n}_IM-000{n}-2001"><url>/x/CXR{n}_IM-000{n}-2001.jpg</url></parentImage>
</eCitation>
"""


def _iu_images(root: Path) -> int:
    import re

    count = 0
    for xml in (root / "ecgen-radiology").glob("*.xml"):
        for image in re.findall(r'parentImage id="([^"]+)"', xml.read_text()):
            _png(root / "NLMCXR_png" / f"{image}.png", count)
            count += 1
    return count


def test_iu_xray_reports(tmp_path: Path) -> None:
    reports = tmp_path / "iu" / "ecgen-radiology"
    reports.mkdir(parents=True)
    (reports / "1.xml").write_text(IU_XML.format(n=1, majors="<major>normal</major>"))
    (reports / "2.xml").write_text(
        IU_XML.format(n=2, majors="<major>Opacity/lung/base</major><major>Pneumonia</major>")
    )
    n = _iu_images(tmp_path / "iu")
    ds = load_dataset(tmp_path / "iu", label_map="paper")
    assert ds.report is not None and ds.report.layout == "iu-xray"
    assert ds.counts() == {"Normal": 2}
    assert ds.groups == ("CXR1", "CXR1")
    assert ds.report.dropped_classes == {"Opacity/lung/base|Pneumonia (not in the label map)": 2}
    _accounted(ds, n)


def test_iu_xray_real_reports(tmp_path: Path) -> None:
    shutil.copytree(_shared("iu-xray", "ecgen-radiology"), tmp_path / "iu" / "ecgen-radiology")
    n = _iu_images(tmp_path / "iu")
    ds = load_dataset(tmp_path / "iu", label_map="paper")
    _accounted(ds, n)
    assert ds.counts() == {"Normal": 2}
    assert set(ds.groups or ()) == {"CXR1"}


# ---------------------------------------------------------------- Kaggle v2 keeps Lung_Opacity


def test_kaggle_v2_keeps_lung_opacity_when_asked(tmp_path: Path) -> None:
    make_tree(
        tmp_path / "k",
        {"COVID": 2, "Normal": 2, "Viral Pneumonia": 1, "Lung_Opacity": 3},
        sub="images",
    )
    ds = load_dataset(
        tmp_path / "k", classes=["COVID", "Normal", "Viral Pneumonia", "Lung_Opacity"]
    )
    assert ds.report is not None and ds.report.layout == "kaggle-v2"
    assert ds.counts() == {"COVID": 2, "Normal": 2, "Viral Pneumonia": 1, "Lung_Opacity": 3}
    paper = load_dataset(tmp_path / "k", label_map="paper")
    assert paper.report is not None
    assert paper.report.dropped_classes == {"Lung_Opacity (dropped by the label map)": 3}


# ---------------------------------------------------------------- label maps

FINDINGS = [
    "No Finding",
    "Pneumonia",
    "COVID-19",
    "Infiltration",
    "Effusion",
    "normal",
    "Lung Opacity",
    "Pneumonia/Viral/SARS",
    "exclude",
    "negative",
]


@settings(max_examples=300, deadline=None)
@given(
    layout=st.sampled_from(sorted(PRESETS["paper"])),
    findings=st.lists(st.sampled_from(FINDINGS), max_size=5),
    uncertain=st.lists(st.sampled_from(FINDINGS), max_size=2),
    policy=st.sampled_from(["drop", "positive", "negative"]),
)
def test_every_row_ends_in_one_class_or_a_counted_drop(
    layout: str, findings: list[str], uncertain: list[str], policy: str
) -> None:
    preset = label_map_preset("paper", layout)
    lm = LabelMap(preset.mapping, uncertain=policy)
    cls, reason = lm.resolve(findings, uncertain)
    assert (cls is None) != (reason == "")
    if cls is not None:
        assert cls in CLASSES
        effective = set(findings) | (set(uncertain) if policy == "positive" else set())
        if any(lm.lookup(f) == (True, "COVID") for f in effective):
            assert cls == "COVID"  # the stated rule: a COVID finding wins
        if cls == "Normal":
            assert all(lm.lookup(f) == (True, "Normal") for f in effective)


@given(findings=st.lists(st.text(max_size=8), max_size=4))
def test_keep_unmapped_keeps_the_raw_label(findings: list[str]) -> None:
    cls, reason = LabelMap({}, keep_unmapped=True).resolve(findings)
    kept = [f.strip() for f in dict.fromkeys(x.strip() for x in findings) if f.strip()]
    assert (cls, reason) == (("|".join(kept), "") if kept else (None, "no finding"))


def test_label_map_round_trip_and_errors() -> None:
    lm = LabelMap({"Pneumonia/Viral/*": "Viral Pneumonia"}, name="x", uncertain="positive")
    assert LabelMap.from_dict(lm.to_dict()) == lm
    from xraycls.errors import ConfigError

    with pytest.raises(ConfigError, match="'colour'"):
        LabelMap.from_dict({"mapping": {}, "colour": 1})
    with pytest.raises(ConfigError, match="uncertain"):
        LabelMap({}, uncertain="maybe")
    with pytest.raises(ConfigError, match="preset"):
        label_map_preset("nope", "nih-cxr14")
    assert LabelMap({"A": "X", "B": "Y"}).resolve(["A", "B"])[0] is None  # conflicting


# ---------------------------------------------------------------- hostile / broken input


def test_unreadable_csv_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "nih"
    _nih(root, "Data_Entry_2017_v2020.csv", NIH_HEADER + NIH_ROWS)
    text = (root / "Data_Entry_2017_v2020.csv").read_bytes()
    (root / "Data_Entry_2017_v2020.csv").write_bytes(text + b'x.png,"No Finding,0,1\n')
    with pytest.raises(DatasetLayoutError, match=r"Data_Entry_2017_v2020\.csv:7: malformed CSV"):
        load_dataset(root)
    (root / "Data_Entry_2017_v2020.csv").write_bytes(text + b"x.png" + b",1" * 20 + b"\n")
    with pytest.raises(DatasetLayoutError, match=r"csv:7: 21 fields for 11 columns"):
        load_dataset(root)


def test_broken_dicom_is_a_bad_file_not_a_crash(tmp_path: Path) -> None:
    _rsna(tmp_path / "rsna", RSNA_INFO, RSNA_LABELS)
    (tmp_path / "rsna" / "stage_2_train_images" / "p-1.dcm").write_bytes(b"not a dicom")
    with pytest.raises(DatasetLayoutError, match=r"p-1\.dcm"):
        load_dataset(tmp_path / "rsna", label_map="paper", verify=False)
    with pytest.warns(UserWarning, match="left out 1 bad file"):
        ds = load_dataset(tmp_path / "rsna", label_map="paper", on_error="skip", verify=False)
    assert ds.counts() == {"Viral Pneumonia": 1}


def test_missing_images_are_reported(tmp_path: Path) -> None:
    n = _nih(tmp_path / "nih", "Data_Entry_2017_v2020.csv", NIH_HEADER + NIH_ROWS)
    (tmp_path / "nih" / "images_001" / "images" / "00002000_000.png").unlink()
    with pytest.warns(UserWarning):
        ds = load_dataset(tmp_path / "nih", on_error="skip")
    assert ds.report is not None and len(ds) == n - 1
    assert "00002000_000.png" in ds.report.skipped[0][0]
