"""Configuration: every kind of error names the file, the key and what to fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.config import ConfigError, effective, load_config

GOOD = """
[organisation]
name = "Commune d'Exemple"
siren = "213105554"
type = "commune"

[scope]
domains = ["exemple.fr"]
networks = ["127.0.0.0/8", "::1/128"]

[dns]
nameservers = ["127.0.0.53"]
port = 5353
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiebreak.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message  # every message names the file
    return message


def test_good_configuration_loads(tmp_path: Path) -> None:
    _, config = load_config(_write(tmp_path, GOOD))
    assert config.organisation.siren == "213105554"
    assert config.scope.networks == ["127.0.0.0/8", "::1/128"]
    assert config.dns.port == 5353


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: fichier introuvable / file not found"):
        load_config(tmp_path / "absent.toml")


def test_bad_toml_gives_its_line(tmp_path: Path) -> None:
    message = _problems(tmp_path, '[organisation]\nname = "X"\nsiren = 2131\n  = broken\n')
    assert "TOML invalide / invalid TOML" in message
    assert "line 4" in message


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD.replace("port = 5353", "nameserver = ['127.0.0.1']"))
    assert "[dns] nameserver: clé inconnue / unknown key" in message
    assert "did you mean 'nameservers'" in message


def test_unknown_section_suggests_the_closest(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD + "\n[scopes]\ndomains = []\n")
    assert "[scopes]: section inconnue / unknown section" in message
    assert "'scope'" in message


def test_bad_cidr_is_named_with_its_value(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD.replace("127.0.0.0/8", "127.0.0.0/33"))
    assert "[scope] networks[0]" in message
    assert "CIDR invalide / invalid CIDR '127.0.0.0/33'" in message


def test_bad_siren_is_named(tmp_path: Path) -> None:
    message = _problems(tmp_path, GOOD.replace("213105554", "213105555"))
    assert "[organisation] siren" in message and "Luhn" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://serveur.exemple.fr", "invalid URL"),
        ("http://", "invalid URL"),
        ("https://agent:secret@serveur.exemple.fr", "no password in the URL"),
    ],
)
def test_bad_server_url_is_named(tmp_path: Path, url: str, expected: str) -> None:
    message = _problems(tmp_path, GOOD + f'\n[server]\nurl = "{url}"\n')
    assert "[server] url" in message and expected in message


def test_missing_required_key_and_all_problems_reported_together(tmp_path: Path) -> None:
    message = _problems(tmp_path, '[organisation]\ntype = "mairie"\n[dns]\nport = 70000\n')
    assert "[organisation] name: clé obligatoire manquante / required key missing" in message
    assert "[organisation] type" in message
    assert "[dns] port" in message


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    text = (
        GOOD + '\n[directory]\nurl = "ldap://127.0.0.1:3389"\n'
        'bind_dn = "cn=lecteur,dc=exemple,dc=fr"\npassword_file = "nope.txt"\n'
    )
    message = _problems(tmp_path, text)
    assert "[directory] password_file: fichier introuvable / file not found: nope.txt" in message


def test_effective_configuration_masks_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "ldap-password"
    secret.write_text("s3cr3t-Ldap!\n", encoding="utf-8")
    secret.chmod(0o600)
    text = (
        GOOD + '\n[directory]\nurl = "ldap://127.0.0.1:3389"\n'
        f'bind_dn = "cn=lecteur,dc=exemple,dc=fr"\npassword_file = "{secret}"\n'
    )
    _, config = load_config(_write(tmp_path, text))
    assert config.directory is not None and config.directory.password() == "s3cr3t-Ldap!"
    shown = str(effective(config))
    assert "s3cr3t" not in shown and "********" in shown


def test_config_init_then_check_round_trip(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    path = tmp_path / "agent.toml"
    init = subprocess.run(
        [*tiebreak_cmd, "config", "init", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    again = subprocess.run(
        [*tiebreak_cmd, "config", "init", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert again.returncode == 2 and "existe déjà" in again.stderr
    check = subprocess.run(
        [*tiebreak_cmd, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert '"networks": [\n      "127.0.0.1/32"' in check.stdout


def test_default_config_scans_only_loopback() -> None:
    import ipaddress
    import tomllib
    from importlib.resources import files

    example = tomllib.loads(
        files("agent").joinpath("tiebreak.example.toml").read_text(encoding="utf-8")
    )
    networks = [ipaddress.ip_network(n) for n in example["scope"]["networks"]]
    assert networks and all(n.is_loopback for n in networks)


def test_bad_nameserver_and_dkim_selector_are_named_with_their_index(tmp_path: Path) -> None:
    text = GOOD.replace('nameservers = ["127.0.0.53"]', 'nameservers = ["127.0.0.53", "dns.local"]')
    message = _problems(tmp_path, text + 'dkim_selectors = ["selector1", "bad selector"]\n')
    assert "[dns] nameservers[1]: adresse IP invalide / invalid IP address 'dns.local'" in message
    assert "[dns] dkim_selectors[1]: sélecteur DKIM invalide" in message


def test_the_http_section_reaches_the_web_probe(tmp_path: Path) -> None:
    from agent.scan import probe_context

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = GOOD + f'\n[http]\nca_file = "{ca}"\ntimeout = 12\nconcurrency = 4\n'
    _, config = load_config(_write(tmp_path, text))
    ctx = probe_context(config)
    assert (ctx.http.ca_file, ctx.http.site_timeout, ctx.http.concurrency) == (ca, 12.0, 4)
    message = _problems(tmp_path, GOOD + "\n[http]\nconcurrency = 0\n")
    assert "[http] concurrency" in message
