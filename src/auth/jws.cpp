#include "auth/jws.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "auth/encoding.hpp"

namespace herald::auth {
namespace {

constexpr std::size_t kHs256MinSecret = 32;  // RFC 7518 3.2: key at least as long as the hash
constexpr int kRsaMinBits = 2048;
constexpr std::size_t kEs256Half = 32;  // P-256 r and s are 32 bytes each in a JWS
constexpr std::size_t kMaxEcDer = 80;   // DER ECDSA-Sig-Value for P-256 is at most 72 bytes

EVP_MAC* hmac_alg() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

[[noreturn]] void fail(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error(what);
}

// Keys from environment variables often arrive on one line with literal "\n" separators.
std::string normalize_pem(std::string_view key) {
  std::string s(key);
  if (s.find('\n') != std::string::npos) return s;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct bio_ptr {
  BIO* b;
  explicit bio_ptr(const std::string& s)
      : b(BIO_new_mem_buf(s.data(), static_cast<int>(s.size()))) {
    if (b == nullptr) fail("out of memory");
  }
  ~bio_ptr() { BIO_free(b); }
  bio_ptr(const bio_ptr&) = delete;
  bio_ptr& operator=(const bio_ptr&) = delete;
};

EVP_PKEY* load_public_pem(const std::string& pem) {
  EVP_PKEY* pkey = nullptr;
  // The decoder covers SPKI ("PUBLIC KEY") and PKCS#1 ("RSA PUBLIC KEY").
  if (OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(
          &pkey, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr)) {
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t len = pem.size();
    OSSL_DECODER_from_data(dctx, &data, &len);
    OSSL_DECODER_CTX_free(dctx);
  }
  if (pkey != nullptr) return pkey;
  bio_ptr bio(pem);
  if (X509* cert = PEM_read_bio_X509(bio.b, nullptr, nullptr, nullptr)) {
    pkey = X509_get_pubkey(cert);
    X509_free(cert);
  }
  return pkey;
}

int no_passphrase(char*, int, int, void*) { return -1; }  // never prompt on a terminal

EVP_PKEY* load_private_pem(const std::string& pem) {
  bio_ptr bio(pem);
  return PEM_read_bio_PrivateKey(bio.b, nullptr, no_passphrase, nullptr);
}

void check_key_fits(jwt_algorithm alg, EVP_PKEY* pkey) {
  switch (alg) {
    case jwt_algorithm::rs256:
      // EVP_PKEY_is_a(.., "RSA") is false for RSA-PSS keys, which would force PSS padding.
      if (EVP_PKEY_is_a(pkey, "RSA") != 1) fail("RS256 needs an RSA key");
      if (EVP_PKEY_get_bits(pkey) < kRsaMinBits)
        fail("RS256 needs an RSA key of at least 2048 bits");
      return;
    case jwt_algorithm::es256: {
      if (EVP_PKEY_is_a(pkey, "EC") != 1) fail("ES256 needs an EC key");
      char name[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(pkey, name, sizeof name, &len) != 1)
        fail("ES256 needs a P-256 key");
      const int nid = OBJ_sn2nid(name) != NID_undef ? OBJ_sn2nid(name) : EC_curve_nist2nid(name);
      if (nid != NID_X9_62_prime256v1) fail("ES256 needs a P-256 key");
      return;
    }
    case jwt_algorithm::eddsa:
      if (EVP_PKEY_is_a(pkey, "ED25519") != 1) fail("EdDSA needs an Ed25519 key");
      return;
    case jwt_algorithm::hs256:
      return;
  }
}

// Raw r||s (JWS) -> DER ECDSA-Sig-Value (OpenSSL). Returns the DER length, 0 on failure.
std::size_t ec_raw_to_der(std::string_view raw, unsigned char (&der)[kMaxEcDer]) noexcept {
  if (raw.size() != 2 * kEs256Half) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, kEs256Half, nullptr);
  BIGNUM* s = BN_bin2bn(p + kEs256Half, kEs256Half, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return 0;
  }
  std::size_t out = 0;
  const int n = i2d_ECDSA_SIG(sig, nullptr);
  if (n > 0 && static_cast<std::size_t>(n) <= kMaxEcDer) {
    unsigned char* w = der;
    if (i2d_ECDSA_SIG(sig, &w) == n) out = static_cast<std::size_t>(n);
  }
  ECDSA_SIG_free(sig);
  return out;
}

// DER (OpenSSL) -> raw r||s (JWS), each left-padded to 32 bytes.
std::string ec_der_to_raw(const unsigned char* der, std::size_t len) {
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(len));
  if (sig == nullptr) fail("ES256 signing produced an unreadable signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string raw(2 * kEs256Half, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  const bool ok = BN_bn2binpad(r, out, kEs256Half) == static_cast<int>(kEs256Half) &&
                  BN_bn2binpad(s, out + kEs256Half, kEs256Half) == static_cast<int>(kEs256Half);
  ECDSA_SIG_free(sig);
  if (!ok) fail("ES256 signature does not fit P-256");
  return raw;
}

}  // namespace

namespace {

// RS256 and ES256 verification contexts, initialised once and reused. OpenSSL 3 fetches the
// signature implementation and builds a fresh context on every EVP_DigestVerifyInit, about a sixth
// of an RS256 verification here (bench/README.md, row 18); an initialised context verifies any
// number of digests with the same parameters (EVP_PKEY_verify(3)). A context serves one caller at a
// time, so callers take one from the pool and give it back.
//
// Thread-safety: shared by every thread verifying with the key; the mutex guards the idle list
// only.
class verify_ctx_pool {
 public:
  verify_ctx_pool() = default;
  verify_ctx_pool(const verify_ctx_pool&) = delete;
  verify_ctx_pool& operator=(const verify_ctx_pool&) = delete;
  ~verify_ctx_pool() {
    for (EVP_PKEY_CTX* c : idle_) EVP_PKEY_CTX_free(c);
  }

