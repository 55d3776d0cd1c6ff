"""Configuration the agent can trust (issue 10, items 9 and 10).

As root, tiebreak never reads a configuration, token, password or CA file that another user owns
or can change (GLPI Agent CVE-2024-28240: a planted ./tiebreak.toml sent the real token to an
attacker's server). A directory URL carries no secret in a query, extension, userinfo or fragment;
the organisation name obeys the contract's limit; a deeply nested TOML file, a NaN, infinite,
negative or zero timeout, and a boolean port are configuration errors naming their key.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from agent import config as agent_config
from agent.config import ConfigError, load_config, parse_config
from inventory import Organisation
from inventory.limits import ORGANISATION_NAME_MAX

NOBODY = 65534

GOOD = """
[organisation]
name = "Commune d'Exemple"
siren = "213105554"

[scope]
domains = ["exemple.fr"]
networks = ["127.0.0.0/8"]
"""

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the trust checks apply to root")


def _private_dir(tmp_path: Path, name: str = "etc") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def _file(folder: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _refused(path: Path | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def _with_server(folder: Path, token: Path, extra: str = "") -> Path:
    text = GOOD + f'\n[server]\nurl = "https://127.0.0.1:9"\ntoken_file = "{token}"\n'
    return _file(folder, "agent.toml", text + extra, 0o644)


# --- item 9: files owned or writable by another user, as root -----------------------------------


@as_root
def test_planted_config_in_world_writable_current_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = _private_dir(tmp_path)
    token = _file(secrets, "agent-token", "real-token\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    planted = shared / "tiebreak.toml"
    planted.write_text(
        GOOD + f'\n[server]\nurl = "https://127.0.0.1:9"\ntoken_file = "{token}"\n',
        encoding="utf-8",
    )
    os.chown(planted, NOBODY, NOBODY)
    monkeypatch.chdir(shared)
    message = _refused(None)
    assert "tiebreak.toml" in message
    assert "65534" in message and "owned by" in message and "appartient" in message
    assert "writable by other users" in message  # and the directory is named too
    assert str(shared) in message


@as_root
def test_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    config = _file(_private_dir(tmp_path), "agent.toml", GOOD, 0o644)
    os.chown(config, NOBODY, NOBODY)
    message = _refused(config)
    assert f"{config}: " in message and "owned by uid 65534" in message


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o664])
@as_root
def test_config_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    config = _file(_private_dir(tmp_path), "agent.toml", GOOD, mode)
    message = _refused(config)
    assert str(config) in message
    assert "modifiable par d'autres utilisateurs / writable by other users" in message


@as_root
def test_config_in_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    folder = _private_dir(tmp_path)
    config = _file(folder, "agent.toml", GOOD, 0o644)
    folder.chmod(0o777)
    message = _refused(config)
    assert f"dossier / directory {folder}" in message and "writable by other users" in message


@as_root
def test_config_under_a_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    outer = _private_dir(tmp_path, "home")
    inner = _private_dir(outer, "etc")
    config = _file(inner, "agent.toml", GOOD, 0o644)
    os.chown(outer, NOBODY, NOBODY)  # nobody can rename `etc` away and put their own in its place
    message = _refused(config)
    assert f"dossier / directory {outer}" in message and "owned by uid 65534" in message


@as_root
def test_config_reached_through_a_symlink_of_another_user_is_refused(tmp_path: Path) -> None:
    config = _file(_private_dir(tmp_path), "agent.toml", GOOD, 0o644)
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    link = sticky / "agent.toml"
    link.symlink_to(config)
    os.lchown(link, NOBODY, NOBODY)  # its owner can point it elsewhere at any time
    message = _refused(link)
    assert str(link) in message and "owned by uid 65534" in message


@as_root
def test_root_owned_config_in_a_sticky_shared_directory_is_trusted(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: others cannot rename or delete root's files
    _, config = load_config(_file(sticky, "agent.toml", GOOD, 0o644))
    assert config.organisation.name == "Commune d'Exemple"


@pytest.mark.parametrize("key", ["token_file", "ca_bundle", "password_file"])
@pytest.mark.parametrize("attack", ["owner", "mode", "directory"])
@as_root
def test_untrusted_token_password_or_ca_file_is_refused(
    tmp_path: Path, key: str, attack: str
) -> None:
    etc = _private_dir(tmp_path)
    other = _private_dir(tmp_path, "other")
    token = _file(etc, "agent-token", "real-token\n")
    target = _file(other, "target", "content\n", 0o600)
    if attack == "owner":
        os.chown(target, NOBODY, NOBODY)
    elif attack == "mode":
        target.chmod(0o622)
    else:
        other.chmod(0o777)
    if key == "token_file":
        config = _with_server(etc, target)
    elif key == "ca_bundle":
        config = _with_server(etc, token, f'ca_bundle = "{target}"\n')
    else:
        ldap = (
            '\n[directory]\nurl = "ldap://127.0.0.1:3389"\n'
            f'bind_dn = "cn=lecteur,dc=exemple,dc=fr"\npassword_file = "{target}"\n'
        )
        config = _file(etc, "agent.toml", GOOD + ldap, 0o644)
    message = _refused(config)
    section = "[directory]" if key == "password_file" else "[server]"
    assert f"{section} {key}: " in message
    assert str(target if attack != "directory" else other) in message
    assert "refusé en root / refused as root" in message


@as_root
def test_every_untrusted_file_is_reported_at_once(tmp_path: Path) -> None:
    etc = _private_dir(tmp_path)
    token = _file(etc, "agent-token", "t\n", 0o666)
    ca = _file(etc, "ca.pem", "ca\n", 0o644)
    os.chown(ca, NOBODY, NOBODY)
    config = _with_server(etc, token, f'ca_bundle = "{ca}"\n')
    message = _refused(config)
    assert "[server] token_file" in message and "[server] ca_bundle" in message


@as_root
def test_token_file_readable_by_others_only_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    etc = _private_dir(tmp_path)
    token = _file(etc, "agent-token", "real-token\n", 0o644)
    _, config = load_config(_with_server(etc, token))
    assert config.server is not None
    warning = capsys.readouterr().err
    assert str(token) in warning and "[server] token_file" in warning
    assert "lisible par d'autres utilisateurs / readable by other users" in warning
    token.chmod(0o600)
    load_config(_with_server(etc, token))
    assert capsys.readouterr().err == ""


@as_root
def test_secret_read_refuses_a_file_swapped_after_the_check(tmp_path: Path) -> None:
    etc = _private_dir(tmp_path)
    secret = _file(etc, "ldap-password", "s3cr3t\n")
    read_secret_file = agent_config.read_secret_file
    assert read_secret_file(secret) == "s3cr3t"
    os.chown(secret, NOBODY, NOBODY)
    with pytest.raises(OSError, match="owned by uid 65534"):
        read_secret_file(secret)


def test_files_of_other_users_are_fine_when_not_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = _private_dir(tmp_path)
    token = _file(etc, "agent-token", "t\n")
    config = _with_server(etc, token)
    if os.geteuid() == 0:
        os.chown(config, NOBODY, NOBODY)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    load_config(config)


@as_root
def test_config_init_does_not_follow_a_planted_symlink(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    victim = tmp_path / "victim"
    planted = tmp_path / "tiebreak.toml"
    planted.symlink_to(victim)  # dangling: `exists()` is False
    result = subprocess.run(
        [*tiebreak_cmd, "config", "init", str(planted)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert result.returncode == 2, result.stdout
    assert not victim.exists()
    assert stat.S_ISLNK(planted.lstat().st_mode)


# --- item 10 (a): no secret in a URL -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ldap://dc/????X-BINDPW=secret",
        "ldap://dc/dc=exemple,dc=fr?cn?sub?(cn=*)?bindname=cn=admin,X-BINDPW=secret",
        "ldap://dc/?secret",
        "ldap://dc/?",
        "ldaps://admin:secret@dc",
        "ldap://secret@dc",
        "ldap://dc/#secret",
        "ldap://dc/dc=fr\tsecret",
    ],
)
def test_directory_url_that_could_carry_a_secret_is_refused(url: str) -> None:
    data = {"organisation": {"name": "X"}, "directory": {"url": url}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "[directory] url: " in message
    assert "secret" not in message  # the refusal never echoes the secret


@pytest.mark.parametrize(
    "url",
    [
        "https://serveur.exemple.fr/?token=secret",
        "https://secret@serveur.exemple.fr",
        "http://s/#x",
    ],
)
def test_server_url_that_could_carry_a_secret_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[server\] url: ") as caught:
        parse_config({"organisation": {"name": "X"}, "server": {"url": url}})
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["ldap://127.0.0.1:3389", "ldaps://dc.exemple.fr/dc=exemple,dc=fr", "ldap://[::1]/"]
)
def test_plain_directory_urls_are_accepted(url: str) -> None:
    config = parse_config({"organisation": {"name": "X"}, "directory": {"url": url}})
    assert config.directory is not None and config.directory.url == url


# --- item 10 (b): the contract's limits, from one source -----------------------------------------


def test_organisation_name_limit_is_the_contracts(tmp_path: Path) -> None:
    longest = "é" * ORGANISATION_NAME_MAX
    config = parse_config({"organisation": {"name": longest}})
    Organisation(name=config.organisation.name)  # what the scan builds: no traceback
    with pytest.raises(ConfigError) as caught:
        parse_config({"organisation": {"name": longest + "x"}})
    message = str(caught.value)
    assert "[organisation] name: " in message
    assert f"{ORGANISATION_NAME_MAX} caractères au plus / at most" in message


def test_config_check_refuses_an_organisation_name_the_scan_would_refuse(
    tmp_path: Path, tiebreak_cmd: list[str], subprocess_env: dict[str, str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(GOOD.replace("Commune d'Exemple", "C" * 301), encoding="utf-8")
    check = subprocess.run(
        [*tiebreak_cmd, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert check.returncode == 2, check.stdout
    assert "[organisation] name" in check.stderr and "Traceback" not in check.stderr


# --- item 10 (c): deep nesting ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000])
def test_deeply_nested_toml_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(GOOD + f"\n[probes]\nx = {value}\n", encoding="utf-8")
    message = _refused(path)
    assert str(path) in message
    assert "imbrication trop profonde / nested too deeply" in message


# --- item 10 (d): numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("dns", "timeout", "nan"),
        ("dns", "timeout", "inf"),
        ("dns", "timeout", "-1.0"),
        ("dns", "timeout", "0"),
        ("dns", "timeout", "true"),
        ("dns", "port", "0"),
        ("dns", "port", "-53"),
        ("dns", "port", "true"),
        ("dns", "port", "53.5"),
        ("dns", "retries", "-1"),
        ("dns", "retries", "false"),
        ("probes", "timeout", "nan"),
        ("probes", "timeout", "inf"),
        ("probes", "timeout", "-inf"),
        ("probes", "timeout", "0.0"),
        ("probes", "timeout", "-5"),
        ("probes", "timeout", "true"),
        ("probes", "timeout", "1e300"),
        ("probes.timeouts", "dns", "nan"),
        ("probes.timeouts", "dns", "inf"),
        ("probes.timeouts", "dns", "-1"),
        ("probes.timeouts", "dns", "0"),
        ("probes.timeouts", "dns", "true"),
    ],
)
def test_meaningless_number_is_named_with_its_key(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(GOOD + f"\n[{section}]\n{key} = {value}\n", encoding="utf-8")
    message = _refused(path)
    top, _, sub = section.partition(".")
    where = f"[{top}] {sub + '.' if sub else ''}{key}: "
    assert where in message, message
    assert " / " in message  # French, then English


def test_every_bad_number_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD + "\n[dns]\ntimeout = nan\nport = true\n[probes]\ntimeout = inf\n"
    path = tmp_path / "agent.toml"
    path.write_text(text + "[probes.timeouts]\ndns = -1\n", encoding="utf-8")
    message = _refused(path)
    for where in ("[dns] timeout", "[dns] port", "[probes] timeout", "[probes] timeouts.dns"):
        assert where in message


def test_sensible_numbers_are_accepted() -> None:
    config = parse_config(
        {
            "organisation": {"name": "X"},
            "dns": {"timeout": 5, "port": 5353, "retries": 0},
            "probes": {"timeout": 300, "timeouts": {"dns": 0.5}},
        }
    )
    assert config.dns.timeout == 5.0 and config.probes.timeouts == {"dns": 0.5}
