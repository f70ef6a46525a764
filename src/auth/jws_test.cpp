// Known-answer tests for the JWS primitives, from RFC 7515 appendix A and RFC 8037 appendix A, plus
// the key checks done at start-up.
#include "auth/jws.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "auth/encoding.hpp"
#include "auth/test_keys.hpp"

namespace herald::auth {
namespace {

using testing::key_pair;

std::string b64d(std::string_view s) {
  auto d = base64url_decode(s);
  if (!d) throw std::invalid_argument("bad base64url in test vector");
  return *d;
}

// RFC 7515 A.1-A.3 share this payload: {"iss":"joe",\r\n "exp":1300819380,\r\n
// "http://example.com/is_root":true}
constexpr std::string_view kRfcPayload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q";

// RFC 7515 A.2 RSA key (JWK members).
constexpr std::string_view kRsaN =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
    "4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-"
    "yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-"
    "bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-"
    "KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-"
    "DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr std::string_view kRsaE = "AQAB";
constexpr std::string_view kRsaD =
    "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-"
    "7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-"
    "GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_"
    "V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_"
    "jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
constexpr std::string_view kRsaP =
    "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_"
    "Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
constexpr std::string_view kRsaQ =
    "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_"
    "YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";
constexpr std::string_view kRsaDp =
    "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-"
    "FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0";
constexpr std::string_view kRsaDq =
    "h_96-mK1R_"
    "7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-"
    "NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU";
constexpr std::string_view kRsaQi =
    "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_"
    "QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U";

struct param_builder {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::vector<BIGNUM*> bns;
  ~param_builder() {
    OSSL_PARAM_BLD_free(bld);
    for (BIGNUM* b : bns) BN_free(b);
  }
  void bn(const char* name, std::string_view b64) {
    const std::string raw = b64d(b64);
    BIGNUM* b = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()), nullptr);
    bns.push_back(b);
    OSSL_PARAM_BLD_push_BN(bld, name, b);
  }
};

