"""``manage.py create_user <username> --role pharmacist|supervisor|researcher|curator [--password …]``"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.roles import CURATOR, ROLES


class Command(BaseCommand):
    help = "Create a user with a role (or add the role to an existing user). Curators also get admin access."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--password", help="default: a random password, printed once")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, role: str, password: str | None, email: str, **options) -> None:
        User = get_user_model()
        group = Group.objects.filter(name=role).first()
        if group is None:
            raise CommandError(f"The {role!r} group is missing: run `manage.py migrate` first.")
        # The same rules as the admin's forms: a username of letters, digits and @.+-_ (it is shown
        # in the audit trail and the pages), and a password the site's validators accept.
        try:
            User._meta.get_field("username").run_validators(username)
        except ValidationError as exc:
            raise CommandError(f"username {username!r}: {' '.join(exc.messages)}") from None
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if created or password:
                shown = password or secrets.token_urlsafe(12)
                try:
                    validate_password(shown, user)
                except ValidationError as exc:
                    raise CommandError(f"password: {' '.join(exc.messages)}") from None
                user.set_password(shown)
            if role == CURATOR:
                user.is_staff = True  # curators work in the admin
            user.save()
            user.groups.add(group)
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} {username} ({role})")
        if created and not password:
            self.stdout.write(f"password: {shown}")
