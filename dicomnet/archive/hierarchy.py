"""Writing one received instance into the index's patient / study / series / instance
rows, so that the rows always describe the latest data the archive received.

The rules (PS3.3 §7, the DICOM information model: a series belongs to one study, a
study to one patient):

* **Latest received wins.** Each patient, study and series row holds the attributes
  carried by the instance most recently filed that names it ("latest" is the order in
  which the index committed the instances, not any date inside them). A re-send with a
  corrected Patient Name, Study Description, Modality... updates the row.
* **An entity moves as a whole.** An instance naming its study under another Patient
  ID moves the study, with all its series and instances, to that patient; likewise a
  series naming another study moves to it, and an instance naming another series moves
  to it. The other instances of a moved study are found under the new patient from
  then on (by C-FIND and C-GET alike), and under the old one no more.
* **No empty entities.** A series left without instances, a study without series and
  a patient without studies are deleted.

All of it happens in the caller's transaction, the one that renames the file into
place, under the index's write lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock): it is held from the first read, so another writer, in this process or
another, on this machine or another, cannot change the rows between the read and the
write. The common case, the next instance of a series whose attributes have not
changed, costs one SELECT of the rows as they are and one INSERT of the instance:
rows are written only when a value differs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from dicomnet.archive.database import IndexConnection
    from dicomnet.archive.index import InstanceRecord

__all__ = ["Held", "held_rows", "write_instance"]


class Held(NamedTuple):
    """What the index holds, before a write, for the keys of an incoming instance:
    None for a row that is not there."""

    path: str | None  # the instance's current file (relative)
    series_of_instance: str | None
    series: tuple[str, ...] | None  # study_uid, modality, series_number, description
    study: tuple[str, ...] | None  # patient_id, date, time, accession, id, description,
    #                                referring physician
    patient: tuple[str, ...] | None  # name, birth date, sex


_HELD = """
SELECT i.path, i.series_uid,
       se.study_uid, se.modality, se.series_number, se.description,
       st.patient_id, st.study_date, st.study_time, st.accession_number, st.study_id,
       st.description, st.referring_physician,
       p.patient_id, p.patient_name, p.birth_date, p.sex
FROM (SELECT CAST(? AS TEXT) AS sop, CAST(? AS TEXT) AS series,
      CAST(? AS TEXT) AS study, CAST(? AS TEXT) AS patient) AS k
LEFT JOIN instance i ON i.sop_instance_uid = k.sop
LEFT JOIN series se ON se.series_uid = k.series
LEFT JOIN study st ON st.study_uid = k.study
LEFT JOIN patient p ON p.patient_id = k.patient
"""


def _text(values: tuple[object, ...]) -> tuple[str, ...]:
    return tuple("" if value is None else str(value) for value in values)


def held_rows(db: IndexConnection, sop_instance_uid: str, series_uid: str,
              study_uid: str, patient_id: str) -> Held:
    """The rows an instance with these keys would touch, in one statement."""
    row = db.execute(_HELD, (sop_instance_uid, series_uid, study_uid, patient_id)
                     ).fetchone()
    return Held(
        path=None if row[0] is None else str(row[0]),
        series_of_instance=None if row[1] is None else str(row[1]),
        # The first column of each level is NOT NULL in the schema: NULL = no row.
        series=None if row[2] is None else _text(row[2:6]),
        study=None if row[6] is None else _text(row[6:13]),
        patient=None if row[13] is None else _text(row[14:17]))


def write_instance(db: IndexConnection, r: InstanceRecord, held: Held) -> None:
    """Write ``r``'s rows by the rules of the module docstring, given ``held``, read
    in the same transaction by :func:`held_rows`."""
    patient = (r.patient_name, r.birth_date, r.sex)
    if held.patient is None:
        db.execute("INSERT INTO patient VALUES (?, ?, ?, ?)", (r.patient_id, *patient))
    elif held.patient != patient:
        db.execute("UPDATE patient SET patient_name = ?, birth_date = ?, sex = ? "
                   "WHERE patient_id = ?", (*patient, r.patient_id))
    study = (r.patient_id, r.study_date, r.study_time, r.accession_number, r.study_id,
             r.study_description, r.referring_physician)
    # Entities an instance, series or study moved away from: deleted below if empty.
    left_series, left_studies, left_patients = [], [], []
    if held.study is None:
        db.execute("INSERT INTO study VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (r.study_uid, *study))
    elif held.study != study:
        db.execute("UPDATE study SET patient_id = ?, study_date = ?, study_time = ?, "
                   "accession_number = ?, study_id = ?, description = ?, "
                   "referring_physician = ? WHERE study_uid = ?", (*study, r.study_uid))
        if held.study[0] != r.patient_id:
            left_patients.append(held.study[0])
    series = (r.study_uid, r.modality, r.series_number, r.series_description)
    if held.series is None:
        db.execute("INSERT INTO series VALUES (?, ?, ?, ?, ?)", (r.series_uid, *series))
    elif held.series != series:
        db.execute("UPDATE series SET study_uid = ?, modality = ?, series_number = ?, "
                   "description = ? WHERE series_uid = ?", (*series, r.series_uid))
        if held.series[0] != r.study_uid:
            left_studies.append(held.series[0])
    if held.series_of_instance is not None and held.series_of_instance != r.series_uid:
        left_series.append(held.series_of_instance)
    db.execute(
        "INSERT INTO instance VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sop_instance_uid) DO UPDATE SET series_uid = excluded.series_uid, "
        "sop_class_uid = excluded.sop_class_uid, "
        "instance_number = excluded.instance_number, "
        "transfer_syntax = excluded.transfer_syntax, path = excluded.path, "
        "size = excluded.size, source_ae_title = excluded.source_ae_title, "
        "received_at = excluded.received_at",
        (r.sop_instance_uid, r.series_uid, r.sop_class_uid, r.instance_number,
         r.transfer_syntax, r.path, r.size, r.source_ae_title, time.time()))
    if left_series or left_studies or left_patients:
        _delete_empty(db, left_series, left_studies, left_patients)


def _delete_empty(db: IndexConnection, series: list[str], studies: list[str],
                  patients: list[str]) -> None:
    """Delete the given entities that have nothing left under them, and then their
    parents that have nothing left either."""
    for uid in series:
        row = db.execute("DELETE FROM series WHERE series_uid = ? AND NOT EXISTS "
                         "(SELECT 1 FROM instance WHERE series_uid = ?) "
                         "RETURNING study_uid", (uid, uid)).fetchone()
        if row is not None:
            studies.append(str(row[0]))
    for uid in studies:
        row = db.execute("DELETE FROM study WHERE study_uid = ? AND NOT EXISTS "
                         "(SELECT 1 FROM series WHERE study_uid = ?) "
                         "RETURNING patient_id", (uid, uid)).fetchone()
        if row is not None:
            patients.append(str(row[0]))
    for patient_id in patients:
        db.execute("DELETE FROM patient WHERE patient_id = ? AND NOT EXISTS "
                   "(SELECT 1 FROM study WHERE patient_id = ?)", (patient_id, patient_id))