  // An idle context, or a new one for `pkey` (nullptr if OpenSSL fails).
  EVP_PKEY_CTX* take(EVP_PKEY* pkey, jwt_algorithm alg) {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        EVP_PKEY_CTX* c = idle_.back();
        idle_.pop_back();
        return c;
      }
    }
    EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    bool ok = c != nullptr && EVP_PKEY_verify_init(c) == 1 &&
              EVP_PKEY_CTX_set_signature_md(c, sha256_md()) == 1;
    if (ok && alg == jwt_algorithm::rs256) {
      ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
    }
    if (!ok) {
      EVP_PKEY_CTX_free(c);
      return nullptr;
    }
    return c;
  }

  // Back to the idle list; beyond kMaxIdle (more concurrent callers than ever again) it is freed.
  void give(EVP_PKEY_CTX* c) {
    {
      std::lock_guard lock(mu_);
      if (idle_.size() < kMaxIdle) {
        idle_.push_back(c);
        return;
      }
    }
    EVP_PKEY_CTX_free(c);
  }

 private:
  static constexpr std::size_t kMaxIdle = 16;
  std::mutex mu_;
  std::vector<EVP_PKEY_CTX*> idle_;
};

}  // namespace

struct jws_key::state {
  EVP_PKEY* pkey = nullptr;     // asymmetric algorithms
  EVP_MAC_CTX* hmac = nullptr;  // HS256: keyed once, duplicated per call (saves re-keying)
  bool can_sign = false;
  mutable verify_ctx_pool verifiers;  // RS256, ES256
  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() {
    EVP_PKEY_free(pkey);
    EVP_MAC_CTX_free(hmac);
  }

  bool hmac_sha256(std::string_view data, unsigned char (&out)[32]) const noexcept {
    EVP_MAC_CTX* c = EVP_MAC_CTX_dup(hmac);
    std::size_t n = 0;
    const bool ok =
        c != nullptr &&
        EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
        EVP_MAC_final(c, out, &n, sizeof out) == 1 && n == sizeof out;
    EVP_MAC_CTX_free(c);
    return ok;
  }
};

std::shared_ptr<const jws_key::state> jws_key::make_hmac_state(std::string_view secret) {
  if (secret.size() < kHs256MinSecret) fail("HS256 secret must be at least 32 bytes");
  // A PEM here means someone configured HS256 with a public key: anyone holding that public key
  // could then mint tokens. Refuse rather than guess.
  if (secret.find("-----BEGIN") != std::string_view::npos) {
    fail("HS256 secret looks like a PEM key; configure the matching asymmetric algorithm");
  }
  auto st = std::make_shared<state>();
  EVP_MAC* mac = hmac_alg();
  if (mac == nullptr || (st->hmac = EVP_MAC_CTX_new(mac)) == nullptr) fail("HMAC unavailable");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(st->hmac, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) != 1) {
    fail("HMAC key setup failed");
  }
  st->can_sign = true;
  return st;
}

