"""The pieces under the TUI: rewriting one TOML key at a time, masking secrets, placing problems
beside their field, the view logic shared with the CLI, cancellation in the orchestrator, and the
`tiebreak tui` command line."""

from __future__ import annotations

import subprocess
import threading
import time
import tomllib
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from agent import views
from agent.display import print_summary
from agent.orchestrator import CANCELLED, PlannedProbe, run_probes
from agent.tui import document
from agent.tui.fields import KNOWN
from inventory import Category, Jurisdiction, ProbeStatus
from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext

EXAMPLE = (Path(__file__).resolve().parents[2] / "agent" / "tiebreak.example.toml").read_text(
    encoding="utf-8"
)


# -- one key at a time ----------------------------------------------------------------------


def test_setting_a_key_rewrites_only_its_line_and_keeps_every_comment() -> None:
    text, kept = document.set_key(EXAMPLE, "scope", "networks", ["127.0.0.0/30", "::1/128"])
    assert kept
    before, after = EXAMPLE.splitlines(), text.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [('networks = ["127.0.0.1/32"]', 'networks = ["127.0.0.0/30", "::1/128"]')]
    assert tomllib.loads(text)["scope"]["networks"] == ["127.0.0.0/30", "::1/128"]


def test_inline_comments_multi_line_arrays_and_new_sections() -> None:
    text = (
        '[scope]\nnetworks = [\n  "127.0.0.1/32",  # poste\n  "::1/128",\n]\nexclude = []  # rien\n'
    )
    replaced, kept = document.set_key(text, "scope", "networks", ["127.0.0.2/32"])
    assert kept and replaced == '[scope]\nnetworks = ["127.0.0.2/32"]\nexclude = []  # rien\n'
    commented, kept = document.set_key(text, "scope", "exclude", ["127.0.0.3/32"])
    assert kept and 'exclude = ["127.0.0.3/32"]  # rien' in commented
    added, kept = document.set_key(text, "server", "url", "http://127.0.0.1:8750")
    assert kept and added.endswith('\n[server]\nurl = "http://127.0.0.1:8750"\n')
    removed, kept = document.set_key(added, "server", "url", None)
    assert kept and "[server]" not in removed  # an emptied optional section goes too


def test_a_key_emptied_then_typed_again_comes_back_to_its_line() -> None:
    text = '[organisation]\nname = "X"\nsiren = "213105554"\ntype = "commune"\n'
    line = document.key_line(text, "organisation", "siren")
    empty, _ = document.set_key(text, "organisation", "siren", None)
    again, _ = document.set_key(empty, "organisation", "siren", "200046977", near=line)
    assert again == text.replace("213105554", "200046977")


def test_a_layout_it_cannot_follow_is_rewritten_from_the_data() -> None:
    text, kept = document.set_key('scope.networks = ["127.0.0.1/32"]\n', "scope", "exclude", [])
    assert not kept
    assert tomllib.loads(text) == {"scope": {"networks": ["127.0.0.1/32"], "exclude": []}}


def test_strings_are_written_as_valid_toml_whatever_they_hold() -> None:
    hostile = 'a"b\\c\x1b\n]'
    text, _ = document.set_key("[organisation]\n", "organisation", "name", hostile)
    assert tomllib.loads(text)["organisation"]["name"] == hostile


def test_secrets_are_masked_and_put_back() -> None:
    text = '[server]\ntoken = "s3cr3t"\ntoken_file = "/etc/tiebreak/jeton"\npassword="p"\n'
    masked, hidden = document.mask_secrets(text)
    assert "s3cr3t" not in masked and '"p"' not in masked
    assert 'token_file = "/etc/tiebreak/jeton"' in masked  # paths are shown
    edited = masked.replace("[server]", "[server]\nurl = 'https://tiebreak.exemple.fr'")
    assert document.unmask_secrets(edited, hidden) == text.replace(
        "[server]", "[server]\nurl = 'https://tiebreak.exemple.fr'"
    )


def test_problems_are_placed_beside_their_field(tmp_path: Path) -> None:
    text = (
        '[organisation]\nname = ""\nsiren = "123"\nfoo = 1\n[scope]\nnetworks = ["127.0.0.1/8"]\n'
        '[directory]\nurl = "ldap://127.0.0.1"\nbind_dn = "cn=lecteur"\n[inconnue]\n'
    )
    validation = document.validate(text, tmp_path / "t.toml", set(KNOWN))
    assert validation.config is None
    assert set(validation.fields) == {
        ("organisation", "name"),
        ("organisation", "siren"),
        ("scope", "networks"),
        ("directory", "bind_dn"),
    }
    assert validation.sections == {"organisation": ["foo: clé inconnue / unknown key"]}
    assert validation.general == ["[inconnue]: section inconnue / unknown section"]
    assert validation.count("organisation") == 3


def test_a_toml_error_has_its_line_and_column(tmp_path: Path) -> None:
    validation = document.validate('[scope]\nnetworks = ["a",\n', tmp_path / "t.toml", set(KNOWN))
    assert validation.toml_error is not None
    assert validation.toml_error.line == 3 and validation.toml_error.column == 1
    assert validation.toml_error.describe().startswith("TOML invalide ligne 3, colonne 1 : ")


def test_a_missing_token_file_is_a_warning_beside_its_field(tmp_path: Path) -> None:
    text = (
        '[organisation]\nname = "X"\n[server]\nurl = "http://127.0.0.1:8750"\n'
        f'token_file = "{tmp_path / "absent"}"\n'
    )
    validation = document.validate(text, tmp_path / "t.toml", set(KNOWN))
    assert validation.config is not None  # saving is allowed
    assert (
        validation.files and "fichier introuvable" in validation.fields[("server", "token_file")][0]
    )


