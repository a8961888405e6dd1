"""The signer-policy and trust flags of ``hatch-sigstore verify`` and ``download``.

``add_policy_arguments(parser)`` adds the flags, ``policy_from_args(args, env)`` builds the
:class:`~hatch_sigstore.verify.Policy` they ask for (refusing to guess when none names a
signer) and ``trust_from_args(args, env)`` picks the Sigstore instance. Both commands call these
three and nothing else, so they accept and refuse exactly the same things with the same words.
The signer flags are made from :data:`hatch_sigstore.verify.policy_keys.POLICY_KEYS` and the
policy by its :func:`~hatch_sigstore.verify.policy_keys.build_policy`: the index's
``[package.NAME]`` keys are the same table, so a TOML policy has exactly the flags' names and
meaning. Registering imports argparse and that table; sigstore is imported when a policy is
used.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hatch_sigstore.verify.policy_keys import POLICY_KEYS, SECTIONS, build_policy

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import Policy

__all__ = [
    "add_policy_arguments",
    "add_signer_arguments",
    "add_trust_arguments",
    "policy_from_args",
    "trust_from_args",
]


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the signer policy flags (one policy is required) and the trust flags to ``parser``."""
    add_signer_arguments(parser)
    add_trust_arguments(parser)


def add_signer_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say who must have signed (``policy_from_args`` reads them): one per
    policy key, in its section, keys that exclude each other in one exclusive group."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    exclusive: dict[tuple[str, str], argparse._MutuallyExclusiveGroup] = {}
    for key in POLICY_KEYS:
        group = groups.get(key.section)
        if group is None:
            title, description = SECTIONS[key.section]
            group = groups[key.section] = parser.add_argument_group(title, description)
        target: argparse._ActionsContainer = group
        if key.exclusive is not None:
            slot = (key.section, key.exclusive)
            if slot not in exclusive:
                exclusive[slot] = group.add_mutually_exclusive_group()
            target = exclusive[slot]
        if key.kind == "switch":
            target.add_argument(f"--{key.name}", action="store_true", help=key.help)
        else:
            target.add_argument(f"--{key.name}", metavar=key.metavar, help=key.help)


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """--staging / --trust-config (``trust_from_args`` reads them)."""
    trust = parser.add_argument_group("which Sigstore to trust")
    where = trust.add_mutually_exclusive_group()
    where.add_argument("--staging", action="store_true", help="trust the public staging Sigstore")
    where.add_argument(
        "--trust-config",
        metavar="FILE",
        help="ClientTrustConfig JSON of a private Sigstore (env HATCH_SIGSTORE_TRUST_CONFIG; "
        "default: the public production instance)",
    )


def trust_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> TrustChoice:
    """The Sigstore to trust: --trust-config or --staging, else $HATCH_SIGSTORE_TRUST_CONFIG, else
    the public production instance."""
    from hatch_sigstore.trust import TrustChoice

    return TrustChoice.resolve(staging=args.staging, trust_config=args.trust_config, env=env)


def policy_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Policy:
    """The policy the flags ask for; raises ConfigError when none names a signer."""
    return build_policy({key.name: getattr(args, key.field) for key in POLICY_KEYS}, env=env)
