"""`tiebreak server`: run the central server and administer it (organisations, tokens, users).

Registering imports only argparse; each handler imports the web framework and the database layer
when it runs. Secrets never go through the command line: agent tokens are printed once (or written
to a file with --token-file), passwords are read from a file, standard input or the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from server.i18n import t

EXIT_OK = 0
EXIT_ERROR = 2
ORGANISATION_TYPES = ("commune", "epci", "departement", "region", "other")
ROLES = ("admin", "reviewer", "viewer")


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=t(
            "dossier des données, base SQLite comprise (défaut : $TIEBREAK_DATA ou "
            "./tiebreak-data)",
            "data directory, SQLite database included (default: $TIEBREAK_DATA or ./tiebreak-data)",
        ),
    )
    parser.add_argument(
        "--database-url",
        help=t(
            "base PostgreSQL, ex. postgresql://tiebreak@127.0.0.1/tiebreak "
            "(défaut : $TIEBREAK_DATABASE_URL, sinon SQLite)",
            "PostgreSQL database, e.g. postgresql://tiebreak@127.0.0.1/tiebreak "
            "(default: $TIEBREAK_DATABASE_URL, else SQLite)",
        ),
    )


def _token_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        type=Path,
        help=t(
            "écrire le jeton dans ce fichier (droits 600) au lieu de l'afficher",
            "write the token to this file (mode 600) instead of printing it",
        ),
    )


def _connection_options(run: argparse.ArgumentParser) -> None:
    """Bounds of every HTTP connection (server/serve.py), against clients that hold them open."""
    run.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help=t(
            "connexions ouvertes au plus ; au-delà, la plus longtemps inactive est fermée, "
            "ou réponse 503 si toutes servent une requête (défaut : 1000)",
            "open connections at most; beyond, the longest idle one is closed, or a 503 "
            "answer when every one is serving a request (default: 1000)",
        ),
    )
    run.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help=t(
            "secondes pour recevoir les en-têtes d'une requête (défaut : 10)",
            "seconds to receive a request's headers (default: 10)",
        ),
    )
    run.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help=t(
            "secondes sans recevoir d'octet du corps avant de couper (défaut : 30)",
            "seconds without a byte of the body before closing (default: 30)",
        ),
    )
    run.add_argument(
        "--max-header-kb",
        type=int,
        default=64,
        help=t(
            "taille maximale des en-têtes d'une requête, en Kio (défaut : 64)",
            "maximum size of a request's headers, KiB (default: 64)",
        ),
    )


def register(commands: Any) -> None:
    """Add the `server` command group."""
    server = commands.add_parser(
        "server",
        help=t("serveur central (API, organisations, jetons)", "central server (API, tokens)"),
        description=t(
            "Serveur central : reçoit les inventaires des agents. Sans sous-commande : run.",
            "Central server: receives the agents' inventories. Without a subcommand: run.",
        ),
    )
    actions = server.add_subparsers(dest="server_command", metavar="ACTION")

    run = actions.add_parser("run", help=t("démarrer le serveur", "start the server"))
    _database_options(run)
    run.add_argument(
        "--host",
        default="127.0.0.1",
        help=t("adresse d'écoute (défaut : 127.0.0.1)", "listen address (default: 127.0.0.1)"),
    )
    run.add_argument("--port", type=int, default=8750, help=t("port (défaut : 8750)", "port"))
    run.add_argument(
        "--max-body-mb",
        type=float,
        default=8.0,
        help=t("taille maximale d'un envoi, en Mo (défaut : 8)", "maximum upload size, MB"),
    )
    run.add_argument(
        "--max-inflated-mb",
        type=float,
        default=32.0,
        help=t(
            "taille maximale d'un inventaire décompressé, en Mo (défaut : 32)",
            "maximum inflated inventory size, MB (default: 32)",
        ),
    )
    run.add_argument(
        "--secure-cookies",
        action="store_true",
        help=t(
            "cookies de session réservés à HTTPS (derrière un proxy TLS)",
            "session cookies for HTTPS only (behind a TLS proxy)",
        ),
    )
    run.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADRESSE",
        type=_proxy_address,
        help=t(
            "adresse ou réseau (127.0.0.1, ::1…) d'un proxy dont on croit X-Forwarded-For et "
            "X-Forwarded-Proto ; répétable ; aucun par défaut",
            "address or network of a proxy whose X-Forwarded-For/-Proto are believed; repeatable",
        ),
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help=t(
            "processus de service (défaut : 1 ; un par cœur pour un gros volume)",
            "worker processes (default: 1; one per core for heavy load)",
        ),
    )
    _connection_options(run)
    run.set_defaults(handler=_run)
    server.set_defaults(**vars(run.parse_args([])))

    migrate = actions.add_parser(
        "migrate", help=t("mettre à jour le schéma de la base", "upgrade the database schema")
    )
    _database_options(migrate)
    migrate.set_defaults(handler=_migrate)

    add_org = actions.add_parser(
        "add-org",
        help=t("créer une organisation et son jeton d'agent", "create an organisation and token"),
    )
    _database_options(add_org)
    add_org.add_argument("name", metavar="NOM", help=t("nom de la collectivité", "name"))
    add_org.add_argument("--siren", help=t("SIREN (9 chiffres)", "SIREN (9 digits)"))
    add_org.add_argument("--type", choices=ORGANISATION_TYPES, default="commune")
    add_org.add_argument(
        "--parent",
        help=t("organisation parente (numéro, SIREN ou nom)", "parent organisation"),
    )
    _token_file_option(add_org)
    add_org.set_defaults(handler=_add_org)

    set_parent = actions.add_parser(
        "set-parent",
        help=t(
            "rattacher une organisation à sa parente (commune à son EPCI…)",
            "attach an organisation to its parent (a commune to its EPCI…)",
        ),
    )
    _database_options(set_parent)
    set_parent.add_argument(
        "organisation", metavar="ORGANISATION", help=t("numéro, SIREN ou nom", "id, SIREN or name")
    )
    set_parent.add_argument(
        "parent",
        metavar="PARENTE",
        nargs="?",
        help=t(
            "organisation parente (numéro, SIREN ou nom) ; absente : détacher",
            "parent organisation (id, SIREN or name); left out: detach",
        ),
    )
    set_parent.set_defaults(handler=_set_parent)

    recompute = actions.add_parser(
        "recompute-figures",
        help=t(
            "recalculer les chiffres des inventaires validés (après une mise à jour des prix du "
            "catalogue ou des pondérations)",
            "compute the figures of validated inventories again (after new catalog prices or "
            "weights)",
        ),
    )
    _database_options(recompute)
    recompute.set_defaults(handler=_recompute)

    add_user = actions.add_parser("add-user", help=t("créer un utilisateur", "create a user"))
    _database_options(add_user)
    add_user.add_argument("username", metavar="UTILISATEUR")
    add_user.add_argument("--role", choices=ROLES, required=True)
    _org_option(add_user)
    _password_file_option(add_user)
    add_user.set_defaults(handler=_add_user)

    tokens = actions.add_parser("tokens", help=t("jetons d'agent", "agent tokens"))
    token_actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    listing = token_actions.add_parser("list", help=t("lister (préfixes)", "list (prefixes)"))
    _database_options(listing)
    listing.add_argument("--org", help=t("une seule organisation", "one organisation only"))
    listing.set_defaults(handler=_tokens_list)
    rotate = token_actions.add_parser(
        "rotate",
        help=t("révoquer les jetons actifs et en créer un", "revoke active tokens, issue one"),
    )
    _database_options(rotate)
    rotate.add_argument("org", metavar="ORGANISATION")
    _token_file_option(rotate)
    rotate.set_defaults(handler=_tokens_rotate)
    revoke = token_actions.add_parser("revoke", help=t("révoquer un jeton", "revoke a token"))
    _database_options(revoke)
    revoke.add_argument("prefix", metavar="PRÉFIXE")
    revoke.set_defaults(handler=_tokens_revoke)

    _register_users(actions)

    audit_export = actions.add_parser(
        "audit-export",
        help=t("exporter le journal d'audit (CSV)", "export the audit log (CSV)"),
    )
    _database_options(audit_export)
    audit_export.add_argument(
        "--output",
        "-o",
        type=Path,
        help=t(
            "fichier CSV à écrire (défaut : la sortie standard)",
            "CSV file to write (default: standard output)",
        ),
    )
    audit_export.set_defaults(handler=_audit_export)


def _register_users(actions: Any) -> None:
    users = actions.add_parser(
        "users", help=t("utilisateurs de l'interface web", "users of the web interface")
    )
    user_actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    listing = user_actions.add_parser("list", help=t("lister les utilisateurs", "list the users"))
    _database_options(listing)
    listing.set_defaults(handler=_users_list)

    for name, handler, french, english in (
        ("disable", _users_disable, "désactiver (ses sessions se ferment)", "disable (logs out)"),
        ("enable", _users_enable, "réactiver", "enable again"),
        ("delete", _users_delete, "supprimer (le journal garde son nom)", "delete"),
    ):
        action = user_actions.add_parser(name, help=t(french, english))
        _database_options(action)
        action.add_argument("username", metavar="UTILISATEUR")
        action.set_defaults(handler=handler)

    reset = user_actions.add_parser(
        "reset-password",
        help=t("changer le mot de passe (ses sessions se ferment)", "set a new password"),
    )
    _database_options(reset)
    reset.add_argument("username", metavar="UTILISATEUR")
    _password_file_option(reset)
    reset.set_defaults(handler=_users_reset_password)

    assign = user_actions.add_parser(
        "assign",
        help=t("changer le rôle et les organisations", "set the role and organisations"),
    )
    _database_options(assign)
    assign.add_argument("username", metavar="UTILISATEUR")
    assign.add_argument("--role", choices=ROLES, required=True)
    _org_option(assign)
    assign.set_defaults(handler=_users_assign)


def _org_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org",
        action="append",
        default=[],
        help=t(
            "organisation suivie (numéro, SIREN ou nom ; répétable)",
            "assigned organisation (number, SIREN or name; repeatable)",
        ),
    )


def _password_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-file",
        type=Path,
        help=t(
            "fichier contenant le mot de passe (sinon : demandé, ou lu sur l'entrée standard)",
            "file holding the password (else: prompted, or read from standard input)",
        ),
    )


def _engine(args: argparse.Namespace) -> Any:
    from server import db, migrations, settings

    engine = db.make_engine(settings.database_url(args.database_url, args.data_dir))
    migrations.migrate(engine)
    return engine


def _fail(exc: Any) -> int:
    print(f"tiebreak server: {t(exc.french, exc.english)}", file=sys.stderr)
    return EXIT_ERROR


def _proxy_address(value: str) -> str:
    """A `--trusted-proxy` value: an IP address or network."""
    import ipaddress

    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            t(f"adresse de proxy invalide : {value}", f"invalid proxy address: {value}")
        ) from None
    return value.strip()


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app, warm_up
    from server.serve import ConnectionLimits, GuardedHttpToolsProtocol
    from server.settings import Settings, database_url, to_environment

    url = database_url(args.database_url, args.data_dir)
    settings = Settings(
        database_url=url,
        max_body_bytes=int(args.max_body_mb * 1_048_576),
        max_decompressed_bytes=int(args.max_inflated_mb * 1_048_576),
        secure_cookies=args.secure_cookies,
        trusted_proxies=tuple(args.trusted_proxy),
    )
    app = create_app(settings)  # migrates the database once, before any worker starts
    where = "PostgreSQL" if url.startswith("postgresql") else url.removeprefix("sqlite:///")
    print(
        t(
            f"tiebreak server : http://{args.host}:{args.port}/api/v1/docs (base : {where})",
            f"tiebreak server: http://{args.host}:{args.port}/api/v1/docs (database: {where})",
        ),
        file=sys.stderr,
        flush=True,
    )
    limits = ConnectionLimits(
        max_header_bytes=args.max_header_kb * 1024,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        max_connections=args.max_connections,
    )
    # Read by every worker's protocol (and by the workers' application factory).
    os.environ.update(limits.to_environment())
    served: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": 5,
        # The application believes forwarded headers of --trusted-proxy only (uvicorn would
        # otherwise believe those of 127.0.0.1 by default).
        "proxy_headers": False,
    }
    if args.workers <= 1:
        warm_up()
        uvicorn.run(app, **served)
        return EXIT_OK
    os.environ.update(to_environment(settings))
    uvicorn.run("server.app:app_from_environment", factory=True, workers=args.workers, **served)
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from server import db, migrations, settings

    engine = db.make_engine(settings.database_url(args.database_url, args.data_dir))
    done = migrations.migrate(engine)
    if done:
        print(t("migrations appliquées : ", "migrations applied: ") + ", ".join(done))
    else:
        print(t("base déjà à jour", "database already up to date"))
    return EXIT_OK


def _set_parent(args: argparse.Namespace) -> int:
    from server.admin import AdminError, set_parent

    try:
        child, parent = set_parent(_engine(args), args.organisation, args.parent)
    except AdminError as exc:
        return _fail(exc)
    if parent is None:
        print(t(f"{child} n'a plus d'organisation parente", f"{child} has no parent any more"))
    else:
        print(t(f"{child} est rattachée à {parent}", f"{child} is attached to {parent}"))
    return EXIT_OK


def _recompute(args: argparse.Namespace) -> int:
    from server import dashboards

    count = dashboards.recompute(_engine(args))
    print(t(f"{count} inventaire(s) validé(s) recalculé(s)", f"{count} validated inventories"))
    return EXIT_OK


def _give_token(token: str, path: Path | None) -> None:
    """Print the token once, or write it atomically to a file only its owner can read."""
    if path is None:
        print(token)
        print(
            t(
                "Conservez ce jeton : il ne sera plus jamais affiché "
                "(fichier [server] token_file de l'agent).",
                "Keep this token: it will never be shown again ([server] token_file of the agent).",
            ),
            file=sys.stderr,
        )
        return
    _write_private(path, lambda handle: handle.write(token + "\n"))
    print(t(f"jeton écrit dans {path}", f"token written to {path}"), file=sys.stderr)


def _write_private(path: Path, write: Callable[[TextIO], object]) -> None:
    """Write a file atomically (temporary file beside it, then rename), readable by its owner
    only: mkstemp creates it with mode 600."""
    directory = path.parent if str(path.parent) else Path()
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _add_org(args: argparse.Namespace) -> int:
    from inventory import OrganisationType
    from server.admin import AdminError, create_organisation

    try:
        organisation_id, token = create_organisation(
            _engine(args), args.name, args.siren, OrganisationType(args.type), args.parent
        )
    except AdminError as exc:
        return _fail(exc)
    print(
        t(f"organisation n° {organisation_id} créée", f"organisation {organisation_id} created"),
        file=sys.stderr,
    )
    _give_token(token, args.token_file)
    return EXIT_OK


def _read_password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(t("Mot de passe : ", "Password: "))
    if getpass.getpass(t("Encore une fois : ", "Again: ")) != first:
        raise ValueError(t("les deux saisies diffèrent", "the two entries differ"))
    return first


def _password_of(args: argparse.Namespace) -> str | None:
    """The password of `--password-file`, standard input or the terminal; None (said on
    standard error) when it cannot be read."""
    try:
        return _read_password(args.password_file)
    except (OSError, ValueError) as exc:
        print(f"tiebreak server: {exc}", file=sys.stderr)
        return None


def _add_user(args: argparse.Namespace) -> int:
    from server.admin import AdminError, Role, create_user

    password = _password_of(args)
    if password is None:
        return EXIT_ERROR
    try:
        create_user(_engine(args), args.username, password, Role(args.role), args.org)
    except AdminError as exc:
        return _fail(exc)
    print(t(f"utilisateur {args.username} créé", f"user {args.username} created"))
    return EXIT_OK


def _tokens_list(args: argparse.Namespace) -> int:
    from server.admin import AdminError, list_tokens

    try:
        tokens = list_tokens(_engine(args), args.org)
    except AdminError as exc:
        return _fail(exc)
    for token in tokens:
        state = (
            t(f"révoqué le {token.revoked_at:%Y-%m-%d}", f"revoked {token.revoked_at:%Y-%m-%d}")
            if token.revoked_at
            else t("actif", "active")
        )
        print(f"tbk_{token.prefix}…\t{token.created_at:%Y-%m-%d}\t{state}\t{token.organisation}")
    return EXIT_OK


def _tokens_rotate(args: argparse.Namespace) -> int:
    from server.admin import AdminError, rotate_token

    try:
        token = rotate_token(_engine(args), args.org)
    except AdminError as exc:
        return _fail(exc)
    _give_token(token, args.token_file)
    return EXIT_OK


def _tokens_revoke(args: argparse.Namespace) -> int:
    from server.admin import AdminError, revoke_token

    prefix = args.prefix.removeprefix("tbk_").rstrip("…_")
    try:
        revoke_token(_engine(args), prefix)
    except AdminError as exc:
        return _fail(exc)
    print(t(f"jeton {prefix} révoqué", f"token {prefix} revoked"))
    return EXIT_OK


def _users_list(args: argparse.Namespace) -> int:
    from server.admin import list_users

    for user in list_users(_engine(args)):
        disabled = user["disabled_at"]
        state = (
            t(f"désactivé le {disabled:%Y-%m-%d}", f"disabled {disabled:%Y-%m-%d}")
            if disabled
            else t("actif", "active")
        )
        organisations = ", ".join(user["organisations"]) or (
            t("(toutes)", "(all)") if user["role"] == "admin" else "-"
        )
        print(
            f"{user['username']}\t{user['role']}\t{user['created_at']:%Y-%m-%d}\t{state}"
            f"\t{organisations}"
        )
    return EXIT_OK


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    from server.admin import AdminError, set_disabled

    try:
        set_disabled(_engine(args), args.username, disabled)
    except AdminError as exc:
        return _fail(exc)
    if disabled:
        print(t(f"utilisateur {args.username} désactivé", f"user {args.username} disabled"))
    else:
        print(t(f"utilisateur {args.username} réactivé", f"user {args.username} enabled"))
    return EXIT_OK


def _users_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def _users_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def _users_delete(args: argparse.Namespace) -> int:
    from server.admin import AdminError, delete_user

    try:
        delete_user(_engine(args), args.username)
    except AdminError as exc:
        return _fail(exc)
    print(t(f"utilisateur {args.username} supprimé", f"user {args.username} deleted"))
    return EXIT_OK


def _users_reset_password(args: argparse.Namespace) -> int:
    from server.admin import AdminError, reset_password

    password = _password_of(args)
    if password is None:
        return EXIT_ERROR
    try:
        reset_password(_engine(args), args.username, password)
    except AdminError as exc:
        return _fail(exc)
    print(
        t(
            f"mot de passe de {args.username} changé ; ses sessions sont fermées",
            f"password of {args.username} changed; their sessions are closed",
        )
    )
    return EXIT_OK


def _users_assign(args: argparse.Namespace) -> int:
    from server.admin import AdminError, Role, assign

    try:
        assign(_engine(args), args.username, Role(args.role), args.org)
    except AdminError as exc:
        return _fail(exc)
    print(
        t(
            f"utilisateur {args.username} : rôle {args.role}",
            f"user {args.username}: role {args.role}",
        )
        + (f" ({', '.join(args.org)})" if args.org else "")
    )
    return EXIT_OK


def _audit_export(args: argparse.Namespace) -> int:
    from server.exports import write_audit_csv
    from server.store import audit

    engine = _engine(args)
    if args.output is None:
        with engine.connect() as connection:
            write_audit_csv(audit.every(connection), sys.stdout)
        return EXIT_OK
    try:
        with engine.connect() as connection:
            _write_private(
                args.output, lambda handle: write_audit_csv(audit.every(connection), handle)
            )
    except OSError as exc:
        print(f"tiebreak server: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        t(f"journal écrit dans {args.output}", f"audit log written to {args.output}"),
        file=sys.stderr,
    )
    return EXIT_OK