# -- views shared with the CLI ----------------------------------------------------------------


def test_findings_are_grouped_in_the_diagnostic_order(helpers: ModuleType) -> None:
    inventory = helpers.read_inventory(helpers.JUNE)
    groups = views.group_findings(inventory.findings)
    assert [g.category for g in groups] == [
        Category.INFRASTRUCTURE,
        Category.POSTE_DE_TRAVAIL,
        Category.LOGICIEL,
    ]
    assert [g.label for g in groups] == ["Infrastructure", "Poste de travail", "Logiciels"]
    workstation = [f.product for f in groups[1].findings]
    assert workstation == ["firefox", "libreoffice"]  # non-EU before EU
    assert views.dependency_index(inventory.summary.dependency_index)[0] == ("Global", "74/100")
    assert views.jurisdiction_label(Jurisdiction.NON_EU) == "hors Europe"
    assert views.jurisdiction_style("not-a-class") == views.jurisdiction_style("unknown")


def test_search_matches_product_vendor_and_place(helpers: ModuleType) -> None:
    findings = helpers.read_inventory(helpers.JUNE).findings
    assert {f.product for f in findings if views.matches(f, "microsoft")} == {
        "entra-id",
        "exchange-online",
        "microsoft-365",
    }
    assert {f.product for f in findings if views.matches(f, "MAIRIE")} == {
        "firefox",
        "libreoffice",
    }
    eu = [f.product for f in findings if views.matches(f, "", Jurisdiction.EU)]
    assert eu == ["libreoffice"]


def test_finding_detail_has_evidence_factors_and_alternatives(
    helpers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = helpers.read_inventory(helpers.JUNE)
    exchange = next(f for f in inventory.findings if f.product == "exchange-online")
    detail = views.finding_detail(
        exchange, views.observations_by_id(inventory), {"bluemind": "BlueMind"}
    )
    assert detail.alternatives[0] == "BlueMind" and "sogo" in detail.alternatives
    assert [line.label for line in detail.factors][:2] == ["contrôle 39", "ouverture 22"]
    assert detail.evidence[0].value == "exemple-fr.mail.protection.outlook.com @ exemple.fr"
    monkeypatch.setenv("TIEBREAK_LANG", "en")
    english = views.detail_text(views.finding_detail(exchange))
    assert ("  vendor: Microsoft", "") in english
    assert ("  registered in: United States (US)", "") in english
    assert ("  controlled by: itself, no company above it", "") in english
    assert ("Alternatives", "bold") in english


def test_probe_states_say_how_a_run_ended() -> None:
    from inventory import ProbeRun

    cancelled = ProbeRun(
        name="x", status=ProbeStatus.TIMEOUT, duration_s=1, error=f"{CANCELLED} après / after 1 s"
    )
    assert views.probe_state(cancelled) == "cancelled"
    assert views.probe_state_label("cancelled") == "annulée"
    assert views.probe_state(None, started=True) == "running"
    assert views.probe_state_style("failed") == "bold red"
    assert views.duration(125) == "2 min 05 s"


def test_the_cli_summary_uses_the_shared_labels(
    helpers: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    print_summary(helpers.read_inventory(helpers.JUNE), Path("inventaire.json"))
    out = capsys.readouterr().out
    assert "terminée" in out  # the probes' status, in French
    assert "Par juridiction : hors Europe 5, Union européenne 1, communautaire 1" in out
    assert "Logiciels (3) : Exchange Online, Microsoft 365, Zoom Workplace (Meetings)" in out
    assert "Indice de dépendance : Global 74/100" in out


# -- cancellation ---------------------------------------------------------------------------


class _Waiting(Probe):
    name: ClassVar[str] = "attente"
    tags: ClassVar[frozenset[str]] = frozenset({"test"})
    channels: ClassVar[frozenset[Channel]] = frozenset(Channel)
    summary: ClassVar[str] = "finds one thing, then waits"

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        out.observe(Channel.PROCESS, ctx.hostname, "zoom")
        threading.Event().wait(60)


def test_cancelling_abandons_running_probes_and_keeps_their_observations() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    result = run_probes([PlannedProbe(_Waiting(), 60.0)], ProbeContext(), cancel=cancel)
    assert time.monotonic() - started < 1.5
    (run,) = result.runs
    assert run.status is ProbeStatus.TIMEOUT and run.observations == 1
    assert run.error is not None and run.error.startswith(CANCELLED)
    assert [o.value for o in result.observations] == ["zoom"]


# -- the command line -----------------------------------------------------------------------


def test_tui_is_a_command_with_its_options(
    tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [*tiebreak_cmd, "tui", "--help"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout and "--inventory" in result.stdout
    assert "Interface en mode texte" in result.stdout


def test_the_send_screen_counts_the_spool_in_the_units_tiebreak_status_uses(french: None) -> None:
    from datetime import UTC, datetime

    from agent.spool import MEGABYTE, SpoolEntry, SpoolState
    from agent.tui.screens.send import spool_text

    entry = SpoolEntry("a.json", 3 * MEGABYTE // 2, datetime(2026, 11, 30, tzinfo=UTC))
    state = SpoolState(Path("/x"), (entry,), 0, entry.size, 100 * MEGABYTE, 0, 0)
    # [server] spool_max_mb = 100 reads "100.0 Mo", as in `tiebreak status`, not "104.9".
    assert "1 inventaire(s) en attente (1.5 Mo sur 100.0 Mo)" in spool_text(state).plain
