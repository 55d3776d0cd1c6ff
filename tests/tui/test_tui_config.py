"""The configuration screen, driven with the pilot at 80x24: errors beside their field, TOML
errors with their line and column, secrets never shown, atomic saves that keep comments."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from rich.text import Text
from textual.widgets import OptionList, Static, TextArea

from agent.tui.app import TiebreakApp
from agent.tui.screens.config import ConfigScreen
from inventory import siren_is_valid

SIZE = (80, 24)


def config_screen(app: TiebreakApp) -> ConfigScreen:
    """The configuration screen, typed."""
    screen = app.screen
    assert isinstance(screen, ConfigScreen)
    return screen


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text."""
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


@pytest.mark.asyncio
async def test_an_invalid_siren_is_shown_beside_its_field_then_fixed_and_saved(
    tmp_path: Path, helpers: ModuleType
) -> None:
    config = helpers.write_config(tmp_path / "tiebreak.toml")
    before = config.read_text(encoding="utf-8")
    bad, good = "123456789", "200046977"
    assert not siren_is_valid(bad) and siren_is_valid(good)
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        error = screen.query_one("#error-organisation-siren", Static)
        assert not error.display
        await pilot.press("tab", "tab")  # sections -> name -> SIREN (its text selected)
        assert app.focused is not None and app.focused.id == "field-organisation-siren"
        await pilot.press(*bad)
        await pilot.pause()
        assert error.display
        assert "SIREN invalide" in text_of(error) and bad in text_of(error)
        sections = screen.query_one("#sections", OptionList)
        assert "✗1" in str(sections.get_option_at_index(0).prompt)
        assert "problème" in text_of(screen.query_one("#config-status", Static))

        await pilot.press("ctrl+s")  # refused: the file keeps its valid content
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert config.read_text(encoding="utf-8") == before

        await pilot.press("ctrl+a", "ctrl+k", *good)  # start of line, delete to its end
        await pilot.pause()
        assert not error.display
        assert "✗" not in str(sections.get_option_at_index(0).prompt)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert config_screen(app).modified is False
    saved = config.read_text(encoding="utf-8")
    assert f'siren = "{good}"' in saved
    assert saved == before.replace("213105554", good)  # only that line changed: comments stay
    assert not list(tmp_path.glob(".tiebreak.toml.*"))  # no temporary file left behind


@pytest.mark.asyncio
async def test_a_public_network_is_refused_beside_the_networks_field(
    tmp_path: Path, helpers: ModuleType
) -> None:
    config = helpers.write_config(tmp_path / "tiebreak.toml")
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down")  # Périmètre
        await pilot.press("tab", "tab")  # domains -> networks
        assert app.focused is not None and app.focused.id == "field-scope-networks"
        await pilot.press(*"8.8.8.0/24")
        await pilot.pause()
        error = app.screen.query_one("#error-scope-networks", Static)
        assert error.display
        assert "adresses publiques" in text_of(error) and "8.8.8.0/24" in text_of(error)
        assert app.config is None  # nothing can be scanned with it

        await pilot.press("ctrl+a", "ctrl+k", *"127.0.0.0/30")
        await pilot.pause()
        assert not error.display
        assert app.config is not None and app.config.scope.networks == ["127.0.0.0/30"]
        await pilot.press("ctrl+t")  # the scope's test
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = text_of(app.screen.query_one("#test-scope", Static))
        assert result.startswith("✓") and "4 adresse(s) en 1 bloc(s)" in result


@pytest.mark.asyncio
async def test_invalid_toml_names_its_line_and_column_and_is_fixed_in_the_editor(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tiebreak.toml"
    config.write_text('[organisation\nname = "Commune de Test"\n', encoding="utf-8")
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = text_of(app.screen.query_one("#config-status", Static))
        assert "TOML invalide ligne 1, colonne 14" in status
        problems = text_of(app.screen.query_one("#problems-organisation", Static))
        assert "ligne 1, colonne 14" in problems and "Fichier TOML" in problems
        await pilot.press("end")  # the last section: the TOML file
        editor = app.screen.query_one("#toml-editor", TextArea)
        assert editor.cursor_location == (0, 13)  # on the error
        assert "ligne 1, colonne 14" in text_of(app.screen.query_one("#toml-error", Static))
        await pilot.press("tab", "]")
        await pilot.pause()
        assert editor.text.startswith("[organisation]\n")
        assert app.config is not None and app.config.organisation.name == "Commune de Test"
        assert not app.screen.query_one("#toml-error", Static).display
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert config.read_text(encoding="utf-8") == '[organisation]\nname = "Commune de Test"\n'


@pytest.mark.asyncio
async def test_a_secret_typed_into_the_file_is_never_shown(tmp_path: Path) -> None:
    config = tmp_path / "tiebreak.toml"
    secret = "s3cr3t-du-jeton-0123456789"
    config.write_text(
        '[organisation]\nname = "Commune de Test"\n\n[server]\n'
        f'url = "http://127.0.0.1:9"\ntoken = "{secret}"\ntoken_file = "{tmp_path / "jeton"}"\n',
        encoding="utf-8",
    )
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(4):
            await pilot.press("down")  # Serveur
        await pilot.pause()
        problems = text_of(app.screen.query_one("#problems-server", Static))
        assert "token: clé inconnue" in problems
        assert secret not in app.export_screenshot()
        await pilot.press("end")  # the TOML file
        await pilot.pause()
        editor = app.screen.query_one("#toml-editor", TextArea)
        assert secret not in editor.text and 'token = "********"' in editor.text
        assert str(tmp_path / "jeton") in editor.text  # paths are shown
        assert secret not in app.export_screenshot()
        await pilot.press("tab", "ctrl+end", "enter", "#")  # edit elsewhere in the text
        await pilot.pause()
        assert config_screen(app).text.count(secret) == 1


@pytest.mark.asyncio
async def test_a_missing_file_starts_from_the_commented_example(tmp_path: Path) -> None:
    config = tmp_path / "nouveau.toml"
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.config is not None  # the example is valid
        assert config_screen(app).modified
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert "tiebreak config check" in config.read_text(encoding="utf-8")


@pytest.mark.asyncio
async def test_english_with_tiebreak_lang(
    tmp_path: Path, helpers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEBREAK_LANG", "en")
    config = helpers.write_config(tmp_path / "tiebreak.toml")
    app = TiebreakApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("tab", "tab", *"123")
        await pilot.pause()
        shown = app.export_screenshot()
        assert "Results" in shown and "Save" in shown and "valid" in shown.lower()
        assert "invalid SIREN" in text_of(app.screen.query_one("#error-organisation-siren", Static))
