#!/usr/bin/python3
"""The Prowler API's credentials, made by the third-party libraries the API itself uses, for
Herald's auth tests (src/auth/prowler_auth_test.cpp). Nothing here comes from Herald.

- Access tokens: RS256 via PyJWT (Debian python3-jwt) with a key from `openssl genrsa`, the claim
  set built exactly as the API's generate_tokens() gets it from djangorestframework-simplejwt
  5.5.1: RefreshToken.for_user(user) (typ, exp, iat, jti, sub, hash_password), then tenant_id and
  nbf = iat, then .access_token (a new typ/exp/iat/jti, every other claim copied), then
  TokenBackend.encode() adds aud and iss.
- API keys: `pk_XXXXXXXX.<Fernet token>` as the API's TenantAPIKeyManager.assign_api_key() and
  drf-simple-apikey 2.2.1's crypto make them: Fernet(DJANGO_SECRETS_ENCRYPTION_KEY).encrypt(
  json.dumps({"_pk": str(id), "_exp": expiry.timestamp()}).encode()), via cryptography's Fernet
  (Debian python3-cryptography).

Usage:
  prowler_credentials.py make WORKDIR NOW   prints one JSON object (fixture, tokens, keys, vectors)
  prowler_credentials.py decrypt            reads [{"key","token"}] on stdin, prints the plaintexts
                                            (base64) that cryptography's Fernet decrypts
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import uuid

import jwt  # PyJWT
from cryptography.fernet import Fernet, InvalidToken

AUD = "https://api.prowler.com"
ISS = "https://api.prowler.com"
ACCESS_LIFETIME = 30 * 60
REFRESH_LIFETIME = 24 * 60 * 60
PREFIX_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # the API's db_utils.generate_api_key_prefix

TENANT = "12646005-9067-4d2a-a098-8bb378604362"
OTHER_TENANT = "0f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
USER = "8b38e2eb-6689-4f1e-a4ba-95b275130200"
UNICODE_USER = "5f0e9a2c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
INACTIVE_USER = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
UNKNOWN_USER = "5d1c9e1a-0000-4000-8000-000000000000"


def md5_upper(password):
    # rest_framework_simplejwt.utils.get_md5_hash_password
    return hashlib.md5(password.encode()).hexdigest().upper()


def django_hash(seed):
    salt = base64.b64encode(hashlib.sha256(("salt" + seed).encode()).digest()[:12]).decode()
    digest = base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()
    return f"pbkdf2_sha256$870000${salt}${digest}"


def openssl_rsa(workdir, name):
    private = os.path.join(workdir, name + "_private.pem")
    public = os.path.join(workdir, name + "_public.pem")
    # The API's .env hint: openssl genrsa -out private.pem 2048; openssl rsa -in ... -pubout
    subprocess.run(["openssl", "genrsa", "-out", private, "2048"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "rsa", "-in", private, "-pubout", "-out", public], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(private) as f, open(public) as g:
        return f.read(), g.read()


def token_pair(user_id, password, tenant_id, now):
    """simplejwt RefreshToken.for_user + the API's generate_tokens post-processing."""
    refresh = {"typ": "refresh", "exp": now + REFRESH_LIFETIME, "iat": now,
               "jti": uuid.uuid4().hex, "sub": str(user_id),
               "hash_password": md5_upper(password)}
    refresh["tenant_id"] = tenant_id
    refresh["nbf"] = refresh["iat"]
    access = {"typ": "access", "exp": now + ACCESS_LIFETIME, "iat": now, "jti": uuid.uuid4().hex}
    for claim, value in refresh.items():
        if claim in ("typ", "exp", "jti", "iat"):  # RefreshToken.no_copy_claims
            continue
        access[claim] = value
    return access, refresh


