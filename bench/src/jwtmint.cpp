// herald-jwtmint: pre-mints RS256 JWTs for the connect scenario (every connect uses a fresh token,
// so a verified-token cache cannot help). Claims: sub (round-robin over --sub-file lines or --sub),
// tenant_id, iat, exp = iat + --ttl, jti = a unique number, plus an optional raw JSON fragment
// (--extra '"typ":"access"'). Signing is the slow part (about 2,500 RSA-2048 signatures/s per
// core), so --threads splits the work.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <iostream>
#include <thread>

#include "common.hpp"

using namespace bench;

namespace {

std::string b64url(const unsigned char* p, std::size_t n) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8) | p[i + 2];
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t(p[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
  }
  return out;
}
std::string b64url(std::string_view s) {
  return b64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::puts(
        "herald-jwtmint --key priv.pem --tenant T (--sub U | --sub-file F) [--count N] [--ttl S] "
        "[--threads 2]\n"
        "               [--extra '\"typ\":\"access\"'] [--kid K] [--out FILE]\n"
        "  prints N RS256 JWTs, one per line");
    return 0;
  }
  args a(argc, argv,
         {"key", "tenant", "sub", "sub-file", "count", "ttl", "threads", "extra", "kid", "out",
          "start"});
  std::vector<std::string> subs;
  if (a.has("sub-file")) {
    std::ifstream f(a.str("sub-file"));
    std::string l;
    while (std::getline(f, l))
      if (!l.empty()) subs.push_back(l);
  }
  if (a.has("sub")) subs.push_back(a.str("sub"));
  if (subs.empty() || !a.has("key") || !a.has("tenant")) {
    std::fprintf(stderr, "jwtmint: --key, --tenant and --sub/--sub-file are required\n");
    return 2;
  }
  FILE* kf = std::fopen(a.str("key").c_str(), "r");
  if (!kf) {
    std::perror("jwtmint: key");
    return 1;
  }
  EVP_PKEY* pkey = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
  std::fclose(kf);
  if (!pkey) {
    std::fprintf(stderr, "jwtmint: cannot read private key\n");
    return 1;
  }

  const long long count = a.integer("count", 1000);
  const long long ttl = a.integer("ttl", 7200);
  const long long start = a.integer("start", 0);
  const int threads = int(std::max<long long>(1, a.integer("threads", 2)));
  const std::string tenant = a.str("tenant"), extra = a.str("extra", ""), kid = a.str("kid", "");
  std::string header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"";
  if (!kid.empty()) header += ",\"kid\":\"" + kid + "\"";
  header += "}";
  const std::string h64 = b64url(header);
  const long long now = (long long)std::time(nullptr);

  std::vector<std::string> tokens(static_cast<std::size_t>(count));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  std::atomic<bool> failed{false};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      for (long long i = t; i < count; i += threads) {
        long long n = start + i;
        std::string claims = "{\"sub\":\"" + subs[std::size_t(n) % subs.size()] +
                             "\",\"tenant_id\":\"" + tenant + "\",\"iat\":" + std::to_string(now) +
                             ",\"exp\":" + std::to_string(now + ttl) + ",\"jti\":\"bench-" +
                             std::to_string(now) + "-" + std::to_string(n) + "\"";
        if (!extra.empty()) claims += "," + extra;
        claims += "}";
        std::string signing_input = h64 + "." + b64url(claims);
        unsigned char sig[1024];
        std::size_t siglen = sizeof sig;
        if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) != 1 ||
            EVP_DigestSign(ctx, sig, &siglen,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()) != 1) {
          failed = true;
          break;
        }
        tokens[std::size_t(i)] = signing_input + "." + b64url(sig, siglen);
      }
      EVP_MD_CTX_free(ctx);
    });
  }
  for (auto& th : pool) th.join();
  EVP_PKEY_free(pkey);
  if (failed) {
    std::fprintf(stderr, "jwtmint: signing failed\n");
    return 1;
  }
  std::ofstream file;
  std::ostream* os = &std::cout;
  if (a.has("out")) {
    file.open(a.str("out"));
    os = &file;
  }
  for (auto& t : tokens) *os << t << '\n';
  return 0;
}
