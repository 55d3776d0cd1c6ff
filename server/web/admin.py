"""Administration pages: users (create, disable, delete, reset password, assign organisations)
and the audit log with its export. Administrators only."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
