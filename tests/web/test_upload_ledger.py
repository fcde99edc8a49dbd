"""The upload ledger on its own: keys used once, quotas, release and expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lookalike.adapters.upload_ledger import KeyUsed, OverQuota, Quota, UploadLedger


def test_a_key_is_used_once_even_after_its_photo_is_deleted(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "ledger.sqlite")
    later = time.time() + 300
    ledger.claim("uploads/a", "c1", 10, later)
    ledger.release("uploads/a")  # matched and deleted
    with pytest.raises(KeyUsed):
        ledger.claim("uploads/a", "c1", 10, later)
    assert UploadLedger(tmp_path / "ledger.sqlite").waiting_bytes() == 0  # another process sees the same


def test_quotas_count_only_photos_still_on_disk(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "ledger.sqlite")
    later, quota = time.time() + 300, Quota(per_client=100, total=150)
    ledger.claim("uploads/1", "c1", 60, later, quota)
    with pytest.raises(OverQuota) as over:
        ledger.claim("uploads/2", "c1", 60, later, quota)
    assert over.value.scope == "client" and 1 <= over.value.retry_after <= 300
    ledger.claim("uploads/3", "c2", 60, later, quota)
    with pytest.raises(OverQuota) as full:
        ledger.claim("uploads/4", "c3", 60, later, quota)
    assert full.value.scope == "total"
    ledger.release("uploads/1")
    ledger.claim("uploads/4", "c3", 60, later, quota)
    assert ledger.waiting_bytes() == 120 and ledger.waiting_bytes("c1") == 0


def test_expired_uploads_still_on_disk_are_listed_for_the_sweep(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "ledger.sqlite")
    ledger.claim("uploads/old", "c", 1, time.time() - 1)
    ledger.claim("uploads/new", "c", 1, time.time() + 300)
    ledger.claim("uploads/gone", "c", 1, time.time() - 1)
    ledger.release("uploads/gone")
    assert ledger.expired_waiting() == ["uploads/old"]