EVP_PKEY* from_params(const char* type, int selection, param_builder& pb) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(pb.bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) {
    pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

key_pair rfc7515_rsa() {
  param_builder pb;
  pb.bn(OSSL_PKEY_PARAM_RSA_N, kRsaN);
  pb.bn(OSSL_PKEY_PARAM_RSA_E, kRsaE);
  pb.bn(OSSL_PKEY_PARAM_RSA_D, kRsaD);
  pb.bn(OSSL_PKEY_PARAM_RSA_FACTOR1, kRsaP);
  pb.bn(OSSL_PKEY_PARAM_RSA_FACTOR2, kRsaQ);
  pb.bn(OSSL_PKEY_PARAM_RSA_EXPONENT1, kRsaDp);
  pb.bn(OSSL_PKEY_PARAM_RSA_EXPONENT2, kRsaDq);
  pb.bn(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, kRsaQi);
  return testing::pem_pair(from_params("RSA", EVP_PKEY_KEYPAIR, pb));
}

key_pair rfc7515_ec() {
  const std::string point = "\x04" + b64d("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU") +
                            b64d("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
  param_builder pb;
  char group[] = "P-256";
  OSSL_PARAM_BLD_push_utf8_string(pb.bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(pb.bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  pb.bn(OSSL_PKEY_PARAM_PRIV_KEY, "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
  return testing::pem_pair(from_params("EC", EVP_PKEY_KEYPAIR, pb));
}

key_pair rfc8037_ed25519() {
  const std::string seed = b64d("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
  return testing::pem_pair(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
}

TEST(jws_rfc_vectors, hs256_rfc7515_a1_verifies_and_signs_identically) {
  const std::string key = b64d(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  const std::string input =
      std::string("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.") + std::string(kRfcPayload);
  const std::string sig = b64d("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  const jws_key k = jws_key::for_verify(jwt_algorithm::hs256, key);
  EXPECT_TRUE(k.verify(input, sig));
  EXPECT_EQ(k.sign(input), sig);
  EXPECT_FALSE(k.verify(input + "x", sig));
}

TEST(jws_rfc_vectors, rs256_rfc7515_a2_verifies_and_signs_identically) {
  const key_pair kp = rfc7515_rsa();
  const std::string input = "eyJhbGciOiJSUzI1NiJ9." + std::string(kRfcPayload);
  const std::string sig = b64d(
      "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
      "O8W2Fp5jujGb"
      "ds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
      "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0G"
      "arZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
      "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6Lb"
      "gGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw");
  EXPECT_TRUE(jws_key::for_verify(jwt_algorithm::rs256, kp.public_pem).verify(input, sig));
  // PKCS#1 v1.5 is deterministic, so our signature must be byte-identical to the RFC's.
  EXPECT_EQ(jws_key::for_sign(jwt_algorithm::rs256, kp.private_pem).sign(input), sig);
}

TEST(jws_rfc_vectors, es256_rfc7515_a3_verifies_raw_r_s_signature) {
  const key_pair kp = rfc7515_ec();
  const std::string input = "eyJhbGciOiJFUzI1NiJ9." + std::string(kRfcPayload);
  const std::string sig = b64d(
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  const jws_key verifier = jws_key::for_verify(jwt_algorithm::es256, kp.public_pem);
  EXPECT_TRUE(verifier.verify(input, sig));
  // ECDSA is randomised: check our raw r||s output by verifying it, and its fixed length.
  const std::string ours = jws_key::for_sign(jwt_algorithm::es256, kp.private_pem).sign(input);
  EXPECT_EQ(ours.size(), 64u);
  EXPECT_TRUE(verifier.verify(input, ours));
  std::string tampered = sig;
  tampered[10] ^= 1;
  EXPECT_FALSE(verifier.verify(input, tampered));
  EXPECT_FALSE(verifier.verify(input, sig.substr(0, 63)));
  EXPECT_FALSE(verifier.verify(input, sig + '\0'));
}

TEST(jws_rfc_vectors, eddsa_rfc8037_a4_verifies_and_signs_identically) {
  const key_pair kp = rfc8037_ed25519();
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const std::string sig = b64d(
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  EXPECT_TRUE(jws_key::for_verify(jwt_algorithm::eddsa, kp.public_pem).verify(input, sig));
  EXPECT_EQ(jws_key::for_sign(jwt_algorithm::eddsa, kp.private_pem).sign(input), sig);
}

TEST(jws_keys, keys_that_do_not_fit_the_algorithm_are_refused) {
  const auto& rsa = testing::keys_for(jwt_algorithm::rs256);
  const auto& ec = testing::keys_for(jwt_algorithm::es256);
  const auto& ed = testing::keys_for(jwt_algorithm::eddsa);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, ec.public_pem), std::runtime_error);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::es256, rsa.public_pem), std::runtime_error);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::eddsa, rsa.public_pem), std::runtime_error);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, ed.public_pem), std::runtime_error);
  EXPECT_THROW(jws_key::for_sign(jwt_algorithm::es256, ed.private_pem), std::runtime_error);

  const key_pair small =
      testing::pem_pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, small.public_pem), std::runtime_error);
  const key_pair p384 = testing::pem_pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::es256, p384.public_pem), std::runtime_error);
}

TEST(jws_keys, unusable_inputs_are_refused) {
  const auto& rsa = testing::keys_for(jwt_algorithm::rs256);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, ""), std::runtime_error);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, "not a pem"), std::runtime_error);
  EXPECT_THROW(jws_key::for_sign(jwt_algorithm::rs256, rsa.public_pem), std::runtime_error);
  // A private key where the public one belongs is a deployment mistake worth stopping.
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::rs256, rsa.private_pem), std::runtime_error);
  // HS256: short secrets, and PEM documents (the alg-confusion setup) are refused.
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::hs256, "short-secret"), std::runtime_error);
  EXPECT_THROW(jws_key::for_verify(jwt_algorithm::hs256, rsa.public_pem), std::runtime_error);
  EXPECT_NO_THROW(jws_key::for_verify(jwt_algorithm::hs256,
                                      "insecure-testing-jwt-signing-key-do-not-use-in-prod"));
}

