// IpAddress and Cidr: parsed, comparable, hashable IPv4/IPv6 values used everywhere in the model.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace kproxy::proxier {

enum class IpFamily : uint8_t { kIPv4 = 4, kIPv6 = 6 };

// "IPv4" / "IPv6", as the API spells ipFamilies.
absl::string_view IpFamilyName(IpFamily family);

class IpAddress {
 public:
  IpAddress() = default;
  // Accepts the canonical textual forms (dotted quad, RFC 5952 and other inet_pton forms).
  // IPv4-mapped IPv6 ("::ffff:1.2.3.4") is rejected: the API never stores it.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress FromV4Bytes(const uint8_t bytes[4]);
  static IpAddress FromV6Bytes(const uint8_t bytes[16]);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kIPv4; }
  // IPv4 uses the first 4 bytes, the rest are zero.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  bool IsLoopback() const;
  bool IsUnspecified() const;

  // Canonical form: "10.0.0.1", "fd00::1".
  std::string ToString() const;
  // Appends the canonical form to `out` (IPv4 without inet_ntop's sprintf: planners format
  // hundreds of thousands of addresses per full sync).
  void AppendTo(std::string& out) const;
  // "10.0.0.1:80", "[fd00::1]:80".
  std::string JoinPort(int port) const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family_, a.bytes_);
  }

 private:
  IpFamily family_ = IpFamily::kIPv4;
  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  Cidr() = default;
  // "10.0.0.0/8", "fd00::/64"; a bare address is not a CIDR. Host bits are masked off.
  // Surrounding whitespace is trimmed, as upstream does for loadBalancerSourceRanges.
  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  // The single-address prefix (/32 or /128).
  static Cidr Host(const IpAddress& ip);

  const IpAddress& address() const { return address_; }
  int prefix_length() const { return prefix_length_; }
  IpFamily family() const { return address_.family(); }
  bool Contains(const IpAddress& ip) const;
  // True for 0.0.0.0/0 and ::/0.
  bool IsAllAddresses() const { return prefix_length_ == 0; }
  std::string ToString() const;

  friend auto operator<=>(const Cidr&, const Cidr&) = default;
  friend bool operator==(const Cidr&, const Cidr&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Cidr& c) {
    return H::combine(std::move(h), c.address_, c.prefix_length_);
  }

 private:
  IpAddress address_;
  int prefix_length_ = 0;
};

}  // namespace kproxy::proxier
