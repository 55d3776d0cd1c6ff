"""Saving and sending from the TUI, against a real `tiebreak server` started by the fixture: the
server's check, delivery through the spool with the review page, a wrong token and a stopped
server leave the inventory in the spool with a clear message."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from agent.history import load_history
from agent.tui.app import TiebreakApp

SIZE = (80, 24)
pytestmark = [pytest.mark.service, pytest.mark.slow]


def shown(app: TiebreakApp, selector: str) -> str:
    content = app.screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def server_config(tmp_path: Path, helpers: ModuleType, url: str, token: str) -> Path:
    token_file = tmp_path / "jeton"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    extra = f'\n[server]\nurl = "{url}"\ntoken_file = "{token_file}"\nretries = 0\n'
    path: Path = helpers.write_config(tmp_path / "tiebreak.toml", extra)
    return path


async def settle(app: TiebreakApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.asyncio
async def test_scan_then_send_to_the_real_server(
    tmp_path: Path, helpers: ModuleType, central_server: Any
) -> None:
    config = server_config(tmp_path, helpers, central_server.url, central_server.token)
    app = TiebreakApp(config, plan=helpers.fast_plan(timeout=0.3), clock=helpers.fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(4):
            await pilot.press("down")  # Serveur
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert shown(app, "#test-server") == (
            "✓ serveur joignable, jeton accepté (organisation : Commune de Démonstration)"
        )
        await pilot.press("f3", "ctrl+r")
        await settle(app, pilot)
        assert app.inventory is not None
        inventory_id = str(app.inventory.id)

        await pilot.press("f6")
        await settle(app, pilot)
        assert "0 inventaire(s) en attente" in shown(app, "#spool-state")
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        answer = shown(app, "#answers")
        assert answer.startswith(f"✓ Inventaire {inventory_id} envoyé, à valider sur ")
        assert central_server.url in answer
        assert "0 inventaire(s) en attente" in shown(app, "#spool-state")
        assert app.sent

        # Saving: the default name from the fixed clock, written atomically, history updated.
        output = app.screen.query_one("#output", Input)
        assert output.value == "tiebreak-commune-de-demonstration-20250602T100000Z.json"
        output.value = str(tmp_path / "inventaire.json")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert (
            shown(app, "#answers") == f"Inventaire enregistré dans {tmp_path / 'inventaire.json'}"
        )
    assert central_server.stored() == {inventory_id}
    saved = json.loads((tmp_path / "inventaire.json").read_text(encoding="utf-8"))
    assert saved["id"] == inventory_id
    assert load_history()[0].path == str(tmp_path / "inventaire.json")
    assert central_server.token not in (tmp_path / "inventaire.json").read_text(encoding="utf-8")


@pytest.mark.asyncio
async def test_a_wrong_token_then_a_stopped_server_keep_the_inventory_in_the_spool(
    tmp_path: Path, helpers: ModuleType, central_server: Any
) -> None:
    config = server_config(tmp_path, helpers, central_server.url, "tb_pas-le-bon-jeton")
    app = TiebreakApp(config, inventory_path=helpers.JUNE)
    spool = Path(os.environ["TIEBREAK_SPOOL"])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(4):
            await pilot.press("down")  # Serveur
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert shown(app, "#test-server").startswith("✗ jeton refusé par le serveur")

        await pilot.press("f6", "ctrl+o")
        await settle(app, pilot)
        answer = shown(app, "#answers")
        assert answer.startswith("… Inventaire 6a0c9d1e-3f4b-4c2d-8e7f-0a1b2c3d4e5f non envoyé")
        assert "HTTP 401" in answer and f"en attente dans {spool}" in answer
        assert "1 inventaire(s) en attente" in shown(app, "#spool-state")
        assert "tb_pas-le-bon-jeton" not in app.export_screenshot()

        central_server.stop()
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        answer = shown(app, "#answers")
        assert "serveur injoignable" in answer or "injoignable" in answer, answer
        assert "1 inventaire(s) en attente" in shown(app, "#spool-state")
        assert not app.sent
    assert [p.name for p in spool.glob("*.json")] == ["6a0c9d1e-3f4b-4c2d-8e7f-0a1b2c3d4e5f.json"]
    assert central_server.stored() == set()


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *(str(a) for a in args)], check=True, capture_output=True)


def expired_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 that expired on 1 January 2024: (CA, cert, key)."""
    directory.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", ca_key, "-out", ca,
    )  # fmt: skip
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("1000\n")
    (directory / "ca.cnf").write_text(
        f"[ca]\ndefault_ca = test\n[test]\ndatabase = {directory / 'index.txt'}\n"
        f"new_certs_dir = {directory}\nserial = {directory / 'serial'}\n"
        "default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n"
    )
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1\n"
    )
    key, csr, crt = (directory / f"server.{ext}" for ext in ("key", "csr", "crt"))
    _openssl("req", "-new", *ec, "-subj", "/CN=expired", "-keyout", key, "-out", csr)
    _openssl(
        "ca", "-batch", "-notext", "-config", directory / "ca.cnf", "-cert", ca,
        "-keyfile", ca_key, "-in", csr, "-out", crt, "-extfile", directory / "server.ext",
        "-startdate", "20230101000000Z", "-enddate", "20240101000000Z",
    )  # fmt: skip
    return ca, crt, key


@pytest.mark.asyncio
async def test_an_expired_certificate_is_named_and_the_inventory_waits(
    tmp_path: Path, helpers: ModuleType
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the expired certificate")
    ca, certificate, key = expired_certificate(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            """Present the expired certificate to whoever connects (the agent refuses it)."""
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with contextlib.suppress(OSError), connection:
                    context.wrap_socket(connection, server_side=True).close()

        threading.Thread(target=serve, daemon=True).start()
        config = server_config(tmp_path, helpers, f"https://127.0.0.1:{port}", "tb_jeton")
        text = config.read_text() + f'ca_bundle = "{ca}"\n'
        config.write_text(text)
        app = TiebreakApp(config, inventory_path=helpers.JUNE)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            for _ in range(4):
                await pilot.press("down")  # Serveur
            await pilot.press("ctrl+t")
            await settle(app, pilot)
            assert shown(app, "#test-server") == (
                "✗ certificat du serveur expiré : l'équipe du serveur doit le renouveler"
            )
            await pilot.press("f6", "ctrl+o")
            await settle(app, pilot)
            answer = shown(app, "#answers")
            assert "non envoyé (certificat du serveur expiré" in answer
            assert "1 inventaire(s) en attente" in shown(app, "#spool-state")
    spool = Path(os.environ["TIEBREAK_SPOOL"])
    assert [p.name for p in spool.glob("*.json")] == ["6a0c9d1e-3f4b-4c2d-8e7f-0a1b2c3d4e5f.json"]