TEST(jws_keys, error_messages_never_contain_key_material) {
  const std::string secret = "-----BEGIN sup3r-s3cret-value-that-must-not-leak";
  try {
    (void)jws_key::for_verify(jwt_algorithm::hs256, secret);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("sup3r"), std::string::npos);
  }
}

TEST(jws_keys, one_line_pem_with_literal_newlines_is_accepted) {
  const auto& rsa = testing::keys_for(jwt_algorithm::rs256);
  std::string one_line;
  for (char c : rsa.public_pem) one_line += c == '\n' ? std::string("\\n") : std::string(1, c);
  ASSERT_EQ(one_line.find('\n'), std::string::npos);
  const jws_key k = jws_key::for_verify(jwt_algorithm::rs256, one_line);
  const std::string sig = jws_key::for_sign(jwt_algorithm::rs256, rsa.private_pem).sign("x.y");
  EXPECT_TRUE(k.verify("x.y", sig));
}

TEST(jws_keys, pkcs1_rsa_public_key_and_certificate_forms_load) {
  const auto& rsa = testing::keys_for(jwt_algorithm::rs256);
  BIO* in = BIO_new_mem_buf(rsa.private_pem.data(), static_cast<int>(rsa.private_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(pkey, nullptr);
  // PKCS#1 "RSA PUBLIC KEY" through the encoder API.
  BIO* out = BIO_new(BIO_s_mem());
  OSSL_ENCODER_CTX* ectx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", nullptr);
  ASSERT_EQ(OSSL_ENCODER_to_bio(ectx, out), 1);
  OSSL_ENCODER_CTX_free(ectx);
  const std::string pkcs1 = testing::bio_to_string(out);
  BIO_free(out);
  EXPECT_NE(pkcs1.find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  const std::string sig = jws_key::for_sign(jwt_algorithm::rs256, rsa.private_pem).sign("a.b");
  EXPECT_TRUE(jws_key::for_verify(jwt_algorithm::rs256, pkcs1).verify("a.b", sig));

  // A self-signed certificate carrying the key.
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, pkey);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("herald-test"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  ASSERT_GT(X509_sign(cert, pkey, EVP_sha256()), 0);
  out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(out, cert);
  const std::string cert_pem = testing::bio_to_string(out);
  BIO_free(out);
  X509_free(cert);
  EVP_PKEY_free(pkey);
  EXPECT_TRUE(jws_key::for_verify(jwt_algorithm::rs256, cert_pem).verify("a.b", sig));
}

// RS256 and ES256 verifiers reuse initialised OpenSSL contexts across calls and threads: a reused
// context must answer for the signature in front of it, whatever it verified before.
TEST(jws_keys, reused_verification_contexts_answer_each_call_on_its_own) {
  for (jwt_algorithm alg : {jwt_algorithm::rs256, jwt_algorithm::es256}) {
    const key_pair& kp = testing::keys_for(alg);
    const jws_key signer = jws_key::for_sign(alg, kp.private_pem);
    const jws_key verifier = jws_key::for_verify(alg, kp.public_pem);
    std::vector<std::string> inputs, sigs;
    for (int i = 0; i < 4; ++i) {
      inputs.push_back("header.payload-" + std::to_string(i));
      sigs.push_back(signer.sign(inputs.back()));
    }
    std::atomic<int> wrong{0};
    auto work = [&](int seed) {
      for (int round = 0; round < 50; ++round) {
        const std::size_t i = static_cast<std::size_t>(seed + round) % inputs.size();
        const std::size_t j = (i + 1) % inputs.size();
        std::string tampered = sigs[i];
        tampered[5] ^= 1;
        if (!verifier.verify(inputs[i], sigs[i])) ++wrong;  // right after a failure, below
        if (verifier.verify(inputs[i], sigs[j])) ++wrong;   // another input's signature
        if (verifier.verify(inputs[i], tampered)) ++wrong;  // one bit off
        if (!verifier.verify(inputs[j], sigs[j])) ++wrong;
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) threads.emplace_back(work, t);
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0) << static_cast<int>(alg);
  }
}

}  // namespace
}  // namespace herald::auth
