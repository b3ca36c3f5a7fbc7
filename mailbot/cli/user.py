"""`mailbot user ...`: the staff accounts of the console (add, list, remove, passwd, reset-second-factor)."""

from __future__ import annotations

import sys

import click

from mailbot.bootstrap import build_accounts, open_database
from mailbot.cli.common import fail, guard, load
from mailbot.core.staff import Role
from mailbot.service.accounts import Accounts

ROLES = [role.label for role in Role]


def _accounts(ctx: click.Context) -> Accounts:
    """The accounts' use-cases on the configured (migrated) database."""
    config = load(ctx)
    return build_accounts(open_database(config), config.web)


def _password() -> str:
    """The new password: asked twice (hidden) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\r\n")


@click.group()
def user() -> None:
    """Staff accounts of the console (`mailbot web`): roles viewer < hotline < organiser < admin."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the account may do.")
@click.option(
    "--no-password", is_flag=True, help="Single sign-on only ([web] trusted_user_header): no local login."
)
@click.pass_context
def add(ctx: click.Context, name: str, role: str, no_password: bool) -> None:
    """Add a staff account; the password is read from stdin (asked twice on a terminal)."""
    password = None if no_password else _password()

    def create() -> None:
        accounts = _accounts(ctx)
        problem = accounts.add(name, Role.parse(role), password)
        if problem:
            fail(f"user add: {problem}")
        second = Role.parse(role) in accounts.policy.second_factor_roles and password is not None
        note = "; the second factor is set up at the first login" if second else ""
        click.echo(f"user {name} added (role {role}){note}")

    guard(create)


@user.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """Every staff account: name, role, second factor, state, open sessions."""

    def show() -> None:
        accounts = _accounts(ctx)
        sessions: dict[str, int] = {}
        for session in accounts.sessions():
            sessions[session.name] = sessions.get(session.name, 0) + 1
        rows = [("NAME", "ROLE", "2FA", "STATE", "SESSIONS")]
        for account in accounts.accounts():
            factor = "yes" if account.totp_secret else ("sso" if account.password_hash is None else "no")
            state = "disabled" if account.disabled else "active"
            rows.append((account.name, account.role.label, factor, state, str(sessions.get(account.name, 0))))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    guard(show)


@user.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove a staff account (its sessions end at once)."""

    def delete() -> None:
        accounts = _accounts(ctx)
        if not accounts.remove(name):
            fail(f"user remove: no account {name!r}")
        click.echo(f"user {name} removed")

    guard(delete)


@user.command("passwd")
@click.argument("name")
@click.pass_context
def passwd(ctx: click.Context, name: str) -> None:
    """Set a staff account's password from stdin (asked twice on a terminal); its sessions end."""
    password = _password()

    def change() -> None:
        accounts = _accounts(ctx)
        if accounts.account(name) is None:
            fail(f"user passwd: no account {name!r}")
        problem = accounts.set_password(name, password)
        if problem:
            fail(f"user passwd: {problem}")
        click.echo(f"password of {name} changed; its sessions have ended")

    guard(change)


@user.command("reset-second-factor")
@click.argument("name")
@click.pass_context
def reset_second_factor(ctx: click.Context, name: str) -> None:
    """Forget an account's TOTP key and recovery codes (a lost phone): it enrols again at its next login."""

    def reset() -> None:
        accounts = _accounts(ctx)
        if not accounts.reset_second_factor(name):
            fail(f"user reset-second-factor: no account {name!r}")
        click.echo(f"second factor of {name} reset; it is set up again at the next login")

    guard(reset)


COMMANDS = (user,)