def encode(payload, private_pem, aud=AUD, iss=ISS, algorithm="RS256"):
    """simplejwt TokenBackend.encode."""
    p = dict(payload)
    if aud is not None:
        p["aud"] = aud
    if iss is not None:
        p["iss"] = iss
    token = jwt.encode(p, private_pem, algorithm=algorithm)
    return token.decode() if isinstance(token, bytes) else token


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(payload, public_pem):
    """The algorithm-confusion attack: HS256 keyed with the RS256 public key (PyJWT refuses to
    make it, so it is signed with the standard library's hmac)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(dict(payload, aud=AUD, iss=ISS)).encode())
    signing_input = f"{header}.{body}".encode()
    sig = hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


def make_tokens(now, private_pem, other_private_pem, public_pem, passwords):
    t = {}
    access, refresh = token_pair(USER, passwords[USER], TENANT, now)
    t["valid"] = encode(access, private_pem)
    t["valid_unicode_password"] = encode(
        token_pair(UNICODE_USER, passwords[UNICODE_USER], TENANT, now)[0], private_pem)
    t["refresh"] = encode(refresh, private_pem)

    def variant(**changes):
        a = dict(access)
        for k, v in changes.items():
            if v is _DROP:
                a.pop(k, None)
            else:
                a[k] = v
        return a

    t["expired"] = encode(variant(exp=now - 1, iat=now - 1801, nbf=now - 1801), private_pem)
    t["expired_at_now"] = encode(variant(exp=now, iat=now - 1800, nbf=now - 1800), private_pem)
    t["not_yet_valid"] = encode(variant(nbf=now + 60), private_pem)
    t["issued_in_the_future"] = encode(variant(iat=now + 60), private_pem)
    t["wrong_audience"] = encode(access, private_pem, aud="https://evil.example.com")
    t["no_audience"] = encode(access, private_pem, aud=None)
    t["wrong_issuer"] = encode(access, private_pem, iss="https://evil.example.com")
    t["no_issuer"] = encode(access, private_pem, iss=None)
    t["expired_wrong_audience"] = encode(variant(exp=now - 1), private_pem, aud="https://x")
    t["other_key"] = encode(access, other_private_pem)
    t["hs256_with_public_key"] = hs256_with_public_key(access, public_pem)
    t["alg_none"] = encode(access, None, algorithm="none")
    t["no_jti"] = encode(variant(jti=_DROP), private_pem)
    t["non_string_jti"] = encode(variant(jti=12345), private_pem)
    t["no_typ"] = encode(variant(typ=_DROP), private_pem)
    t["no_exp"] = encode(variant(exp=_DROP), private_pem)
    t["no_jti_and_refresh"] = encode(variant(jti=_DROP, typ="refresh"), private_pem)
    t["refresh_without_tenant"] = encode(dict((k, v) for k, v in refresh.items()
                                              if k != "tenant_id"), private_pem)
    t["no_tenant"] = encode(variant(tenant_id=_DROP), private_pem)
    t["null_tenant"] = encode(variant(tenant_id=None), private_pem)
    t["no_sub"] = encode(variant(sub=_DROP), private_pem)
    t["non_string_sub"] = encode(variant(sub=12345), private_pem)
    t["unknown_user"] = encode(
        token_pair(UNKNOWN_USER, "pbkdf2_sha256$1$x$y", TENANT, now)[0], private_pem)
    t["inactive_user"] = encode(
        token_pair(INACTIVE_USER, passwords[INACTIVE_USER], TENANT, now)[0], private_pem)
    t["stale_password"] = encode(
        token_pair(USER, django_hash("the password before the change"), TENANT, now)[0],
        private_pem)
    t["no_hash_password"] = encode(variant(hash_password=_DROP), private_pem)
    t["other_tenant"] = encode(token_pair(USER, passwords[USER], OTHER_TENANT, now)[0],
                               private_pem)
    return t


_DROP = object()


def random_prefix():
    return "pk_" + "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(8))


def standard_alphabet_key():
    """A Fernet key written with '+' or '/' (like the API's sample .env key)."""
    while True:
        key = base64.b64encode(os.urandom(32)).decode()
        if "+" in key or "/" in key:
            return key


def make_api_keys(now, fernet_key):
    f = Fernet(fernet_key)
    other = Fernet(Fernet.generate_key())
    year = now + 365 * 24 * 3600 + 0.25  # expiry_date.timestamp() is a float

    def fernet_part(payload, fern=f):
        # drf_simple_apikey.crypto.BaseApiCrypto.encrypt(json.dumps(data))
        return fern.encrypt(json.dumps(payload).encode()).decode()

    def raw(data, fern=f):
        return fern.encrypt(data).decode()

    rows, keys = [], {}

    def row(name, entity=USER, revoked=False, whitelisted=None, blacklisted=None):
        r = {"id": str(uuid.uuid4()), "prefix": random_prefix(), "tenant_id": TENANT,
             "entity_id": entity, "revoked": revoked, "whitelisted_ips": whitelisted,
             "blacklisted_ips": blacklisted, "name": name}
        rows.append(r)
        return r

    def key(r, exp=year, fern=f):
        return f"{r['prefix']}.{fernet_part({'_pk': r['id'], '_exp': exp}, fern)}"

    good = row("ci")
    keys["valid"] = key(good)
    keys["valid_int_exp"] = key(good, exp=int(year))
    token = keys["valid"].split(".", 1)[1]
    keys["valid_standard_alphabet_token"] = (
        good["prefix"] + "." + token.replace("-", "+").replace("_", "/"))
    keys["expired"] = key(good, exp=now - 1.5)
    keys["unknown_pk"] = f"{good['prefix']}.{fernet_part({'_pk': str(uuid.uuid4()), '_exp': year})}"
    revoked = row("revoked", revoked=True)
    keys["revoked"] = key(revoked)
    keys["revoked_and_expired"] = key(revoked, exp=now - 10)
    keys["revoked_wrong_prefix"] = random_prefix() + "." + key(revoked).split(".", 1)[1]
    orphan = row("orphan", entity=None)
    keys["orphan"] = key(orphan)
    blocked = row("blocked", blacklisted=["203.0.113.7", "2001:db8::7"])
    keys["blacklisted"] = key(blocked)
    allowed = row("allowed", whitelisted=["198.51.100.1", "2001:db8::1"])
    keys["whitelisted"] = key(allowed)
    both = row("both", whitelisted=["203.0.113.7"], blacklisted=["203.0.113.7"])
    keys["blacklisted_and_whitelisted"] = key(both)
    keys["wrong_prefix"] = random_prefix() + "." + token
    keys["wrong_prefix_unknown_pk"] = random_prefix() + "." + keys["unknown_pk"].split(".", 1)[1]
    keys["no_separator"] = good["prefix"] + token
    keys["other_fernet_key"] = key(good, fern=other)
    mid = len(token) // 2
    keys["tampered"] = (good["prefix"] + "." + token[:mid] +
                        ("A" if token[mid] != "A" else "B") + token[mid + 1:])
    keys["padding_stripped"] = good["prefix"] + "." + token.rstrip("=")
    inactive = row("inactive owner", entity=INACTIVE_USER)
    keys["inactive_owner"] = key(inactive)
    p = good["prefix"]
    keys["pk_not_a_string"] = f"{p}.{fernet_part({'_pk': 5, '_exp': year})}"
    keys["pk_not_a_uuid"] = f"{p}.{fernet_part({'_pk': 'not-a-uuid', '_exp': year})}"
    keys["pk_missing"] = f"{p}.{fernet_part({'_exp': year})}"
    keys["exp_missing"] = f"{p}.{fernet_part({'_pk': good['id']})}"
    keys["exp_bool"] = f"{p}.{fernet_part({'_pk': good['id'], '_exp': True})}"
    keys["exp_string"] = f"{p}.{fernet_part({'_pk': good['id'], '_exp': str(year)})}"
    keys["exp_null"] = f"{p}.{fernet_part({'_pk': good['id'], '_exp': None})}"
    keys["exp_nan"] = f"{p}.{fernet_part({'_pk': good['id'], '_exp': float('nan')})}"
    keys["exp_infinity"] = f"{p}.{fernet_part({'_pk': good['id'], '_exp': float('inf')})}"
    keys["payload_list"] = f"{p}.{fernet_part([good['id'], year])}"
    keys["payload_not_json"] = f"{p}.{raw(b'_pk=' + good['id'].encode())}"
    keys["payload_not_utf8"] = f"{p}.{raw(bytes([0x7b, 0xff, 0xfe, 0x7d]))}"
    return rows, keys


def fernet_vectors():
    out = []
    for key in (Fernet.generate_key().decode(), standard_alphabet_key()):
        fern = Fernet(key)
        for n in (0, 1, 15, 16, 17, 31, 32, 33, 100, 1000):
            plaintext = os.urandom(n)
            out.append({"key": key, "plaintext": base64.b64encode(plaintext).decode(),
                        "token": fern.encrypt(plaintext).decode()})
    return out


def make(workdir, now):
    private_pem, public_pem = openssl_rsa(workdir, "api")
    other_private_pem, _ = openssl_rsa(workdir, "other")
    passwords = {
        USER: django_hash("correct horse battery staple"),
        UNICODE_USER: "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$Zürich-Ωmega-密码",
        INACTIVE_USER: django_hash("inactive"),
    }
    fernet_key = standard_alphabet_key()
    rows, keys = make_api_keys(now, fernet_key)
    return {
        "now": now,
        "public_pem": public_pem,
        "fernet_key": fernet_key,
        "fixture": {
            "tenants": [TENANT, OTHER_TENANT],
            "users": [
                {"id": USER, "email": "dev@prowler.com", "password": passwords[USER],
                 "is_active": True},
                {"id": UNICODE_USER, "email": "zurich@prowler.com",
                 "password": passwords[UNICODE_USER], "is_active": True},
                {"id": INACTIVE_USER, "email": "gone@prowler.com",
                 "password": passwords[INACTIVE_USER], "is_active": False},
            ],
            "memberships": [[USER, TENANT], [UNICODE_USER, TENANT], [INACTIVE_USER, TENANT]],
            "api_keys": rows,
            "user": USER,
            "tenant": TENANT,
            "other_tenant": OTHER_TENANT,
        },
        "tokens": make_tokens(now, private_pem, other_private_pem, public_pem, passwords),
        "api_keys": keys,
        "fernet_vectors": fernet_vectors(),
    }


def decrypt():
    out = []
    for item in json.load(sys.stdin):
        try:
            plain = Fernet(item["key"]).decrypt(item["token"].encode())
            out.append(base64.b64encode(plain).decode())
        except InvalidToken:
            out.append(None)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        json.dump(make(sys.argv[2], int(sys.argv[3])), sys.stdout)
    elif len(sys.argv) == 2 and sys.argv[1] == "decrypt":
        json.dump(decrypt(), sys.stdout)
    else:
        sys.exit(__doc__)
