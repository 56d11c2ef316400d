"""No value that identifies a patient (DICOM PS3.15 basic confidentiality profile) leaves the handler.

CT_small.dcm carries such values; we set every profile attribute we can on copies (classified and
rejected paths alike), run them through the real handler, and look for each value in the stored
items (every attribute, recursively), in the JSON logs and in whatever went to stdout/stderr (EMF
metrics are printed there).

Exception by contract (docs/design.md): Study/Series/SOP Instance UIDs are kept to name the study.
"""
from __future__ import annotations

import io
import json
import struct

import pydicom
from pydicom.data import get_testdata_file

from lungct.keys import incoming_key

# PS3.15 Annex E basic profile attributes (non-UID), with a distinctive value each.
IDENTIFYING = {
    "PatientName": "Phiname^Zelda", "PatientID": "PID-99871234", "PatientBirthDate": "19310517",
    "PatientBirthTime": "013713", "OtherPatientIDs": "OPID-5550123", "OtherPatientNames": "Altname^Quix",
    "PatientBirthName": "Birthname^Yolo", "PatientMotherBirthName": "Mothername^Xeno",
    "PatientAddress": "17 Phi Street Springfield", "PatientTelephoneNumbers": "555-0199-321",
    "EthnicGroup": "EthGroupQQ", "Occupation": "Occup-Lion", "AdditionalPatientHistory": "hx-smoker-zz9",
    "PatientComments": "comment-phi-77", "PatientAge": "087Y", "PatientSize": "1.937", "PatientWeight": "81.77",
    "MedicalRecordLocator": "MRL-3141592", "IssuerOfPatientID": "Issuer-PHI-Q", "PatientReligiousPreference": "Relig-phi",
    "RegionOfResidence": "Region-phi", "CountryOfResidence": "Country-phi", "MilitaryRank": "Rank-phi",
    "InstitutionName": "St Phi Hospital Qq", "InstitutionAddress": "1 Clinic Rd Phiville",
    "InstitutionalDepartmentName": "Dept-Phi-Radiology", "ReferringPhysicianName": "Refdoc^Vera",
    "ReferringPhysicianAddress": "9 Referrer Lane", "ReferringPhysicianTelephoneNumbers": "555-0142-777",
    "PerformingPhysicianName": "Perfdoc^Wim", "NameOfPhysiciansReadingStudy": "Readdoc^Una",
    "PhysiciansOfRecord": "Recdoc^Tal", "OperatorsName": "Opname^Sid", "RequestingPhysician": "Reqdoc^Rho",
    "AccessionNumber": "ACC77120934", "StudyID": "STID-4242", "StudyDate": "19990303", "SeriesDate": "19990304",
    "AcquisitionDate": "19990305", "ContentDate": "19990306", "StudyTime": "101112.1314",
    "SeriesTime": "111213.1415", "AcquisitionTime": "121314.1516", "ContentTime": "131415.1617",
    "StationName": "STATION-PHI9", "DeviceSerialNumber": "DSN-0099887766", "StudyDescription": "Chest study of Zelda",
    "SeriesDescription": "Series desc phi", "ProtocolName": "Proto-phi-88", "ImageComments": "img-comment-phi",
    "DerivationDescription": "deriv-phi-desc", "PerformedProcedureStepID": "PPS-phi-31",
    "RequestedProcedureDescription": "reqproc-phi", "AdmittingDiagnosesDescription": "admit-dx-phi",
}


def _with_phi(name: str, **changes) -> bytes:
    ds = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in {**IDENTIFYING, **changes}.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _bad_rescale(data: bytes) -> bytes:
    tag = struct.pack("<HH", 0x28, 0x1053) + b"DS"
    at = data.index(tag)
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    return data[: at + 8] + b"abc".ljust(length)[:length] + data[at + 8 + length :]


def _identifying_values(data: bytes) -> set[str]:
    """Every identifying string in the file as uploaded (ours and CT_small's own), 4+ characters."""
    ds = pydicom.dcmread(io.BytesIO(data))
    values = set()
    for keyword in IDENTIFYING:
        if keyword in ds and ds.data_element(keyword).value not in (None, ""):
            text = str(ds.data_element(keyword).value)
            values.add(text)
            values.update(part for part in text.split("^") if len(part) >= 4)
    return {v for v in values if len(v) >= 4}


def test_no_identifying_dicom_value_reaches_results_logs_or_metrics(
        embedded_aws, worker, s3, bucket, study_id, json_logs, capfd):
    ct = _with_phi("CT_small.dcm", RescaleSlope="1.0")
    files = {
        "slice.dcm": ct,  # classified
        "mr.dcm": _with_phi("MR_small.dcm"),  # rejected: modality
        "no-pixels.dcm": _with_phi("CT_small.dcm", PixelData=None),  # rejected: no pixel data
        "bad-rescale.dcm": _bad_rescale(ct),  # rejected: header
    }
    secrets = set().union(*(_identifying_values(d) for d in files.values()))
    assert "Phiname^Zelda" in secrets and "19310517" in secrets and len(secrets) > 50
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=incoming_key(study_id, name), Body=data)
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)

    ctx = embedded_aws.context()
    raw_items = ctx.client("dynamodb").query(
        TableName=ctx.names.results_table, KeyConditionExpression="study_id = :s",
        ExpressionAttributeValues={":s": {"S": study_id}}, ConsistentRead=True)["Items"]
    statuses = {i["image"]["S"]: (i["status"]["S"], i.get("reason_code", {}).get("S")) for i in raw_items}
    assert statuses == {"slice.dcm": ("CLASSIFIED", None), "mr.dcm": ("REJECTED", "unsupported_modality"),
                        "no-pixels.dcm": ("REJECTED", "no_pixel_data"), "bad-rescale.dcm": ("REJECTED", "bad_header")}
    out, err = capfd.readouterr()
    haystacks = {
        "results table": json.dumps(raw_items),  # every attribute, nested maps included
        "JSON logs": "\n".join(json_logs.lines),
        "stdout/stderr (EMF metrics, prints)": out + err,
    }
    assert json_logs.lines, "the handler logged nothing; the log scan would prove nothing"
    leaks = {(where, value) for where, text in haystacks.items() for value in secrets if value in text}
    assert not leaks, f"identifying DICOM values leaked: {sorted(leaks)}"
    # What DICOM may contribute, by contract: UIDs and modality, nothing else.
    slice_item = next(i for i in raw_items if i["image"]["S"] == "slice.dcm")
    assert set(slice_item["dicom"]["M"]) <= {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality"}


def test_a_decoder_error_quoting_header_values_does_not_leak_them(embedded_aws, worker, s3, bucket, study_id,
                                                                 store, monkeypatch, json_logs):
    import lungct.inference as inference

    def leaky(data, **kwargs):  # what pydicom does: "could not convert string to float: '<value>'"
        raise ValueError(f"could not convert string to float: {IDENTIFYING['PatientName']!r}")

    monkeypatch.setattr(inference, "decode", leaky)
    s3.put_object(Bucket=bucket, Key=incoming_key(study_id, "x.dcm"), Body=_with_phi("CT_small.dcm"))
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    (result,) = store.query_study(study_id)
    assert result.reason_code == "decode_error" and "Phiname" not in json.dumps(result.to_json())
    (line,) = [e for e in json_logs.entries if e["message"] == "decoder failed; stored as rejected"]
    assert line["error_type"] == "ValueError" and line["where"].startswith("test_patient_data.py:")
    assert not any("Phiname" in text for text in json_logs.lines)
