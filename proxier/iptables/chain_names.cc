#include "proxier/iptables/chain_names.h"

// The low-level SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP, but EVP's one-shot
// digests fetch the algorithm under a lock on every call, which dominates planning 100k endpoints.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace kproxy::proxier::iptables {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// SHA-256 of the concatenated parts, then the first 16 base32 characters (= the first 10 bytes).
void HashInto(std::initializer_list<absl::string_view> parts, std::string& out) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (absl::string_view part : parts) SHA256_Update(&ctx, part.data(), part.size());
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest;
  SHA256_Final(digest.data(), &ctx);
  // 10 bytes = 80 bits = 16 groups of 5 bits; process as two 40-bit blocks.
  for (int block = 0; block < 2; ++block) {
    uint64_t bits = 0;
    for (int i = 0; i < 5; ++i) bits = (bits << 8) | digest[block * 5 + i];
    for (int i = 7; i >= 0; --i) out.push_back(kBase32Alphabet[(bits >> (i * 5)) & 0x1f]);
  }
}

}  // namespace

std::string PortProtoHash(absl::string_view service_port_name, absl::string_view protocol) {
  std::string out;
  out.reserve(16);
  HashInto({service_port_name, protocol}, out);
  return out;
}

std::string EndpointChainName(absl::string_view service_port_name, absl::string_view protocol,
                              absl::string_view endpoint) {
  std::string out;
  out.reserve(25);
  out.append("KUBE-SEP-");
  HashInto({service_port_name, protocol, endpoint}, out);
  return out;
}

}  // namespace kproxy::proxier::iptables
