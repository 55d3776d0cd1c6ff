"""SQLite set-up, PostgreSQL compression and the `tiebreak server` administration commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from agent.cli import main
from server import db


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_admin_commands_create_an_organisation_and_manage_its_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], french: None
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["server", "add-org", "Commune de Test", "--siren", "213105554", *data]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("tbk_")

    assert main(["server", "add-org", "Doublon", "--siren", "213105554", *data]) == 2
    assert "existe déjà" in capsys.readouterr().err
    assert main(["server", "add-org", "Faux", "--siren", "123456789", *data]) == 2
    assert "SIREN invalide" in capsys.readouterr().err

    token_file = tmp_path / "token"
    assert (
        main(["server", "tokens", "rotate", "213105554", "--token-file", str(token_file), *data])
        == 0
    )
    rotated = token_file.read_text().strip()
    assert rotated.startswith("tbk_") and rotated != token
    assert token_file.stat().st_mode & 0o077 == 0
    capsys.readouterr()

    assert main(["server", "tokens", "list", *data]) == 0
    listing = capsys.readouterr().out
    assert token[4:12] in listing and rotated[4:12] in listing
    assert token not in listing and rotated not in listing
    assert "révoqué" in listing and "actif" in listing

    assert main(["server", "tokens", "revoke", rotated[:12], *data]) == 0
    assert main(["server", "tokens", "revoke", rotated[:12], *data]) == 2
    capsys.readouterr()
    assert main(["server", "tokens", "list", "--org", "Commune de Test", *data]) == 0
    assert "actif" not in capsys.readouterr().out


def test_server_without_action_runs_the_server_on_loopback() -> None:
    from agent.cli import build_parser
    from server.cli import _run

    args = build_parser().parse_args(["server"])
    assert args.handler is _run
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8750, 1)


def test_add_user_reads_the_password_from_a_file_never_argv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], french: None
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    secret = tmp_path / "password"
    secret.write_text("un mot de passe assez long\n")
    assert main(["server", "add-org", "Commune de Test", *data]) == 0
    base = ["server", "add-user", "--password-file", str(secret), *data]
    assert main([*base, "alice", "--role", "reviewer"]) == 2
    assert "au moins une organisation" in capsys.readouterr().err
    assert main([*base, "alice", "--role", "reviewer", "--org", "Commune de Test"]) == 0
    assert main([*base, "bob", "--role", "viewer", "--org", "Inconnue"]) == 2
    assert "introuvable" in capsys.readouterr().err
    from server.security import check_password

    engine = db.make_engine(f"sqlite:///{tmp_path / 'data' / 'tiebreak.sqlite3'}")
    with engine.connect() as connection:
        stored = connection.execute(db.users.select()).one()
    assert stored.password_hash.startswith("$argon2")
    assert check_password(stored.password_hash, "un mot de passe assez long")


def test_postgresql_compresses_documents_with_lz4(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with engine.connect() as connection:
        method = connection.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'inventories'::regclass AND attname = 'document'"
        ).scalar()
    assert method == "l"


def test_the_server_imports_neither_the_agent_nor_the_probes(
    tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    import subprocess

    code = (
        "import sys, server.app, server.cli, server.migrations; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'agent', 'probes'}))"
    )
    result = subprocess.run(
        [tiebreak_cmd[0], "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]"


def test_set_parent_links_organisations_refuses_loops_and_figures_recompute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], french: None
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["server", "add-org", "Métropole", "--type", "epci", *data]) == 0
    assert main(["server", "add-org", "Commune", "--siren", "213105554", *data]) == 0
    capsys.readouterr()
    assert main(["server", "set-parent", "213105554", "Métropole", *data]) == 0
    assert "Commune est rattachée à Métropole" in capsys.readouterr().out
    assert main(["server", "set-parent", "Métropole", "Commune", *data]) == 2
    assert "boucle (Métropole → Commune → Métropole)" in capsys.readouterr().err
    assert main(["server", "set-parent", "Commune", *data]) == 0
    assert "n'a plus d'organisation parente" in capsys.readouterr().out
    assert main(["server", "recompute-figures", *data]) == 0
    assert "0 inventaire(s) validé(s) recalculé(s)" in capsys.readouterr().out
