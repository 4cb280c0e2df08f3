#include "proxier/iptables/chain_names.h"

#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "absl/strings/match.h"

namespace kproxy::proxier::iptables {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// SHA-256 of the concatenated parts, then the first 16 base32 characters (= the first 10 bytes).
void HashInto(std::initializer_list<absl::string_view> parts, std::string& out) {
  // The one-shot SHA256() is the non-deprecated OpenSSL 3 entry point; concatenate on the stack.
  std::array<char, 512> stack_buffer;
  std::string heap_buffer;
  size_t total = 0;
  for (absl::string_view part : parts) total += part.size();
  char* buffer = stack_buffer.data();
  if (total > stack_buffer.size()) {
    heap_buffer.resize(total);
    buffer = heap_buffer.data();
  }
  size_t offset = 0;
  for (absl::string_view part : parts) {
    std::memcpy(buffer + offset, part.data(), part.size());
    offset += part.size();
  }
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(buffer), total, digest.data());
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

bool IsServiceChainName(absl::string_view chain) {
  for (absl::string_view prefix : {"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"}) {
    if (absl::StartsWith(chain, prefix)) return true;
  }
  return false;
}

}  // namespace kproxy::proxier::iptables
