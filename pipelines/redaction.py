"""Secrets never shown: credentials on the command line or in the environment are replaced
by `***` in everything bucketscore prints, logs or records (manifest.json).
"""

from __future__ import annotations

import os

SECRET_WORDS = (
    "secret",
    "password",
    "token",
    "credential",
    "access_key",
    "session_key",
    "private_key",
    "api_key",
)


def is_secret_flag(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def redact_flags(flags) -> list[str]:
    """Beam flags with the values of secret-looking ones replaced by `***`."""
    out, hide_next = [], False
    for flag in flags:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if flag.startswith("--") and is_secret_flag(flag.split("=", 1)[0]):
            if "=" in flag:
                out.append(flag.split("=", 1)[0] + "=***")
            else:
                out.append(flag)
                hide_next = True
            continue
        out.append(flag)
    return out


SECRET_ENV_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
)


def secret_values(flags, environ=None) -> list[str]:
    """The secret values a command line or the environment holds (keys, tokens)."""
    environ = os.environ if environ is None else environ
    found, take_next = [], False
    for flag in flags:
        if take_next:
            found.append(flag)
            take_next = False
        elif flag.startswith("--") and is_secret_flag(flag.split("=", 1)[0]):
            if "=" in flag:
                found.append(flag.split("=", 1)[1])
            else:
                take_next = True
    found += [environ[name] for name in SECRET_ENV_VARS if environ.get(name)]
    # Very short values would blank out ordinary words; keys and tokens are long.
    return sorted({v for v in found if len(v) >= 6}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for value in secrets:
        text = text.replace(value, "***")
    return text


def redacted_command_line(argv, environ=None) -> str:
    """A command line as a shell would read it, with secret flag values replaced by `***`
    and any secret value the environment holds scrubbed (for `make`'s echo of a recipe)."""
    import shlex

    return scrub(shlex.join(redact_flags(list(argv))), secret_values(argv, environ))


def main(argv=None) -> int:
    """`python -m bucketscore.pipelines.redaction WORD...`: print the words as one command
    line, secrets redacted. The Makefile echoes its recipes that take ARGS this way, instead
    of make printing them (make would print secret flag values into terminals and CI logs)."""
    import sys

    print(redacted_command_line(sys.argv[1:] if argv is None else argv), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