jws_key jws_key::for_verify(jwt_algorithm alg, std::string_view key) {
  if (alg == jwt_algorithm::hs256) return jws_key(make_hmac_state(key), alg);
  const std::string pem = normalize_pem(key);
  if (pem.find("PRIVATE KEY") != std::string::npos) {
    fail("JWT verify key is a private key; give the public key");
  }
  auto st = std::make_shared<state>();
  st->pkey = load_public_pem(pem);
  if (st->pkey == nullptr) fail("JWT verify key is not a readable PEM public key or certificate");
  check_key_fits(alg, st->pkey);
  ERR_clear_error();  // failed decoder attempts leave entries behind
  return jws_key(std::move(st), alg);
}

jws_key jws_key::for_sign(jwt_algorithm alg, std::string_view key) {
  if (alg == jwt_algorithm::hs256) return jws_key(make_hmac_state(key), alg);
  auto st = std::make_shared<state>();
  st->pkey = load_private_pem(normalize_pem(key));
  if (st->pkey == nullptr) fail("JWT signing key is not a readable unencrypted PEM private key");
  check_key_fits(alg, st->pkey);
  st->can_sign = true;
  ERR_clear_error();
  return jws_key(std::move(st), alg);
}

bool jws_key::verify(std::string_view signing_input, std::string_view signature) const noexcept {
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  std::size_t sig_len = signature.size();
  if (alg_ == jwt_algorithm::hs256) {
    unsigned char mac[32];
    if (!s_->hmac_sha256(signing_input, mac)) {
      ERR_clear_error();
      return false;
    }
    return sig_len == sizeof mac && CRYPTO_memcmp(mac, sig, sizeof mac) == 0;
  }
  unsigned char der[kMaxEcDer];
  switch (alg_) {
    case jwt_algorithm::rs256:
      if (sig_len != static_cast<std::size_t>(EVP_PKEY_get_size(s_->pkey))) return false;
      break;
    case jwt_algorithm::es256:
      sig_len = ec_raw_to_der(signature, der);
      if (sig_len == 0) return false;
      sig = der;
      break;
    case jwt_algorithm::eddsa: {
      if (sig_len != 64) return false;
      // Ed25519 hashes internally (PureEdDSA): one-shot only, so no reusable context.
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      const bool ok = ctx != nullptr &&
                      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, s_->pkey) == 1 &&
                      EVP_DigestVerify(ctx, sig, sig_len, data, signing_input.size()) == 1;
      EVP_MD_CTX_free(ctx);
      // Leave no stale entries in this thread's error queue for TLS code that inspects it later.
      if (!ok) ERR_clear_error();
      return ok;
    }
    case jwt_algorithm::hs256:
      return false;
  }
  sha256_digest digest;
  try {
    digest = sha256(signing_input);
  } catch (const std::exception&) {  // only on allocation failure inside OpenSSL
    ERR_clear_error();
    return false;
  }
  EVP_PKEY_CTX* ctx = s_->verifiers.take(s_->pkey, alg_);
  const bool ok =
      ctx != nullptr && EVP_PKEY_verify(ctx, sig, sig_len, digest.data(), digest.size()) == 1;
  if (ok) {
    s_->verifiers.give(ctx);
  } else {
    // A failed verification may leave provider state behind; a bad token costs a fresh context.
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
  }
  return ok;
}

std::string jws_key::sign(std::string_view signing_input) const {
  if (!s_->can_sign) fail("this JWT key was loaded for verification only");
  if (alg_ == jwt_algorithm::hs256) {
    unsigned char mac[32];
    if (!s_->hmac_sha256(signing_input, mac)) fail("HMAC-SHA256 failed");
    return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
  }
  const EVP_MD* md = alg_ == jwt_algorithm::eddsa ? nullptr : sha256_md();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  std::string out;
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, &pctx, md, nullptr, s_->pkey) == 1;
  if (ok && alg_ == jwt_algorithm::rs256) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestSign(ctx, nullptr, &len, data, signing_input.size()) == 1;
  if (ok) {
    out.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, data,
                        signing_input.size()) == 1;
    out.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) fail("JWT signing failed");
  if (alg_ == jwt_algorithm::es256) {
    return ec_der_to_raw(reinterpret_cast<const unsigned char*>(out.data()), out.size());
  }
  return out;
}

}  // namespace herald::auth
