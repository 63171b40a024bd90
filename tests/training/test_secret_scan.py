"""Credentials never reach training data; placeholders and ordinary code do."""

from __future__ import annotations

import pytest

from training.secret_scan import scrub, secret_kind

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234\n-----END RSA PRIVATE KEY-----\n"


def test_a_file_with_a_private_key_is_dropped_whole():
    result = scrub(f"# deploy key\nKEY = '''\n{KEY}'''\nprint(KEY)\n")
    assert result.text is None and result.found == {"private_key": 1}


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'", "aws_access_key"),
        ("token = 'ghp_" + "a1B2" * 9 + "'", "github_token"),
        ("headers = {'Authorization': 'Bearer sk-" + "x7" * 20 + "'}", "openai_key"),
        ("HF = 'hf_" + "AbCd" * 9 + "'", "huggingface_token"),
        ("slack = 'xoxb-1234567890-abcdefghij'", "slack_token"),
        ("key = 'AIza" + "B" * 35 + "'", "google_api_key"),
        ("DATABASE_URL = 'postgres://admin:s3cr3tpw@db.internal:5432/app'", "url_password"),
        ('db_password = "hunter2hunter2"', "assigned_secret"),
        ("config = {'api_key': 'q8Zt93kLmP0vXy'}", "assigned_secret"),
    ],
)
def test_credential_lines_are_recognised(line, kind):
    assert secret_kind(line) == kind


@pytest.mark.parametrize(
    "line",
    [
        "password = input('Password: ')",
        'password = "changeme"',
        "api_key = os.environ['API_KEY']",
        'secret = "${SECRET_FROM_ENV}"',
        "url = 'https://user@example.com/path'",
        "def check_password(self, raw_password):",
        "PASSWORD_MIN_LENGTH = 12",
    ],
)
def test_ordinary_code_and_placeholders_are_kept(line):
    assert secret_kind(line) is None


def test_only_the_credential_lines_are_removed_and_counted():
    text = "import os\nAWS = 'AKIAIOSFODNN7EXAMPLE'\npassword = 'hunter2hunter2'\nprint(os.getcwd())\n"
    result = scrub(text)
    assert result.text == "import os\nprint(os.getcwd())\n"
    assert result.found == {"aws_access_key": 1, "assigned_secret": 1}
    clean = "def f():\n    return 1\n"
    assert scrub(clean).text == clean and not scrub(clean).found
