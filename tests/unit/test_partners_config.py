"""A region's partners file (CG_PARTNERS_FILE): each validation rule refuses at start naming the entry and
the field, the rule's boundary accepted; the accepted partners are the issuers the authenticator trusts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from clustergrowth.auth import Authenticator
from clustergrowth.settings import DEV_ISSUER, MAX_PARTNERS, RuntimeSettings

BOLOGNA = """
[[partners]]
region = "ITH5"
issuer = "https://id.bologna.example"
jwks_uri = "https://id.bologna.example/jwks"
api_base = "https://bologna.example/api/v1"
roles = { student = ["student"], researcher = ["academic"] }
"""


def entry(**over: str) -> str:
    fields = {
        "region": '"FR10"',
        "issuer": '"https://id.paris.example"',
        "jwks_uri": '"https://id.paris.example/jwks"',
        "api_base": '"https://paris.example/api/v1"',
        "roles": '{ staff = ["academic"] }',
    }
    fields.update(over)
    return "\n[[partners]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v != "")


def load(tmp_path: Path, text: str, **settings: object) -> RuntimeSettings:
    path = tmp_path / "partners.toml"
    path.write_text(text)
    return RuntimeSettings(data_dir=tmp_path, partners_file=path, **settings)  # type: ignore[arg-type]


def refusal(tmp_path: Path, text: str, **settings: object) -> str:
    with pytest.raises(ValidationError) as e:
        load(tmp_path, text, **settings)
    return str(e.value)


def test_a_valid_file_is_trusted_with_its_grants_and_api_base(tmp_path: Path) -> None:
    s = load(tmp_path, BOLOGNA + entry())
    assert [(p.region, p.issuer, p.api_base) for p in s.auth_partners] == [
        ("ITH5", "https://id.bologna.example", "https://bologna.example/api/v1"),
        ("FR10", "https://id.paris.example", "https://paris.example/api/v1"),
    ]
    assert s.auth_partners[0].roles == {"student": ["student"], "researcher": ["academic"]}
    trust = Authenticator(s).trust
    assert set(trust) == {DEV_ISSUER, "https://id.bologna.example", "https://id.paris.example"}
    assert trust["https://id.bologna.example"].region == "ITH5"
    assert trust["https://id.paris.example"].roles == {"staff": ["academic"]}


@pytest.mark.parametrize("field", ["issuer", "jwks_uri", "api_base"])
@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://id.paris.example", True),
        ("https://id.paris.example:8443/realms/x", True),
        ("http://127.0.0.1:8080", True),  # a development network on this machine
        ("http://localhost/x", True),
        ("http://[::1]:9000", True),
        ("http://id.paris.example", False),
        ("http://127.0.0.2", False),
        ("ftp://id.paris.example", False),
        ("https://", False),
        ("id.paris.example", False),
        ("https://id.paris .example", False),
    ],
)
def test_urls_are_https_except_loopback(tmp_path: Path, field: str, url: str, ok: bool) -> None:
    text = BOLOGNA + entry(**{field: f'"{url}"'})
    if ok:
        assert getattr(load(tmp_path, text).auth_partners[1], field) == url
    else:
        assert f"partners[1].{field}: not an https URL" in refusal(tmp_path, text)


def test_the_region_is_a_nuts2_code_other_than_this_one_and_listed_once(tmp_path: Path) -> None:
    assert "partners[1].region: not a NUTS-2 code" in refusal(tmp_path, BOLOGNA + entry(region='"Paris"'))
    assert "partners[1].region: not a NUTS-2 code" in refusal(tmp_path, BOLOGNA + entry(region='"fr10"'))
    assert "partners[1].region: IE05 is this region" in refusal(tmp_path, BOLOGNA + entry(region='"IE05"'))
    said = refusal(tmp_path, BOLOGNA + entry(region='"ITH5"'))
    assert "partners[1].region: ITH5 is listed already by partners[0]" in said
    assert load(tmp_path, BOLOGNA + entry(region='"IE05"'), region="ES61").auth_partners[1].region == "IE05"


def test_an_issuer_is_listed_once_and_is_not_this_regions_own(tmp_path: Path) -> None:
    said = refusal(tmp_path, BOLOGNA + entry(issuer='"https://id.bologna.example"'))
    assert "partners[1].issuer: listed already by partners[0]" in said
    said = refusal(tmp_path, entry(issuer='"https://id.cork.example"'), auth_issuer="https://id.cork.example")
    assert "partners[0].issuer: this region's own issuer" in said


def test_keys_come_from_one_place(tmp_path: Path) -> None:
    assert "partners[1]: jwks_uri (or jwks_file) is required" in refusal(tmp_path, BOLOGNA + entry(jwks_uri=""))
    said = refusal(tmp_path, BOLOGNA + entry(jwks_file='"/etc/keys.json"'))
    assert "partners[1]: jwks_uri or jwks_file, not both" in said
    only_file = load(tmp_path, BOLOGNA + entry(jwks_uri="", jwks_file='"/etc/keys.json"'))
    assert only_file.auth_partners[1].jwks_file == Path("/etc/keys.json")


def test_granted_roles_are_roles_of_this_platform(tmp_path: Path) -> None:
    said = refusal(tmp_path, BOLOGNA + entry(roles='{ staff = ["academic", "wizard"] }'))
    assert "partners[1].roles: 'staff' grants roles unknown here: ['wizard']" in said
    assert "partners[1].roles: Field required" in refusal(tmp_path, BOLOGNA + entry(roles=""))
    none_granted = load(tmp_path, BOLOGNA + entry(roles="{}"))  # trusted issuer, nothing granted: allowed
    assert none_granted.auth_partners[1].roles == {}


def test_required_and_unknown_fields_name_the_entry(tmp_path: Path) -> None:
    assert "partners[1].api_base: Field required" in refusal(tmp_path, BOLOGNA + entry(api_base=""))
    assert "partners[1].trust_all: Extra inputs are not permitted" in refusal(
        tmp_path, BOLOGNA + entry(trust_all="true")
    )
    assert "partners: Field required" in refusal(tmp_path, "[[partner]]\nregion = 'FR10'\n")


def test_at_most_64_partners(tmp_path: Path) -> None:
    codes = [f"Z{a}0{b}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "0123456789"]

    def many(n: int) -> str:
        return "".join(entry(region=f'"{codes[i]}"', issuer=f'"https://id{i}.example"') for i in range(n))

    assert len(load(tmp_path, many(MAX_PARTNERS)).auth_partners) == MAX_PARTNERS == 64
    assert "partners: List should have at most 64 items" in refusal(tmp_path, many(MAX_PARTNERS + 1))


def test_an_unreadable_or_malformed_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"partners file .*missing\.toml: cannot be read"):
        RuntimeSettings(data_dir=tmp_path, partners_file=tmp_path / "missing.toml")
    assert "not TOML" in refusal(tmp_path, "[[partners]\nregion = ")
    assert "larger than 262144 bytes" in refusal(tmp_path, BOLOGNA + "#" * (256 << 10))


def test_several_problems_are_all_named(tmp_path: Path) -> None:
    said = refusal(tmp_path, entry(issuer='"http://id.paris.example"') + entry(region='"ITH5"', api_base='"x"'))
    assert "partners[0].issuer: not an https URL" in said
    assert "partners[1].api_base: not an https URL" in said
