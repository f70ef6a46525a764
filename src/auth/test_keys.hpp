// Test-only helpers: throwaway keys generated at test time (no key material is committed).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "auth/auth_config.hpp"
#include "auth/encoding.hpp"

namespace herald::auth::testing {

struct key_pair {
  std::string private_pem;  // or the HS256 secret
  std::string public_pem;   // or the HS256 secret
};

inline std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

inline key_pair pem_pair(EVP_PKEY* pkey) {
  if (pkey == nullptr) throw std::runtime_error("test key generation failed");
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, pkey);
  key_pair kp{bio_to_string(priv), bio_to_string(pub)};
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(pkey);
  return kp;
}

inline key_pair generate(jwt_algorithm alg) {
  switch (alg) {
    case jwt_algorithm::rs256:
      return pem_pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    case jwt_algorithm::es256:
      return pem_pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case jwt_algorithm::eddsa:
      return pem_pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    case jwt_algorithm::hs256: {
      unsigned char b[32];
      RAND_bytes(b, sizeof b);
      std::string s = base64url_encode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
      return key_pair{s, s};
    }
  }
  throw std::logic_error("unknown algorithm");
}

// One key pair per algorithm per test process (RSA generation is slow under sanitizers).
inline const key_pair& keys_for(jwt_algorithm alg) {
  static std::mutex mu;
  static std::map<jwt_algorithm, key_pair> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(alg);
  if (it == cache.end()) it = cache.emplace(alg, generate(alg)).first;
  return it->second;
}

}  // namespace herald::auth::testing
